"""hydra's named queries: read-only views of the production tables, which come with hygor's migrations."""

from __future__ import annotations

from hygor.sql import named_queries


def status_query(name: str) -> str:
    """``status.sql``: the job queue as ``hesp status`` and ``/metrics`` report it."""
    return named_queries(__package__, "status.sql")[name]


def dashboard_query(name: str) -> str:
    """``dashboard.sql``: what the dashboard shows beside the status (products of a tile, recent failures)."""
    return named_queries(__package__, "dashboard.sql")[name]


def runs_query(name: str) -> str:
    """``runs.sql``: the jobs' runs and their durations, for capacity analyses."""
    return named_queries(__package__, "runs.sql")[name]
