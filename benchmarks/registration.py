"""Registering batches of new products into a large partition: hesp's registration against pypgstac's loader as
shipped, in the same run.

    .venv/bin/python benchmarks/registration.py [--items 300000] [--batches 40] [--batch 16] [--work DIR]

``maja-l2a`` (one pgSTAC partition a year) is filled with ``--items`` items of the first half of 2024 over 1,000
land tiles (kept in ``--work`` for the next run). Then ``--batches`` batches of ``--batch`` new items, each a few
minutes after the last, ten batches a day (as a day's new acquisitions register), go in twice, their items deleted
in between:

1. stock: pypgstac's ``Loader.load_items`` in a transaction a batch. Before each COPY it widens the partition's
   constraints to the batch's dates (``check_partition``), and after it narrows them to its rows' dates
   (``update_partition_stats_q``): each newer batch changes them twice, and each change validates the partition;
2. hesp: ``registration`` + ``register_items`` (``hygor.loader``), as a worker registers a batch of jobs:
   partitions widened a whole UTC day at a time beforehand, never narrowed.

Prints milliseconds a batch (mean, and the slowest), the ratio, and the processor time of PostgreSQL and of this
process (``CpuMeter``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import psycopg
from cpu import CpuMeter
from pypgstac.db import PgstacDB
from pypgstac.load import Loader, Methods
from run import database_url, fresh_database

from hygor import Catalog, Settings
from hygor.db import Database
from hygor.grid import all_tiles, land_tiles
from hygor.items import stac_datetime, tiled_item
from hygor.loader import ItemLoader, register_items, registration

COLLECTION = "maja-l2a"
TILES = 1000
FILLED_FROM = datetime(2024, 1, 1, 10, 30, tzinfo=UTC)
FILLED_DAYS = 180
NEW_FROM = datetime(2024, 7, 1, 10, 30, tzinfo=UTC)
BATCHES_A_DAY = 10
CHUNK = 5000


def items(count: int, first: datetime, step: timedelta, prefix: str) -> Iterator[dict[str, Any]]:
    """``count`` items over the first ``TILES`` land tiles, ``step`` apart."""
    grid = all_tiles()
    tiles = [grid[tile] for tile in sorted(land_tiles())[:TILES]]
    for n in range(count):
        when = first + n * step
        properties = {"datetime": stac_datetime(when), "processing:version": "4.0", "hesp:valid": True}
        yield tiled_item(item_id=f"{prefix}_{n:07d}", collection=COLLECTION, tile=tiles[n % len(tiles)],
                         properties=properties, assets={})  # fmt: skip


def fill(url: str, count: int) -> None:
    step = timedelta(days=FILLED_DAYS) / count
    loaded = items(count, FILLED_FROM, step, "FILL")
    with ItemLoader(Database(url)) as loader:
        while chunk := list(islice(loaded, CHUNK)):
            loader.load(chunk)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE pgstac.items")


def new_batches(batches: int, size: int) -> list[list[dict[str, Any]]]:
    """Each batch a few minutes after the last, ``BATCHES_A_DAY`` a day."""
    found = []
    for b in range(batches):
        day, turn = divmod(b, BATCHES_A_DAY)
        first = NEW_FROM + timedelta(days=day, minutes=10 * turn)
        found.append(list(items(size, first, timedelta(seconds=1), f"NEW_{b:04d}")))
    return found


def stock(url: str) -> Callable[[list[dict[str, Any]]], None]:
    db = PgstacDB(dsn=url)

    def load(batch: list[dict[str, Any]]) -> None:
        Loader(db).load_items(iter(batch), insert_mode=Methods.insert)

    return load


def hesp(url: str) -> Callable[[list[dict[str, Any]]], None]:
    conn = psycopg.connect(url, autocommit=True)

    def load(batch: list[dict[str, Any]]) -> None:
        with registration(conn, batch):
            register_items(conn, batch)

    return load


def timed(
    url: str, name: str, load: Callable[[list[dict[str, Any]]], None], batches: list[list[dict[str, Any]]]
) -> None:
    meter = CpuMeter(url)
    meter.start()
    seconds = []
    for batch in batches:
        started = time.perf_counter()
        load(batch)
        seconds.append(time.perf_counter() - started)
    cpu = meter.stop()
    shares = ", ".join(f"{whose} {1000 * spent / len(batches):.1f}" for whose, spent in cpu.items())
    print(f"{name:8} {1000 * statistics.mean(seconds):9.1f} {1000 * max(seconds):9.1f}   CPU ms a batch: {shares}",
          flush=True)  # fmt: skip
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM pgstac.items WHERE collection = %s AND id LIKE 'NEW\\_%%'", (COLLECTION,))
        conn.execute("SELECT pgstac.update_partition_stats(partition) FROM pgstac.partition_stats "
                     "WHERE collection = %s", (COLLECTION,))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=300_000, help="items already in the partition")
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch", type=int, default=16, help="items a batch")
    parser.add_argument("--work", type=Path, help="work folder (reused when it holds a run of the same --items)")
    parser.add_argument("--database-url", help="a database to fill (dropped and created again); default: embedded")
    parser.add_argument("--port", type=int, default=54397, help="port of the embedded cluster")
    args = parser.parse_args()
    work = (args.work or Path(tempfile.mkdtemp(prefix="hesp-bench-registration-", dir="/var/tmp"))).absolute()
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {work}")
    url, embedded = database_url(args, work)
    try:
        marker = work / "filled"
        if not marker.exists() or marker.read_text() != f"{args.items} {url}":
            started = time.perf_counter()
            fresh_database(url)
            Catalog(Settings(database_url=url)).init()
            fill(url, args.items)
            marker.write_text(f"{args.items} {url}")
            print(f"filled {args.items:,} items in {time.perf_counter() - started:.0f} s")
        batches = new_batches(args.batches, args.batch)
        print(f"{args.batches} batches of {args.batch} new items into a partition of {args.items:,}")
        print(f"{'loader':8} {'ms/batch':>9} {'slowest':>9}")
        for name, make in (("stock", stock), ("hesp", hesp), ("stock", stock), ("hesp", hesp)):
            timed(url, name, make(url), batches)
    finally:
        if embedded is not None:
            embedded.down()


if __name__ == "__main__":
    main()
