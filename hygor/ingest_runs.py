"""Resumable ingest: a run is recorded under what it was asked, and each product once its items are committed.

The products of a batch are recorded by the loader in the transaction that writes their items
(``record_ingested``), so that a run killed at any moment has recorded exactly the products whose items
are in the catalogue. Started again with the same arguments, it skips them; a run that ends closes its record.
Products with a rejection are not recorded: a resumed run reads them again and reports them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from psycopg.types.json import Jsonb

from hygor.db import Database, execute, fetch_all, fetch_one
from hygor.sql import query


@dataclass(frozen=True)
class IngestRun:
    id: int
    resumed: bool
    done: frozenset[str] = field(default_factory=frozenset)
    """Products whose items an interrupted run of the same arguments committed."""


def product_key(path: Path) -> str:
    """A product's path as text PostgreSQL can store: the bytes of a name that is not UTF-8 stay, escaped."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def run_request(paths: Sequence[Path], collection: str | None, recursive: bool) -> dict[str, Any]:
    """What identifies a run: the absolute paths, in order, and the options that change what is read."""
    return {"paths": [product_key(path.absolute()) for path in paths], "collection": collection, "recursive": recursive}


def open_run(database: Database, request: dict[str, Any]) -> IngestRun:
    """The interrupted run of ``request`` with the products it committed, or a new run."""
    key = hashlib.blake2b(orjson.dumps(request, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()
    with database.connect(autocommit=True) as conn:
        row = fetch_one(conn, "upsert_ingest_run", key=key, request=Jsonb(request))
        done = frozenset(r["path"] for r in fetch_all(conn, "ingested_products", run_id=row["id"]))
    return IngestRun(row["id"], bool(row["resumed"]), done)


def close_run(database: Database, run: IngestRun) -> None:
    with database.connect(autocommit=True) as conn:
        execute(conn, "close_ingest_run", run_id=run.id)


def record_ingested(conn: Any, run_id: int, paths: Sequence[str]) -> None:
    """Record ``paths`` as done in ``conn``'s transaction (the one that writes their items)."""
    conn.execute(query("record_ingested_products"), {"run_id": run_id, "paths": list(paths)})
