"""Loading items into pgSTAC in batches, knowing which are new, changed or unchanged.

pypgstac's ``Loader`` does the writing (COPY into pgSTAC's partitions). Each item carries a digest of its
content in pgSTAC's ``private`` column (never served by the API): a batch first reads the digests already
stored for its ids, loads only the new and changed items, and so counts each kind without reading contents.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import multiprocessing
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
import shapely
import shapely.geometry
from pypgstac.db import PgstacDB
from pypgstac.load import Loader, Methods

from hygor.db import Database, translate_errors
from hygor.errors import DatabaseError
from hygor.sql import query

DIGEST = "hesp:digest"
INGEST_ROLE = "pgstac_ingest"
WGS84 = 4326


def digest(item: dict[str, Any]) -> str:
    """A stable fingerprint of an item's content (key order does not matter)."""
    return hashlib.blake2b(orjson.dumps(item, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


@dataclass
class LoadCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: LoadCounts) -> None:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged


class _ShapelyLoader(Loader):
    """pypgstac's loader with geometries encoded by shapely (GEOS, in C) instead of plpygis (pure Python).

    Same EWKB bytes; encoding the geometry was most of pypgstac's own time per item.
    """

    def format_item(self, _item: Any) -> dict[str, Any]:
        item = _item if isinstance(_item, dict) else orjson.loads(_item)
        out: dict[str, Any] = super().format_item({**item, "geometry": None})
        if item.get("geometry") is not None:
            geometry = shapely.set_srid(shapely.geometry.shape(item["geometry"]), WGS84)
            out["geometry"] = shapely.to_wkb(geometry, hex=True, include_srid=True, byte_order=1)
        return out


class ItemLoader:
    """Loads batches of validated items, as the ``pgstac_ingest`` role, in this process."""

    def __init__(self, database: Database) -> None:
        logging.getLogger("pypgstac").setLevel(logging.WARNING)
        try:
            options = f"-c role={INGEST_ROLE} -c search_path=pgstac,public"
            self._conn = psycopg.connect(database.dsn(options=options), autocommit=True)
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot open a loading session: {str(exc).splitlines()[0]}") from exc
        self._loader = _ShapelyLoader(PgstacDB(connection=self._conn))

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ItemLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load(self, items: Sequence[dict[str, Any]], digests: Sequence[str] | None = None) -> LoadCounts:
        """Upsert ``items`` (distinct ids) and say how many were new, changed and unchanged.

        ``digests``: the items' digests when the caller computed them already.
        """
        counts = LoadCounts()
        by_collection: dict[str, list[tuple[dict[str, Any], str]]] = defaultdict(list)
        for item, fingerprint in zip(items, digests or [digest(item) for item in items], strict=True):
            by_collection[item["collection"]].append((item, fingerprint))
        with translate_errors():
            for collection, members in by_collection.items():
                counts.add(self._load_collection(collection, members))
        return counts

    def _load_collection(self, collection: str, items: list[tuple[dict[str, Any], str]]) -> LoadCounts:
        stored = {
            row[0]: row[1]
            for row in self._conn.execute(
                query("stored_digests"), {"collection": collection, "ids": [item["id"] for item, _ in items]}
            )
        }
        counts = LoadCounts()
        fresh, changed = [], []
        for item, fingerprint in items:
            previous = stored.get(item["id"], _ABSENT)
            if previous == fingerprint:
                counts.unchanged += 1
            elif previous is _ABSENT:
                counts.new += 1
                fresh.append({**item, "private": {DIGEST: fingerprint}})
            else:
                counts.updated += 1
                changed.append({**item, "private": {DIGEST: fingerprint}})
        if fresh:
            try:
                self._write(fresh, Methods.insert)  # straight COPY into the partitions: the fast path
            except psycopg.errors.UniqueViolation:  # another run loaded some of them meanwhile
                self._write(fresh, Methods.delsert)
        if changed:
            # delsert, not upsert: pgSTAC's upsert keeps the old `private` column, which holds the digest.
            self._write(changed, Methods.delsert)
        return counts

    def _write(self, items: list[dict[str, Any]], method: Methods) -> None:
        self._loader.load_items(iter(items), insert_mode=method, chunksize=len(items))


_ABSENT = object()


class LoaderProcess:
    """An ``ItemLoader`` in a process of its own, fed batches while the caller reads and checks the next ones.

    Reading, validating and pgSTAC's formatting of items are all Python work: in one process they would take
    turns on the interpreter lock; in two they use both cores. Batches travel as JSON bytes (orjson).
    """

    def __init__(self, database: Database) -> None:
        context = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited connections
        self._pool = ProcessPoolExecutor(1, mp_context=context, initializer=_open_loader, initargs=(database.url,))

    def submit(self, items: list[dict[str, Any]]) -> Future[LoadCounts]:
        """Load ``items`` in the loader process; their digests are computed here, where there is time."""
        payload = orjson.dumps({"items": items, "digests": [digest(item) for item in items]})
        return self._pool.submit(_load_in_loader_process, payload)

    def __enter__(self) -> LoaderProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


_PROCESS_LOADER: ItemLoader | None = None


def _open_loader(url: str) -> None:
    global _PROCESS_LOADER
    gc.disable()  # batches are acyclic: reference counting frees them; see _load_in_loader_process
    _PROCESS_LOADER = ItemLoader(Database(url))


def _load_in_loader_process(payload: bytes) -> LoadCounts:
    assert _PROCESS_LOADER is not None, "the loader process was not initialised"
    batch = orjson.loads(payload)
    counts = _PROCESS_LOADER.load(batch["items"], batch["digests"])
    gc.collect()  # between batches, when little is alive: cheap
    return counts
