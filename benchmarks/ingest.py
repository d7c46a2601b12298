"""Ingest throughput: the project's load path against raw ``pypgstac load``, same items, same run.

    .venv/bin/python benchmarks/ingest.py [--items 100000] [--tiles 5000]
    .venv/bin/python benchmarks/ingest.py --archive 100000 [--tiles 200] [--kill-at 0.5]

Generates N Sentinel-2 L1C-like items (real tiles and footprints, 17 assets each) as NDJSON, then loads them
into fresh copies of one migrated database:
  1. raw:     ``pypgstac load items FILE --method upsert`` (and ``--method insert``, the fastest it has, also
              without the trigger that keeps ``hesp.inventory`` in step: what the inventory costs);
  2. project: ``hesp ingest FILE`` (read, schema-validate, digest, diff, load), then again on the same file
              (everything unchanged).
Each load is a subprocess, timed from start to exit. Prints items/s of each and the ratios to raw upsert.

``--phases inventory [--rounds 10] [--method insert]``: what keeping ``hesp.inventory`` costs a load, instead.
The N items cut into R slices, each loaded with ``pypgstac load`` into two copies of the database, one keeping
the inventory and one without its triggers, in alternating order; prints the seconds and items/s of each, their
ratio, the time spent in the inventory's trigger function (``track_functions``), and the CPU time of each load
(the loader's and the server's, ``benchmarks/cpu.py``: on a shared machine it varies much less than wall time).

``--archive N``: the archive case instead. Writes N THEIA/MUSCATE product folders in their real layouts,
metadata only (tests/archive_tree.py: L2A, L3A, L2B-SNOW), times the walk that finds them, then
``hesp ingest ARCHIVE --recursive --archive`` killed with SIGKILL once a share (``--kill-at``) of the products is
committed, and run again to the end; checks that every product is in the catalogue exactly once, then loads the
same items (exported from it, hydrated) with ``pypgstac load --method upsert`` into a fresh database. Prints
products/s of the killed + resumed ingest (reading, checking, loading, and the work the kill lost) against it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
from cpu import CpuMeter
from psycopg import sql

from hygor import Catalog, Settings
from hygor.grid import all_tiles, land_tiles
from hygor.items import MediaType, file_asset, stac_datetime, tiled_item

BIN = Path(sys.executable).parent
TESTS = Path(__file__).resolve().parents[1] / "tests"
BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]


def generate(path: Path, count: int, tile_count: int) -> None:
    rng = random.Random(42)
    tiles = [all_tiles()[t] for t in sorted(land_tiles())[:tile_count]]
    start = datetime(2022, 1, 1, 10, 30, tzinfo=UTC)
    with path.open("wb") as out:
        for n in range(count):
            tile = tiles[n % len(tiles)]
            when = start + timedelta(days=5 * (n // len(tiles)), seconds=rng.randrange(3600))
            name = f"S2A_MSIL1C_{when:%Y%m%dT%H%M%S}_N0510_R{rng.randrange(1, 144):03d}_T{tile.id}_{when:%Y%m%d}T120000"
            root = Path(f"/archive/sentinel-2-l1c/{tile.id}/{when:%Y}/{name}.SAFE")
            assets = {
                band: file_asset(root / f"{band}.jp2", media_type=MediaType.JP2, roles=["data"], title=band)
                for band in BANDS
            }
            assets["product-metadata"] = file_asset(
                root / "MTD_MSIL1C.xml", media_type=MediaType.XML, roles=["metadata"], title="Product metadata"
            )
            item = tiled_item(
                item_id=name,
                collection="sentinel-2-l1c",
                tile=tile,
                properties={
                    "datetime": stac_datetime(when),
                    "platform": "sentinel-2a",
                    "constellation": "sentinel-2",
                    "instruments": ["msi"],
                    "eo:cloud_cover": round(rng.uniform(0, 100), 2),
                    "sat:relative_orbit": rng.randrange(1, 144),
                    "processing:level": "L1C",
                    "processing:version": "05.10",
                },
                assets=assets,
            )
            out.write(orjson.dumps(item) + b"\n")


def fresh_database(admin_url: str, template: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
    return admin_url.rsplit("/", 1)[0] + "/" + name


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return elapsed


def hesp_env(url: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HESP_")} | {"HESP_DATABASE_URL": url}


def count(url: str, sql_text: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql_text).fetchone()
    return int(row[0]) if row else 0


def killed_ingest(command: list[str], url: str, products: int, kill_at: float) -> tuple[float, int]:
    """Run ``command`` until ``kill_at`` of ``products`` are committed, then SIGKILL it; (seconds until its
    processes are gone, products committed)."""
    started = time.perf_counter()
    with subprocess.Popen(command, env=hesp_env(url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as run:
        while count(url, "SELECT count(*) FROM hesp.ingest_products") < kill_at * products:
            if run.poll() is not None:
                raise SystemExit("hesp ingest ended before it was killed: lower --kill-at or raise --archive")
            time.sleep(0.5)
        pid = run.pid
        helpers = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        run.send_signal(signal.SIGKILL)
    while any(Path(f"/proc/{child}").exists() for child in helpers):
        time.sleep(0.1)
    return time.perf_counter() - started, count(url, "SELECT count(*) FROM hesp.ingest_products")


def export_items(url: str, path: Path) -> None:
    """The catalogue's items as their STAC documents (hydrated), one per line."""
    with psycopg.connect(url, options="-c search_path=pgstac,public") as conn, conn.cursor("export") as cursor:
        cursor.execute("SELECT content_hydrate(i) FROM items i")
        with path.open("wb") as out:
            for (item,) in cursor:
                out.write(orjson.dumps(item) + b"\n")


