"""pgSTAC's partitions made ready for items before they are written, so that searches keep answering.

pgSTAC creates a partition, and widens its date range constraint (an ALTER TABLE, which locks out readers), in the
transaction that writes the items. A writer whose transaction spans several partitions then holds the lock of
one while it creates the next (which locks the collection's parent table): a search that read the parent and waits
on the first is a deadlock, which PostgreSQL breaks by failing one of them. Here each partition the items need is
created or widened by pgSTAC's own ``check_partition``, in a short transaction of its own committed before the
items are written; it gives way to searches (a lock timeout) and tries again. The writes then find their partitions
ready, and alter none. A partition is widened to whole UTC days: each change of its constraints validates all its
rows, and a day's registrations of new products then change them once (``hygor.loader`` never narrows them).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from hygor.sql import query

DATE_PROPERTIES = ("datetime", "start_datetime", "end_datetime")
TRIES = 20
PAUSE_S = 0.05
# What the loser of a race between two writers on a partition sees (a constraint not widened yet, a deadlock on the
# partition, a partition whose creating transaction rolled back, a partition created at the same time: a duplicate
# in PostgreSQL's catalogue; or an item the other wrote meanwhile).
PARTITION_RACES = (
    psycopg.errors.CheckViolation,
    psycopg.errors.DeadlockDetected,
    psycopg.errors.UndefinedTable,
    psycopg.errors.UniqueViolation,
)
GIVES_WAY = (psycopg.errors.LockNotAvailable, *PARTITION_RACES)

Connection = psycopg.Connection[Any]


def prepare_partitions(conn: Connection, items: Sequence[dict[str, Any]]) -> None:
    """Create or widen the partitions ``items`` go to, each in a transaction of its own (``conn`` must not be in
    one), in the order pgSTAC takes them (collection, then date). Items without a known collection are left to
    the write, which refuses them."""
    dates = [{k: v for k, v in (item.get("properties") or {}).items() if k in DATE_PROPERTIES} for item in items]
    params = {"collections": [item.get("collection") for item in items], "dates": [Jsonb(d) for d in dates]}
    with conn.transaction():
        ranges = conn.cursor(row_factory=tuple_row).execute(query("partition_ranges"), params).fetchall()
    for collection, dtrange, edtrange in ranges:
        _check_partition(conn, {"collection": collection, "dtrange": dtrange, "edtrange": edtrange})


def _check_partition(conn: Connection, params: dict[str, Any]) -> None:
    for attempt in range(TRIES):
        try:
            with conn.transaction():
                conn.execute(query("partition_lock_timeout"))
                conn.execute(query("check_partition"), params)
            return
        except GIVES_WAY:
            if attempt == TRIES - 1:
                raise
            time.sleep(PAUSE_S)
