"""The one write path of items into pgSTAC: ``register_items``, in the caller's transaction.

``hesp ingest``, ``hesp harvest`` and the registration of a job's products all write through it. Each item
carries a digest of its content in pgSTAC's ``private`` column (never served by the API): a batch first reads
the digests already stored for its ids, writes only the new and changed items, and so counts each kind without
reading contents. Items go by COPY into pgSTAC's partitions, formatted by pypgstac's loader: even for a job's one
product, pgSTAC's own insert (its staging trigger dehydrates each item in PL/pgSQL) cost the server more than the
loader costs both ends (benchmarks/run.py, one job at a time: 13 against 9 ms of PostgreSQL's processor a job).
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
import psycopg
import shapely
from psycopg import sql
from psycopg.rows import tuple_row
from psycopg.types.range import Range
from pypgstac.db import PgstacDB
from pypgstac.load import Loader, Methods, Partition

from hygor.db import Database, translate_errors
from hygor.errors import DatabaseError
from hygor.ingest_runs import record_ingested
from hygor.item_rules import CACHED_GEOMETRIES, CACHED_GEOMETRY_CHARS
from hygor.lifecycle import ItemKey, mark_superseded, withdrawn_ids
from hygor.partitions import PARTITION_RACES, prepare_partitions
from hygor.sql import query

DIGEST = "hesp:digest"
INGEST_ROLE = "pgstac_ingest"
WGS84 = 4326
PR_SET_PDEATHSIG = 1  # linux/prctl.h
COPIED_COLUMNS = ("id", "collection", "datetime", "end_datetime", "geometry", "content", "private")
RACE_TRIES = 5
RACE_PAUSE_S = 0.05  # doubled at each try

Connection = psycopg.Connection[Any]
Digested = list[tuple[dict[str, Any], str]]  # items with their digests


def digest(item: dict[str, Any]) -> str:
    """A stable fingerprint of an item's content (key order does not matter)."""
    return hashlib.blake2b(orjson.dumps(item, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Done:
    """The products of an ingest run whose items a batch holds (all their items)."""

    run_id: int
    paths: list[str]


@dataclass
class LoadCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: LoadCounts) -> None:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged


def register_items(
    conn: Connection, items: Sequence[dict[str, Any]], digests: Sequence[str] | None = None
) -> LoadCounts:
    """Write ``items`` (distinct ids) into pgSTAC in ``conn``'s transaction; how many were new, changed and
    unchanged. ``digests``: the items' digests when the caller computed them already.

    The writes run in a savepoint (a transaction of their own when ``conn`` is in autocommit), so that the
    loser of a partition race (``PARTITION_RACES``) rolls back to it and tries again once the other writer
    has committed, reading the stored digests again: an item the other wrote meanwhile is then an update.
    The products the items make old are marked superseded in the same savepoint, and withdrawn items are left
    out, counted unchanged (``hygor.lifecycle``).
    The caller's transaction stays usable, and commits the items with whatever else it records (a job's
    success)."""
    fingerprints = list(digests) if digests is not None else [digest(item) for item in items]
    for attempt in range(RACE_TRIES):
        try:
            with conn.transaction():
                return _write(conn, items, fingerprints)
        except PARTITION_RACES:
            if attempt == RACE_TRIES - 1:
                raise
            time.sleep(RACE_PAUSE_S * 2**attempt)
    raise AssertionError("unreachable")


@contextmanager
def registration(conn: Connection, items: Sequence[dict[str, Any]]) -> Iterator[None]:
    """The transaction in which ``register_items`` writes ``items``, their partitions made ready before it starts
    (``hygor.partitions``: the write alters none of them, and searches keep answering). ``conn`` is in no
    transaction."""
    prepare_partitions(conn, items)
    with conn.transaction():
        yield


def _write(conn: Connection, items: Sequence[dict[str, Any]], fingerprints: list[str]) -> LoadCounts:
    by_collection: dict[str, Digested] = defaultdict(list)
    for item, fingerprint in zip(items, fingerprints, strict=True):
        by_collection[item["collection"]].append((item, fingerprint))
    conn.execute(query("registration_lock"), {"collections": sorted(by_collection)})
    counts = LoadCounts()
    for collection, members in by_collection.items():
        counts.add(_write_collection(conn, collection, members))
    mark_superseded(conn, (ItemKey(item["collection"], item["id"]) for item in items))
    return counts


def _write_collection(conn: Connection, collection: str, items: Digested) -> LoadCounts:
    params = {"collection": collection, "ids": [item["id"] for item, _ in items]}
    stored: dict[str, str | None] = dict(conn.cursor(row_factory=tuple_row).execute(query("stored_digests"), params))
    withdrawn = withdrawn_ids(conn, collection, params["ids"])  # left out: only `hesp restore` brings them back
    counts = LoadCounts()
    fresh: Digested = []
    changed: Digested = []
    for item, fingerprint in items:
        previous = stored.get(item["id"], _ABSENT)
        if previous == fingerprint or item["id"] in withdrawn:
            counts.unchanged += 1
        elif previous is _ABSENT:
            counts.new += 1
            fresh.append((item, fingerprint))
        else:
            counts.updated += 1
            changed.append((item, fingerprint))
    _copy(conn, fresh, changed)
    return counts


_ABSENT = object()


def _copy(conn: Connection, fresh: Digested, changed: Digested) -> None:
    """COPY into pgSTAC's partitions, the digests with them."""
    if not fresh and not changed:
        return
    with _pgstac_first(conn):
        loader = _ShapelyLoader(PgstacDB(connection=conn))
        # delsert, not upsert, for changed items: pgSTAC's upsert keeps the old `private` column (the digest).
        for batch, method in ((fresh, Methods.insert), (changed, Methods.delsert)):
            if batch:
                rows = ({**item, "private": {DIGEST: fingerprint}} for item, fingerprint in batch)
                loader.load_items(rows, insert_mode=method, chunksize=len(batch))


@contextmanager
def _pgstac_first(conn: Connection) -> Iterator[None]:
    """pgSTAC first on the search path for the block (pypgstac's loader names its tables unqualified)."""
    cursor = conn.cursor(row_factory=tuple_row)
    row = cursor.execute("SELECT current_setting('search_path')").fetchone()
    previous = row[0] if row else ""
    cursor.execute("SELECT set_config('search_path', 'pgstac,public', true)")
    yield
    cursor.execute("SELECT set_config('search_path', %s, true)", (previous,))


class _ShapelyLoader(Loader):
    """pypgstac's loader with geometries encoded by shapely (GEOS, in C) instead of plpygis (pure Python), writing
    into partitions that ``prepare_partitions`` made ready.

    Same EWKB bytes; encoding the geometry was most of pypgstac's own time per item.
    """

    def load_partition(  # type: ignore[override]  # pypgstac's is wrapped by tenacity's retry
        self, partition: Partition, items: Iterable[dict[str, Any]], insert_mode: Methods | None = Methods.insert
    ) -> None:
        """COPY the items into their partition (changed items deleted first), then pgSTAC's statistics update of an
        insert, as its staging trigger does it. pypgstac's own narrows the partition's constraints to the dates of
        its rows after each load: the next batch's newer items widened them again, and each change validates the
        whole partition, under an exclusive lock (40 ms a batch of 16 jobs in a partition of a thousand items,
        benchmarks/run.py; more as the partition grows)."""
        conn = self.db.connect()
        rows = list(items)
        with conn.cursor() as cursor:
            if partition.requires_update:  # not made ready (``registration``): pgSTAC creates or widens it here
                cursor.execute(query("check_partition"), _partition_bounds(partition))
                partition.requires_update = False
            if insert_mode == Methods.delsert:
                ids = [row["id"] for row in rows]
                cursor.execute(query("delete_items"), {"collection": partition.collection, "ids": ids})
            copy_rows = sql.SQL(query("copy_items")).format(partition=sql.Identifier("pgstac", partition.name))
            with cursor.copy(copy_rows) as copy:
                for row in rows:
                    copy.write_row([row.get(column) for column in COPIED_COLUMNS])
            cursor.execute(query("partition_written"), {"partition": partition.name})

    def format_item(self, _item: Any) -> dict[str, Any]:
        item = _item if isinstance(_item, dict) else orjson.loads(_item)
        out: dict[str, Any] = super().format_item({**item, "geometry": None})
        if item.get("geometry") is not None:
            geojson = orjson.dumps(item["geometry"])
            out["geometry"] = _known_ewkb(geojson) if len(geojson) <= CACHED_GEOMETRY_CHARS else _ewkb(geojson)
        return out


def _partition_bounds(partition: Partition) -> dict[str, Any]:
    """The dates pypgstac's loader found its partition must hold, as ``check_partition`` takes them."""
    dates = [datetime.fromisoformat(bound) for bound in (partition.datetime_range_min, partition.datetime_range_max,
             partition.end_datetime_range_min, partition.end_datetime_range_max)]  # fmt: skip
    return {"collection": partition.collection, "dtrange": Range(dates[0], dates[1], "[]"),
            "edtrange": Range(dates[2], dates[3], "[]")}  # fmt: skip


def _ewkb(geojson: bytes) -> str:
    geometry = shapely.set_srid(shapely.from_geojson(geojson), WGS84)
    return str(shapely.to_wkb(geometry, hex=True, include_srid=True, byte_order=1))


@lru_cache(maxsize=CACHED_GEOMETRIES)
def _known_ewkb(geojson: bytes) -> str:
    """The encoding of a geometry seen before: the products of a tile share its footprint."""
    return _ewkb(geojson)


class ItemLoader:
    """A loading session as the ``pgstac_ingest`` role, in this process: each batch is its own transaction."""

    def __init__(self, database: Database) -> None:
        logging.getLogger("pypgstac").setLevel(logging.WARNING)
        try:
            options = f"-c role={INGEST_ROLE} -c search_path=pgstac,public"
            self._conn = psycopg.connect(database.dsn(options=options), autocommit=True)
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot open a loading session: {str(exc).splitlines()[0]}") from exc

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ItemLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load(
        self, items: Sequence[dict[str, Any]], digests: Sequence[str] | None = None, done: Done | None = None
    ) -> LoadCounts:
        """``register_items`` in a transaction of its own; with ``done``, the ingest run's record of the products
        these items come from, in the same transaction (see ``hygor.ingest_runs``)."""
        with translate_errors(), registration(self._conn, items):
            counts = register_items(self._conn, items, digests)
            if done is not None:
                record_ingested(self._conn, done.run_id, done.paths)
            return counts


class LoaderProcess:
    """An ``ItemLoader`` in a process of its own, fed batches while the caller reads and checks the next ones.

    Reading, validating and pgSTAC's formatting of items are all Python work: in one process they would take
    turns on the interpreter lock; in two they use both cores. Batches travel as JSON bytes (orjson).
    """

    def __init__(self, database: Database) -> None:
        context = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited connections
        self._pool = ProcessPoolExecutor(
            1, mp_context=context, initializer=_open_loader, initargs=(database.url, os.getpid())
        )

    def submit(self, items: list[dict[str, Any]], done: Done | None = None) -> Future[LoadCounts]:
        """Load ``items`` in the loader process; their digests are computed here, where there is time."""
        payload = orjson.dumps({"items": items, "digests": [digest(item) for item in items]})
        return self._pool.submit(_load_in_loader_process, payload, done)

    def __enter__(self) -> LoaderProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


_PROCESS_LOADER: ItemLoader | None = None


def _open_loader(url: str, parent: int) -> None:
    global _PROCESS_LOADER
    _die_with(parent)
    gc.disable()  # batches are acyclic: reference counting frees them; see _load_in_loader_process
    _PROCESS_LOADER = ItemLoader(Database(url))


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when ``parent`` dies (Linux ``PR_SET_PDEATHSIG``): a ``hesp ingest`` killed
    with SIGKILL leaves no loader behind, holding a connection and still loading."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


def _load_in_loader_process(payload: bytes, done: Done | None) -> LoadCounts:
    assert _PROCESS_LOADER is not None, "the loader process was not initialised"
    batch = orjson.loads(payload)
    counts = _PROCESS_LOADER.load(batch["items"], batch["digests"], done)
    gc.collect()  # between batches, when little is alive: cheap
    return counts