def archive_case(args: argparse.Namespace, work: Path, admin_url: str) -> None:
    sys.path.insert(0, str(TESTS))
    from archive_tree import write_archive

    from hygor.ingest import find_products

    archive = work / "archive"
    started = time.perf_counter()
    made = write_archive(archive, args.archive, args.tiles)
    print(f"wrote {args.archive} product folders ({dict(made)}) in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    found = sum(1 for _ in find_products([archive], recursive=True))
    walk = time.perf_counter() - started
    print(f"walk: {found} products found in {walk:.1f} s ({found / walk:.0f} folders/s)")

    url = fresh_database(admin_url, "bench_template", "bench_archive")
    command = [str(BIN / "hesp"), "ingest", str(archive), "--recursive", "--archive", "--format", "json"]
    killed_s, committed = killed_ingest(command, url, args.archive, args.kill_at)
    print(f"hesp ingest killed (SIGKILL) after {killed_s:.0f} s with {committed} products committed")
    started = time.perf_counter()
    done = subprocess.run(command, env=hesp_env(url), capture_output=True, text=True)
    resumed_s = time.perf_counter() - started
    report = json.loads(done.stdout)
    items = count(url, "SELECT count(*) FROM pgstac.items")
    distinct = count(url, "SELECT count(DISTINCT (collection, id)) FROM pgstac.items")
    print(
        f"resumed in {resumed_s:.0f} s: {report['resumed']} products not read again, {report['ingested']} ingested, "
        f"{len(report['rejected'])} rejected; catalogue: {items} items, {distinct} distinct, "
        f"for {args.archive} products"
    )
    if items != distinct or items != args.archive:
        raise SystemExit("the archive is not in the catalogue exactly once")

    items_file = work / "archive-items.ndjson"
    export_items(url, items_file)
    raw_url = fresh_database(admin_url, "bench_template", "bench_archive_raw")
    raw = timed([str(BIN / "pypgstac"), "load", "items", str(items_file), "--dsn", raw_url, "--method", "upsert"])
    total = killed_s + resumed_s
    print(f"{'path':52} {'seconds':>8} {'per s':>7} {'vs raw upsert':>14}")
    for name, seconds in (
        ("pypgstac load --method upsert (items)", raw),
        ("hesp ingest --recursive --archive, killed + resumed", total),
    ):
        print(f"{name:52} {seconds:8.0f} {args.archive / seconds:7.0f} {raw / seconds:13.0%}")


def without_inventory(url: str) -> None:
    """The database at ``url`` made to load items without keeping ``hesp.inventory``: its triggers dropped from
    every table of the items' partition tree, and the event trigger that gives them to new partitions disabled."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER EVENT TRIGGER hesp_inventory_partitions DISABLE")
        triggers = conn.execute(
            "SELECT tgname, tgrelid::regclass::text FROM pg_trigger WHERE tgname LIKE 'hesp_inventory_%'"
        )
        for name, table in triggers.fetchall():
            conn.execute(sql.SQL("DROP TRIGGER {} ON {}").format(sql.Identifier(name), sql.SQL(table)))


def loads_case(args: argparse.Namespace, items: Path, admin_url: str) -> None:
    pypgstac = str(BIN / "pypgstac")
    results = {}
    for method in ("upsert", "insert"):
        url = fresh_database(admin_url, "bench_template", f"bench_raw_{method}")
        results[f"pypgstac load --method {method}"] = timed(
            [pypgstac, "load", "items", str(items), "--dsn", url, "--method", method]
        )
    # What keeping hesp.inventory in step costs every load: the same insert without its triggers.
    url = fresh_database(admin_url, "bench_template", "bench_raw_no_inventory")
    without_inventory(url)
    results["pypgstac load --method insert, no inventory"] = timed(
        [pypgstac, "load", "items", str(items), "--dsn", url, "--method", "insert"]
    )
    url = fresh_database(admin_url, "bench_template", "bench_hesp")
    env = hesp_env(url)
    results["hesp ingest (new items)"] = timed([str(BIN / "hesp"), "ingest", str(items)], env)
    results["hesp ingest (same file again)"] = timed([str(BIN / "hesp"), "ingest", str(items)], env)

    baseline = results["pypgstac load --method upsert"]
    print(f"{'path':44} {'seconds':>8} {'items/s':>9} {'vs raw upsert':>14}")
    for name, seconds in results.items():
        print(f"{name:44} {seconds:8.1f} {args.items / seconds:9.0f} {baseline / seconds:13.0%}")


def split(items: Path, count: int, parts: int) -> list[Path]:
    """The ``count`` lines of ``items`` cut into ``parts`` files of consecutive lines."""
    size = -(-count // parts)
    slices = [items.with_name(f"{items.stem}-{n}.ndjson") for n in range(parts)]
    with items.open("rb") as lines:
        for path in slices:
            with path.open("wb") as out:
                out.writelines(itertools.islice(lines, size))
    return slices


def inventory_case(args: argparse.Namespace, items: Path, admin_url: str) -> None:
    """The same slices loaded into two databases, one keeping the inventory and one not, in alternating order
    (each round's first load is the other database's), so that both see the same load on the machine."""
    kept = fresh_database(admin_url, "bench_template", "bench_inventory_kept")
    bare = fresh_database(admin_url, "bench_template", "bench_inventory_bare")
    without_inventory(bare)
    with psycopg.connect(admin_url, autocommit=True) as conn:  # the time spent in the trigger function
        conn.execute("ALTER DATABASE bench_inventory_kept SET track_functions = 'pl'")
    pypgstac = str(BIN / "pypgstac")
    seconds: dict[str, list[float]] = {kept: [], bare: []}
    cpu: dict[str, list[float]] = {kept: [], bare: []}  # the loader's and the server's, which the load on the
    meter = CpuMeter(kept)  # machine changes much less than the wall clock
    columns = ("kept s", "bare s", "ratio", "kept CPU s", "bare CPU s", "ratio")
    print(f"{'round':>5} {'items':>8} " + " ".join(f"{c:>{max(len(c), 8)}}" for c in columns))
    for n, part in enumerate(split(items, args.items, args.rounds)):
        for url in (kept, bare) if n % 2 == 0 else (bare, kept):
            command = [pypgstac, "load", "items", str(part), "--dsn", url, "--method", args.method]
            meter.start()
            seconds[url].append(timed(command))
            cpu[url].append(sum(meter.stop().values()))
        with_s, without_s = seconds[kept][-1], seconds[bare][-1]
        print(
            f"{n:5} {sum(1 for _ in part.open('rb')):8} {with_s:8.1f} {without_s:8.1f} {with_s / without_s:8.3f} "
            f"{cpu[kept][-1]:10.1f} {cpu[bare][-1]:10.1f} {cpu[kept][-1] / cpu[bare][-1]:8.3f}"
        )
    in_trigger = (
        count(
            kept,
            "SELECT coalesce(sum(total_time), 0)::bigint FROM pg_stat_user_functions WHERE funcname = 'sync_inventory'",
        )
        / 1000
    )
    loaded = count(kept, "SELECT count(*) FROM pgstac.items")
    rows = count(kept, "SELECT count(*) FROM hesp.inventory")
    if loaded != args.items or count(bare, "SELECT count(*) FROM pgstac.items") != args.items or rows < loaded:
        raise SystemExit(f"loaded {loaded} items ({rows} inventory rows) of {args.items}")
    with_s, without_s = sum(seconds[kept]), sum(seconds[bare])
    print(f"{'pypgstac load --method ' + args.method:40} {'seconds':>8} {'items/s':>9}")
    print(f"{'  with the inventory':40} {with_s:8.1f} {args.items / with_s:9.0f}")
    print(f"{'  without':40} {without_s:8.1f} {args.items / without_s:9.0f}")
    print(f"wall clock: {with_s / without_s - 1:+.1%} with the inventory ({rows} rows)")
    print(f"CPU (loader and server): {sum(cpu[kept]) / sum(cpu[bare]) - 1:+.1%} with the inventory")
    print(
        f"in hesp.sync_inventory: {in_trigger:.1f} s, {in_trigger / with_s:.1%} of the load with it, "
        f"{in_trigger / args.items * 1e6:.0f} µs per item"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--tiles", type=int, default=5_000)
    parser.add_argument("--phases", choices=("loads", "inventory"), default="loads", help="what to measure")
    parser.add_argument("--rounds", type=int, default=10, help="slices of the inventory phase")
    parser.add_argument("--method", default="insert", help="pypgstac load method of the inventory phase")
    parser.add_argument("--archive", type=int, default=None, help="product folders of the archive case")
    parser.add_argument("--kill-at", type=float, default=0.5, help="share committed when the first run is killed")
    parser.add_argument("--home", type=Path, default=None, help="HESP_HOME of the benchmark cluster")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hesp-bench-", dir="/var/tmp"))
    work.chmod(0o755)
    home = args.home or work / "home"
    catalog = Catalog(Settings(home=home, database_url=None, port=54399))
    try:
        measure(args, work, catalog.url())
    finally:  # the items and databases take gigabytes
        catalog.down()
        shutil.rmtree(work)


def measure(args: argparse.Namespace, work: Path, admin_url: str) -> None:
    template_url = fresh_database(admin_url, "template0", "bench_template")
    Catalog(Settings(database_url=template_url)).init()
    if args.archive:
        archive_case(args, work, admin_url)
        return
    items = work / "items.ndjson"
    started = time.perf_counter()
    generate(items, args.items, args.tiles)
    print(
        f"generated {args.items} items over {args.tiles} tiles in {time.perf_counter() - started:.1f} s "
        f"({items.stat().st_size / 1e6:.0f} MB of NDJSON)"
    )
    if args.phases == "inventory":
        inventory_case(args, items, admin_url)
    else:
        loads_case(args, items, admin_url)


if __name__ == "__main__":
    main()
