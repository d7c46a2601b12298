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
- ``outdated``: made by an older chain version, or from an input superseded since: to reprocess (a version
  change only where a reprocessing campaign covers the unit: ``campaign``, see ``hymotep.campaigns``);
- ``not-accepted``: only requests left out (``hesp plan capacity --apply``, ``hesp request leave-out``) ask for
  it: shown, never planned;
- ``runnable``: everything is there.

Large requests are cut in ranges of tiles computed at once on separate connections; rows stream from
server-side cursors, so a list of millions is never held in memory.
"""

from __future__ import annotations

import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from itertools import islice
from typing import Any, Literal, TypeVar, get_args

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, tuple_row

from hygor.db import translate_errors
from hymotep.chains import ChainDefinition, downstream, primary_path
from hymotep.errors import HymotepError
from hymotep.sql import gaps_query

State = Literal["runnable", "blocked", "queued", "running", "failed", "outdated", "not-accepted", "invalid", "done"]
STATES: tuple[State, ...] = get_args(State)
GAP_STATES: tuple[State, ...] = ("runnable", "blocked", "queued", "running", "failed", "outdated", "not-accepted")
COLUMNS = (
    "collection", "tile", "slot", "acquired", "period_end", "input", "state", "reason", "mode", "job", "attempts",
    "priority", "campaign",
)  # fmt: skip
BATCH = 5000  # rows fetched from the server at a time
SMALL_SCOPE = 500  # tiles up to which the inventory is read tile by tile rather than whole collections in order
WORKERS = max(1, min(4, os.cpu_count() or 1))  # connections computing ranges of tiles at once

Connection = psycopg.Connection[Any]
T = TypeVar("T")


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
    statement: sql.Composable
    params: dict[str, Any]
    partitionable: bool = True  # its units depend on their own tile only, and it can read a range of tiles


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
        "upstream": path[1] if len(path) > 2 else None,  # the primary input when the centre produces it
        "path": path[1:-1],  # the produced collections between this one and the source
        "static": chain.auxiliary("static"),
        "daily": chain.auxiliary("same-day"),
        "history_days": 0,
        "planning": False,  # True: leave out the outdated units no active campaign replays (plan_jobs)
    }
    static = sql.SQL(gaps_query("static_present"))  # composition of this package's own query text
    if chain.unit == "per-period":
        params |= {"period": chain.period, "min_valid": chain.min_valid_inputs, "now": wanted.now}
        params |= chain.window_params
        statement = sql.SQL(gaps_query("period_gaps")).format(static=static)
        return CollectionQuery(collection, statement, params, partitionable=False)
    series = "independent_series"
    params["backward"] = None
    if dependencies is not None:
        series = "dependent_series"
        earlier = dependencies.earlier_limit
        params |= {
            "limit_days": dependencies.previous_valid_within_days,
            "earlier_until": earlier.until if earlier else None,
            "earlier_days": earlier.days if earlier else None,
            "backward": dependencies.init_backward_count,
            "history_days": max(dependencies.previous_valid_within_days, earlier.days if earlier else 0),
        }
    # Composition of this package's own query text, never of user input.
    statement = sql.SQL(gaps_query("acquisition_gaps")).format(series=sql.SQL(gaps_query(series)), static=static)
    return CollectionQuery(collection, statement, params)


def _partitions(
    conn: Connection, query: CollectionQuery, wanted: GapFilter, *, ordered: bool
) -> tuple[sql.Composed, list[dict[str, Any]]]:
    """The query of ``wanted.states`` and its parameters for each range of tiles, in tile order.

    A few requested tiles are named to the query (index look-ups); many are cut in ``WORKERS`` ranges that
    separate connections may compute at once (a unit's state depends on its own tile only).
    """
    statement = sql.SQL("SELECT {}::text AS collection, g.* FROM ({}) AS g").format(
        sql.Placeholder("collection"), query.statement
    )
    if set(wanted.states) != set(STATES):  # a filter on every state would only compute each verdict twice
        statement += sql.SQL(" WHERE g.state = ANY({})").format(sql.Placeholder("states"))
    if ordered:
        statement = statement + sql.SQL(" ORDER BY g.tile, g.slot")
    with translate_errors():
        found = conn.cursor(row_factory=dict_row).execute(gaps_query("scope_tiles"), query.params).fetchone()
    tiles: list[str] = (found or {}).get("tiles") or []
    params = {**query.params, "states": list(wanted.states), "scope_tiles": None, "tiles_from": None}
    if not tiles:  # no request asks for the collection on these tiles and dates: no units
        return statement, []
    if len(tiles) <= SMALL_SCOPE or not query.partitionable:
        return statement, [{**params, "scope_tiles": tiles, "tiles_before": None}]
    size = -(-len(tiles) // WORKERS)
    starts = tiles[::size]
    ranges = zip(starts, [*starts[1:], None], strict=True)
    return statement, [{**params, "tiles_from": first, "tiles_before": after} for first, after in ranges]


Connect = Callable[[], AbstractContextManager[Connection]]


def iter_gaps(connect: Connect, chains: dict[str, ChainDefinition], wanted: GapFilter) -> Iterator[dict[str, Any]]:
    """The units in ``wanted.states``, one dict per unit (``COLUMNS``), by collection, tile and time."""

    def rows(statement: sql.Composed, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        with gap_transaction(connect) as conn, conn.cursor(name="gaps", row_factory=dict_row) as cursor:
            cursor.itersize = BATCH
            cursor.execute(statement, params)
            yield from cursor

    yield from _concurrently(rows(*job) for job in gap_statements(connect, chains, wanted, ordered=True))


def copy_gaps_csv(connect: Connect, chains: dict[str, ChainDefinition], wanted: GapFilter) -> Iterator[bytes]:
    """The same rows as CSV with a header, written by the server (``COPY``): the fastest full list."""

    def blocks(statement: sql.Composed, params: dict[str, Any], header: bool) -> Iterator[bytes]:
        copy = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER {})").format(
            statement, sql.SQL("true" if header else "false")
        )
        with gap_transaction(connect) as conn, psycopg.ClientCursor(conn) as cursor:
            with cursor.copy(copy, params) as stream:
                yield from (bytes(block) for block in stream)

    jobs = gap_statements(connect, chains, wanted, ordered=True)
    if not jobs:
        yield (",".join(COLUMNS) + "\n").encode()
    yield from _concurrently(blocks(*job, header=number == 0) for number, job in enumerate(jobs))


def summarise(
    connect: Connect, chains: dict[str, ChainDefinition], wanted: GapFilter, *, by_tile: bool = False
) -> list[dict[str, Any]]:
    """Units per collection (and tile, with ``by_tile``) and state: every state, whatever ``wanted.states``."""
    check_states(wanted.states)
    everything = replace(wanted, states=STATES)
    per_state = sql.SQL(", ").join(  # one pass, no sort: the states are known
        sql.SQL("count(*) FILTER (WHERE s.state = {})").format(sql.Literal(state)) for state in STATES
    )
    by_tiles = sql.SQL("s.tile, {} FROM ({}) AS s GROUP BY s.tile" if by_tile else "{} FROM ({}) AS s")

    def counts(statement: sql.Composed, params: dict[str, Any]) -> Iterator[tuple[tuple[str, ...], int]]:
        """((collection[, tile], state), units) of the states that have units."""
        counted = sql.SQL("SELECT ") + by_tiles.format(per_state, statement)
        with gap_transaction(connect) as conn:
            for row in conn.cursor(row_factory=tuple_row).execute(counted, params).fetchall():
                place, units = (params["collection"], *row[: -len(STATES)]), row[-len(STATES) :]
                yield from (((*place, state), n) for state, n in zip(STATES, units, strict=True) if n)

    totals: Counter[tuple[str, ...]] = Counter()
    for key, units in _concurrently(counts(*job) for job in gap_statements(connect, chains, everything, ordered=False)):
        totals[key] += units
    keys = ("collection", "tile", "state") if by_tile else ("collection", "state")
    order: dict[str, int] = {state: n for n, state in enumerate(STATES)}
    ordered = sorted(totals.items(), key=lambda item: (*item[0][:-1], order[item[0][-1]]))
    return [{**dict(zip(keys, key, strict=True)), "units": units} for key, units in ordered]


def gap_statements(
    connect: Connect, chains: dict[str, ChainDefinition], wanted: GapFilter, *, ordered: bool
) -> list[tuple[sql.Composed, dict[str, Any]]]:
    """(statement, parameters) of every collection and range of tiles, in output order."""
    queries = plan_queries(chains, wanted)
    with connect() as conn:
        return [
            (statement, params)
            for query in queries
            for statement, partitions in [_partitions(conn, query, wanted, ordered=ordered)]
            for params in partitions
        ]


@contextmanager
def gap_transaction(connect: Connect) -> Iterator[Connection]:
    """A connection in a transaction with the settings gap queries are planned for (``streaming``)."""
    with connect() as conn, translate_errors(), conn.transaction():
        conn.execute(gaps_query("streaming"))
        yield conn


def _concurrently(streams: Iterable[Iterator[T]]) -> Iterator[T]:
    """The items of ``streams`` in order, each stream computed meanwhile on its own connection.

    Up to ``WORKERS`` streams are started ahead: a thread asks each for its first item, which is when the
    database computes it (a sorted or aggregated result is complete before its first row). The caller then
    reads them one after the other; memory holds one batch per stream, the rest waits in the database.
    """
    pending: deque[tuple[Iterator[T], Future[list[T]]]] = deque()
    with ThreadPoolExecutor(WORKERS) as pool:
        for stream in streams:
            pending.append((stream, pool.submit(_first, stream)))
            if len(pending) > WORKERS:
                yield from _drain(*pending.popleft())
        while pending:
            yield from _drain(*pending.popleft())


def _first(stream: Iterator[T]) -> list[T]:
    return list(islice(stream, 1))


def _drain(stream: Iterator[T], first: Future[list[T]]) -> Iterator[T]:
    yield from first.result()
    yield from stream
