"""GET filters are checked against the CQL2 schema once per shape (``hygor.api.responses``): the values that
portals vary (a tile's code, a cloud cover) cost no second check, and what is invalid stays refused."""

from __future__ import annotations

import math
from typing import Any

import pytest
from cql2 import Expr
from fastapi import HTTPException

from hygor.api import responses
from hygor.api.caches import TtlCache
from hygor.api.responses import checked_filter


class CountedExpr:
    """cql2's ``Expr``, counting the schema checks."""

    checks = 0

    def __init__(self, value: Any) -> None:
        self._expr = Expr(value)

    def validate(self) -> None:
        CountedExpr.checks += 1
        self._expr.validate()

    def to_json(self) -> Any:
        return self._expr.to_json()


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> type[CountedExpr]:
    monkeypatch.setattr(responses, "Expr", CountedExpr)
    monkeypatch.setattr(responses, "VALID_SHAPES", TtlCache(1024, math.inf))
    responses._checked.cache_clear()
    CountedExpr.checks = 0
    return CountedExpr


def test_filters_of_one_shape_are_checked_once(counted: type[CountedExpr]) -> None:
    tiles = [f'"grid:code" = \'MGRS-31T{c}J\' AND "eo:cloud_cover" < {n}' for n, c in enumerate("ABCDEF")]
    answers = [checked_filter(text, "cql2-text") for text in tiles]
    assert counted.checks == 1
    assert [a[0]["args"][0]["args"][1] for a in answers] == [f"MGRS-31T{c}J" for c in "ABCDEF"]
    checked_filter("\"grid:code\" = 'MGRS-31TCJ' AND \"eo:cloud_cover\" < 'forty'", "cql2-text")
    checked_filter('"hesp:valid" = true', "cql2-text")
    assert counted.checks == 3


@pytest.mark.parametrize(
    "invalid",
    [
        '{"op": "t_after", "args": [{"property": "datetime"}, {"timestamp": "yesterday"}]}',
        '{"op": "t_after", "args": [{"property": "datetime"}, "2022-01-01T00:00:00Z"]}',
        '{"op": "t_during", "args": [{"property": "datetime"}, {"interval": ["2022-01-01", "soon"]}]}',
        '{"op": "=", "args": [{"property": "grid:code"}]}',
    ],
)
def test_invalid_filters_stay_refused_after_valid_ones_of_their_kind(counted: type[CountedExpr], invalid: str) -> None:
    for valid in (
        '{"op": "t_after", "args": [{"property": "datetime"}, {"timestamp": "2022-01-01T00:00:00Z"}]}',
        '{"op": "t_during", "args": [{"property": "datetime"}, {"interval": ["2022-01-01", "2022-02-01"]}]}',
        '{"op": "=", "args": [{"property": "grid:code"}, "MGRS-31TCJ"]}',
    ):
        checked_filter(valid, "cql2-json")
    with pytest.raises(HTTPException) as refused:
        checked_filter(invalid, "cql2-json")
    assert refused.value.status_code == 400
    with pytest.raises(HTTPException):
        checked_filter(invalid, "cql2-json")  # an invalid filter is never kept
