"""The production workshop's named queries (``queries.sql``, ``decisions.sql``, ``gaps.sql``, ``queue.sql``,
``queue_status.sql``, ``campaigns.sql``, ``run.sql``, ``storage.sql``, ``watch.sql``, ``history.sql``) and its
migrations (``migrations/``, see ``hymotep.migrations``)."""

from __future__ import annotations

from hygor.sql import named_queries


def query(name: str) -> str:
    return named_queries(__package__)[name]


def gaps_query(name: str) -> str:
    return named_queries(__package__, "gaps.sql")[name]


def queue_query(name: str) -> str:
    return named_queries(__package__, "queue.sql")[name]


def queue_status_query(name: str) -> str:
    return named_queries(__package__, "queue_status.sql")[name]


def run_query(name: str) -> str:
    return named_queries(__package__, "run.sql")[name]


def storage_query(name: str) -> str:
    return named_queries(__package__, "storage.sql")[name]


def decisions_query(name: str) -> str:
    return named_queries(__package__, "decisions.sql")[name]


def watch_query(name: str) -> str:
    return named_queries(__package__, "watch.sql")[name]


def history_query(name: str) -> str:
    return named_queries(__package__, "history.sql")[name]


def campaign_query(name: str) -> str:
    return named_queries(__package__, "campaigns.sql")[name]
