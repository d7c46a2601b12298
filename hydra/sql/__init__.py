"""hydra's named queries (``catalogue.sql``): read-only views of the catalogue's tables. Production's state is
read through hymotep's API, never its tables."""

from __future__ import annotations

from hygor.sql import named_queries


def catalogue_query(name: str) -> str:
    """``catalogue.sql``: items per collection (``/metrics``) and the products of a tile (the dashboard)."""
    return named_queries(__package__, "catalogue.sql")[name]
