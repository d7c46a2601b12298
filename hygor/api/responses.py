"""The API's large JSON answers written by orjson, and its CQL2 filters checked once per process.

Two costs stac-fastapi leaves in every search, whichever way it is answered:

- FastAPI copies a returned dict value by value through ``jsonable_encoder`` and encodes it with the standard
  library: on a page of hydrated items (50 MAJA L2A items are about 2 MB, their collection's asset descriptions
  merged into each) that is most of a request's time. A ``Response`` returned by the client skips both.
- stac-fastapi-pgstac checks a filter against the CQL2 schema (``cql2.Expr.validate``) on every request, some
  20 ms. Portals send the same few filters again and again, with other values: a tile's code, a cloud cover. So a
  filter is checked once per shape: its JSON with the scalars that are operands of an operator made blank. The
  schema constrains such operands by type only (a string's content matters inside ``{"timestamp": ...}``,
  ``{"date": ...}`` or ``{"interval": [...]}``, which stay as they are), so filters of one shape are all valid
  or all invalid; an invalid one is never kept, and each is checked again.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import orjson
from cql2 import Expr
from fastapi import HTTPException, Response
from fastapi.responses import JSONResponse

from hygor.api.caches import TtlCache

GEOJSON = "application/geo+json"
JSON = "application/json"
VALID_SHAPES: TtlCache[bytes, bool] = TtlCache(1024, math.inf)  # the shapes of filters found valid


class OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def answer(content: Any, media_type: str = GEOJSON) -> Response:
    """``content`` as a response, unless it already is one (stac-fastapi's answers with ``fields``)."""
    return content if isinstance(content, Response) else OrjsonResponse(content, media_type=media_type)


def checked_filter(text: str, lang: str | None) -> tuple[dict[str, Any], str | None]:
    """A GET filter as stac-fastapi-pgstac's ``clean_search_args`` reads it: (CQL2 JSON, its language), or 400."""
    try:
        checked, lang = _checked(text, lang)
    except Exception as exc:  # cql2 raises a bare Exception on parse errors, as stac-fastapi-pgstac notes
        raise HTTPException(status_code=400, detail=f"Invalid filter: {exc}") from exc
    return orjson.loads(checked), lang


@lru_cache(maxsize=1024)
def _checked(text: str, lang: str | None) -> tuple[bytes, str | None]:
    document = Expr(text).to_json() if lang == "cql2-text" else orjson.loads(text)
    _validated(orjson.dumps(shape(document), option=orjson.OPT_SORT_KEYS), document)
    return orjson.dumps(document), "cql2-json" if lang == "cql2-text" else lang


def _validated(filter_shape: bytes, document: Any) -> None:
    """``document`` checked against the CQL2 schema, unless a filter of its shape was found valid already."""
    if not VALID_SHAPES.get(filter_shape):
        Expr(document).validate()
        VALID_SHAPES.put(filter_shape, True)


def shape(node: Any) -> Any:
    """A CQL2 JSON filter with the strings and numbers among operators' ``args`` made blank."""
    if isinstance(node, dict):
        return {
            key: [blank(arg) for arg in value] if key == "args" and isinstance(value, list) else shape(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [shape(item) for item in node]
    return node


def blank(arg: Any) -> Any:
    if isinstance(arg, bool) or arg is None:
        return arg
    if isinstance(arg, str):
        return ""
    if isinstance(arg, int | float):
        return 0
    return shape(arg)
