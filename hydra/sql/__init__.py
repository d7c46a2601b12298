"""hydra's named queries (``status.sql``): read-only views of the production tables, which come with hygor's
migrations."""

from __future__ import annotations

from hygor.sql import named_queries


def status_query(name: str) -> str:
    return named_queries(__package__, "status.sql")[name]
