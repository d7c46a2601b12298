"""Loading items into pgSTAC in batches, knowing which are new, changed or unchanged.

pypgstac's ``Loader`` does the writing (COPY into pgSTAC's partitions). Each item carries a digest of its
content in pgSTAC's ``private`` column (never served by the API): a batch first reads the digests already
stored for its ids, loads only the new and changed items, and so counts each kind without reading contents.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Sequence
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
    """Loads batches of validated items, as the ``pgstac_ingest`` role; one per ingest run."""

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

    def load(self, items: Sequence[dict[str, Any]]) -> LoadCounts:
        """Upsert ``items`` (distinct ids) and say how many were new, changed and unchanged."""
        counts = LoadCounts()
        by_collection: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in items:
            by_collection[item["collection"]].append(item)
        with translate_errors():
            for collection, members in by_collection.items():
                counts.add(self._load_collection(collection, members))
        return counts

    def _load_collection(self, collection: str, items: list[dict[str, Any]]) -> LoadCounts:
        stored = {
            row[0]: row[1]
            for row in self._conn.execute(
                query("stored_digests"), {"collection": collection, "ids": [item["id"] for item in items]}
            )
        }
        counts = LoadCounts()
        fresh, changed = [], []
        for item in items:
            fingerprint = digest(item)
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
