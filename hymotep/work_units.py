"""Gaps: what the requests expect of each produced collection and its state, computed in PostgreSQL.

Expected units of work are derived, never stored: for a per-acquisition chain, every acquisition of its source
collection on a requested tile and date; for a per-period chain, every tile and period with inputs. One query
per collection (``sql/gaps.sql``) joins them with the inventory of products, the upstream products, the
auxiliary inputs and the jobs, and gives each unit a state:

- ``done``: a valid product of the requested chain version (or newer) exists;
- ``invalid``: done but legitimately empty (too cloudy), or nothing can be made (empty input): not a gap;
- ``queued``, ``running``, ``failed``: a job of the requested version speaks for it;
- ``blocked``: an input is missing (no CAMS for the date, no L2A yet, the period is not over, the previous
  acquisition of a multi-temporal series is still to do);
- ``outdated``: made by an older chain version: to reprocess;
- ``runnable``: everything is there.

Rows stream from server-side cursors, so a list of millions is never held in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal, get_args

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from hygor.db import translate_errors
from hymotep.chains import ChainDefinition, downstream, primary_path
from hymotep.requests import HymotepError
from hymotep.sql import gaps_query

State = Literal["runnable", "blocked", "queued", "running", "failed", "outdated", "invalid", "done"]
STATES: tuple[State, ...] = get_args(State)
GAP_STATES: tuple[State, ...] = ("runnable", "blocked", "queued", "running", "failed", "outdated")
COLUMNS = (
    "collection", "tile", "slot", "acquired", "period_end", "input", "state", "reason", "mode", "job", "attempts",
    "priority",
)  # fmt: skip
BATCH = 5000  # rows fetched from the server at a time
UTC_SESSION = "SET TIME ZONE 'UTC'"  # dates of units are UTC dates, and times are written in UTC

Connection = psycopg.Connection[Any]


class GapError(HymotepError):
    """A gap query is invalid."""


@dataclass(frozen=True)
class GapFilter:
    """Which gaps: any filter left empty keeps everything. ``states`` defaults to the gaps (not done/invalid)."""

    collections: Sequence[str] = ()
    requests: Sequence[str] = ()
    tiles: Sequence[str] = ()
    since: date | None = None
    until: date | None = None
    states: Sequence[State] = GAP_STATES
    chain_version: str | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class CollectionQuery:
    """The gap query of one collection and its parameters."""

    collection: str
    statement: sql.Composed
    params: dict[str, Any]


def plan_queries(chains: dict[str, ChainDefinition], wanted: GapFilter) -> list[CollectionQuery]:
    """One query per selected produced collection, upstream collections first."""
    unknown = sorted(set(wanted.collections) - set(chains))
    if unknown:
        raise GapError(f"not a produced collection: {', '.join(unknown)} (known: {', '.join(sorted(chains))})")
    check_states(wanted.states)
    selected = list(wanted.collections) or sorted(chains)
    if wanted.chain_version is not None and len(selected) != 1:
        raise GapError("a chain version applies to one collection: give exactly one --collection with it")
    if wanted.since and wanted.until and wanted.since > wanted.until:
        raise GapError(f"--since {wanted.since} is after --until {wanted.until}")
    selected.sort(key=lambda c: (len(primary_path(chains, c)), c))
    return [_collection_query(chains, c, wanted) for c in selected]


def check_states(states: Sequence[str]) -> None:
    unknown = sorted(set(states) - set(STATES))
    if unknown:
        raise GapError(f"unknown state: {', '.join(unknown)} (known: {', '.join(STATES)})")


def _collection_query(chains: dict[str, ChainDefinition], collection: str, wanted: GapFilter) -> CollectionQuery:
    chain = chains[collection]
    path = primary_path(chains, collection)
    dependencies = chain.dependencies
    params: dict[str, Any] = {
        "collection": collection,
        "version": wanted.chain_version or chain.version,
        "wanted_by": downstream(chains, collection),
        "requests": list(wanted.requests) or None,
        "tiles": list(wanted.tiles) or None,
        "since": wanted.since,
        "until": wanted.until,
        "source": path[-1],
        "primary": path[1],
        "path": path[1:-1],  # the produced collections between this one and the source
        "static": chain.auxiliary("static"),
        "daily": chain.auxiliary("same-day"),
        "history_days": 0,
    }
    if chain.unit == "per-period":
        units = gaps_query("period_units")
        params |= {"period": chain.period, "min_valid": chain.min_valid_inputs, "now": wanted.now}
    else:
        units = gaps_query("acquisition_units")
    if dependencies is None:
        wrapper = gaps_query("units_only")
    else:
        wrapper = gaps_query("series_modes")
        earlier = dependencies.earlier_limit
        params |= {
            "limit_days": dependencies.previous_valid_within_days,
            "earlier_until": earlier.until if earlier else None,
            "earlier_days": earlier.days if earlier else None,
            "backward": dependencies.init_backward_count,
            "history_days": max(dependencies.previous_valid_within_days, earlier.days if earlier else 0),
        }
    statement = sql.SQL(wrapper).format(units=sql.SQL(units))  # trusted query text, never user input
    return CollectionQuery(collection, sql.SQL("SELECT * FROM ({}) AS gap").format(statement), params)


def _filtered(query: CollectionQuery, wanted: GapFilter, *, ordered: bool) -> tuple[sql.Composed, dict[str, Any]]:
    statement = sql.SQL("SELECT {}::text AS collection, g.* FROM ({}) AS g WHERE g.state = ANY({})").format(
        sql.Placeholder("collection"), query.statement, sql.Placeholder("states")
    )
    if ordered:
        statement = statement + sql.SQL(" ORDER BY g.tile, g.slot")
    return statement, {**query.params, "states": list(wanted.states)}


def iter_gaps(conn: Connection, chains: dict[str, ChainDefinition], wanted: GapFilter) -> Iterator[dict[str, Any]]:
    """The units in ``wanted.states``, one dict per unit (``COLUMNS``), by collection, tile and time."""
    queries = plan_queries(chains, wanted)
    conn.execute(UTC_SESSION)
    for query in queries:
        statement, params = _filtered(query, wanted, ordered=True)
        with translate_errors(), conn.transaction():
            with conn.cursor(name=f"gaps_{query.collection}", row_factory=dict_row) as cursor:
                cursor.itersize = BATCH
                cursor.execute(statement, params)
                yield from cursor


def copy_gaps_csv(conn: Connection, chains: dict[str, ChainDefinition], wanted: GapFilter) -> Iterator[bytes]:
    """The same rows as CSV with a header, written by the server (``COPY``): the fastest full list."""
    queries = plan_queries(chains, wanted)
    conn.execute(UTC_SESSION)
    for number, query in enumerate(queries):
        statement, params = _filtered(query, wanted, ordered=True)
        header = sql.SQL("true" if number == 0 else "false")
        copy = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER {})").format(statement, header)
        with translate_errors(), psycopg.ClientCursor(conn) as cursor, cursor.copy(copy, params) as stream:
            for block in stream:
                yield bytes(block)


def summarise(conn: Connection, chains: dict[str, ChainDefinition], wanted: GapFilter) -> list[dict[str, Any]]:
    """Units per collection and state (every state, whatever ``wanted.states``)."""
    check_states(wanted.states)
    rows: list[dict[str, Any]] = []
    everything = GapFilter(**{**wanted.__dict__, "states": STATES})
    for query in plan_queries(chains, everything):
        statement, params = _filtered(query, everything, ordered=False)
        counted = sql.SQL("SELECT collection, state, count(*) AS units FROM ({}) AS s GROUP BY 1, 2").format(statement)
        with translate_errors():
            rows.extend(conn.cursor(row_factory=dict_row).execute(counted, params).fetchall())
    order = {state: n for n, state in enumerate(STATES)}
    return sorted(rows, key=lambda r: (r["collection"], order[r["state"]]))
