"""Gap computation at scale: ``hesp gaps`` against paging the STAC API with pystac-client, same run.

    .venv/bin/python benchmarks/gaps.py [--tiles 5000] [--acquisitions 110] [--scale-tiles 10000]

1. Real items: over ``--tiles`` land tiles, ``--acquisitions`` Sentinel-2 L1C per tile (every 5 days), the MAJA L2A
   of 90 % of them (one in ten of those too cloudy: invalid), a CAMS field a day and a DEM per tile, loaded into
   pgSTAC with ``pypgstac load --method insert``; the inventory is filled by its trigger. One request asks for
   maja-l2a on every tile.
2. ``hesp gaps`` (summary, and the full list as CSV and JSON): every unit's state, reason and MAJA mode. Each is
   a subprocess timed from start to exit (the CLI's own start-up included, reported apart), best of three, with
   the processor seconds of that run (the command's and PostgreSQL's: on a shared machine, wall clock follows the
   other loads); peak RSS of the process.
3. Baseline, the approach without this project: page through the STAC API (``hesp serve`` in its own process)
   with pystac-client for the L1C and L2A of a subset of tiles, and diff in Python (an L1C without an L2A of the
   same tile within 6 hours is missing). Its time is scaled linearly to the whole inventory.
4. With ``--scale-tiles``: an inventory of ten million rows written straight into ``hesp.inventory`` (the only
   table gaps read; loading 10 M items through pgSTAC would take hours here), timed the same way.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
from cpu import CpuMeter
from psycopg import sql
from pystac_client import Client

from hygor import Catalog, Settings
from hygor.grid import all_tiles, land_tiles
from hygor.items import stac_datetime
from hygor.sql import load_queries
from hymotep.production import Production

BIN = Path(sys.executable).parent
HERE = Path(__file__).parent
FIRST = datetime(2022, 1, 1, 10, 30, tzinfo=UTC)
L2A_DELAY = timedelta(minutes=2)
REQUEST = """name: everywhere
requester: {name: Benchmark}
zone: {tiles: [%s]}
chains: [maja-l2a]
period: {start: 2022-01-01}
"""


def items(tile_ids: list[str], acquisitions: int) -> Iterator[dict[str, Any]]:
    """L1C, L2A, DEM items of the tiles and a CAMS field a day, as compact as pgSTAC accepts them."""
    rng = random.Random(42)
    grid = all_tiles()
    for tile_id in tile_ids:
        tile = grid[tile_id]
        box = tile.footprint().envelope
        geometry = orjson.loads(orjson.dumps(box.__geo_interface__))
        base = {
            "type": "Feature",
            "stac_version": "1.1.0",
            "geometry": geometry,
            "bbox": list(box.bounds),
            "links": [],
            "assets": {"product": {"href": f"/data/{tile_id}", "roles": ["data"]}},  # fetchable: gaps count it
        }
        code = f"MGRS-{tile_id}"
        yield {
            **base,
            "id": f"DEM_{tile_id}",
            "collection": "dem-tiles",
            "properties": {"datetime": "2000-02-11T00:00:00Z", "grid:code": code},
        }
        for n in range(acquisitions):
            when = FIRST + timedelta(days=5 * n, seconds=rng.randrange(600))
            yield {
                **base,
                "id": f"L1C_{tile_id}_{when:%Y%m%dT%H%M%S}",
                "collection": "sentinel-2-l1c",
                "properties": {"datetime": stac_datetime(when), "grid:code": code},
            }
            if rng.random() < 0.9:
                made = when + L2A_DELAY
                properties = {
                    "datetime": stac_datetime(made),
                    "grid:code": code,
                    "processing:version": "4.10.0",
                    "hesp:valid": rng.random() >= 0.1,
                }
                yield {
                    **base,
                    "id": f"L2A_{tile_id}_{made:%Y%m%dT%H%M%S}",
                    "collection": "maja-l2a",
                    "properties": properties,
                }
    world = {"type": "Polygon", "coordinates": [[[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]]}
    for day in range(5 * acquisitions + 1):
        when = FIRST.replace(hour=0, minute=0) + timedelta(days=day)
        yield {
            "type": "Feature",
            "stac_version": "1.1.0",
            "id": f"CAMS_{when:%Y%m%d}",
            "collection": "cams-aerosol",
            "geometry": world,
            "bbox": [-180, -90, 180, 90],
            "links": [],
            "assets": {"product": {"href": f"/data/CAMS_{when:%Y%m%d}.nc", "roles": ["data"]}},
            "properties": {"datetime": stac_datetime(when)},
        }


def load_items(url: str, env: dict[str, str], work: Path, tiles: int, acquisitions: int) -> None:
    """The items through pgSTAC (the trigger fills the inventory) and the request for all their tiles."""
    tile_ids = sorted(land_tiles())[:tiles]
    ndjson = work / "items.ndjson"
    started = time.perf_counter()
    with ndjson.open("wb") as out:
        for item in items(tile_ids, acquisitions):
            out.write(orjson.dumps(item) + b"\n")
    print(f"generated the items in {time.perf_counter() - started:.0f} s ({ndjson.stat().st_size / 1e6:.0f} MB)")
    started = time.perf_counter()
    run([str(BIN / "pypgstac"), "load", "items", str(ndjson), "--dsn", url, "--method", "insert"], env)
    print(f"loaded them into pgSTAC in {time.perf_counter() - started:.0f} s (the trigger fills the inventory)")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE hesp.inventory")
    request = work / "request.yaml"
    request.write_text(REQUEST % ", ".join(tile_ids))
    run([str(BIN / "hesp"), "request", "add", str(request)], env)


def fresh_database(admin_url: str, template: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
    return admin_url.rsplit("/", 1)[0] + "/" + name


@dataclass(frozen=True)
class Timing:
    seconds: float  # wall clock, best of the runs
    cpu_hesp: float  # processor seconds of that run: the command's, and PostgreSQL's
    cpu_postgres: float
    peak_kib: int  # the command's peak RSS over the runs
    output_bytes: int


def run(command: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(command, env=env, capture_output=True, **kwargs)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed: {done.stderr.decode()[-2000:]}")
    return done


def timed(command: list[str], env: dict[str, str], repeat: int = 3) -> Timing:
    """Best wall time of ``repeat`` runs, with the processor time of that run (the command's and PostgreSQL's),
    peak RSS (KiB) and output size (bytes) of the command."""
    meter = CpuMeter(env["HESP_DATABASE_URL"])
    best, peak, size = Timing(float("inf"), 0.0, 0.0, 0, 0), 0, 0
    for _ in range(repeat):
        meter.start()
        started = time.perf_counter()
        with tempfile.TemporaryFile() as out:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            if process.returncode != 0:
                raise SystemExit(f"{' '.join(command[1:4])} failed with exit code {process.returncode}")
            size = out.tell()
        seconds, cpu = time.perf_counter() - started, meter.stop()
        peak = max(peak, usage.ru_maxrss)
        if seconds < best.seconds:
            best = Timing(seconds, usage.ru_utime + usage.ru_stime, cpu["PostgreSQL"], 0, 0)
    return replace(best, peak_kib=peak, output_bytes=size)


def inventory_size(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT tile) FROM hesp.inventory").fetchone()
        assert row is not None
        return int(row[0]), int(row[1])


def time_gaps(env: dict[str, str]) -> dict[str, Timing]:
    hesp = str(BIN / "hesp")
    return {
        "hesp --version (start-up only)": timed([hesp, "--version"], env),
        "hesp gaps --summary": timed([hesp, "gaps", "--summary"], env),
        "hesp gaps --list --format csv": timed([hesp, "gaps", "--list", "--format", "csv"], env),
        "hesp gaps --list --format json": timed([hesp, "gaps", "--list", "--format", "json"], env),
    }


def baseline(env: dict[str, str], tile_ids: list[str], port: int) -> tuple[float, int, int]:
    """pystac-client over the STAC API for ``tile_ids``: seconds, items read, missing L2A found."""
    server = subprocess.Popen([str(BIN / "hesp"), "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                Client.open(url)
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("hesp serve did not start") from None
                time.sleep(0.5)
        started = time.perf_counter()
        client = Client.open(url)
        codes = [f"MGRS-{t}" for t in tile_ids]
        seen: dict[str, list[tuple[str, datetime]]] = {"sentinel-2-l1c": [], "maja-l2a": []}
        for collection, found in seen.items():
            where = {"op": "in", "args": [{"property": "grid:code"}, codes]}
            search = client.search(collections=[collection], filter=where, filter_lang="cql2-json", limit=1000)
            for page in search.pages_as_dicts():
                for item in page["features"]:
                    when = datetime.fromisoformat(item["properties"]["datetime"].replace("Z", "+00:00"))
                    found.append((item["properties"]["grid:code"], when))
        made: dict[str, list[datetime]] = {}
        for code, when in seen["maja-l2a"]:
            made.setdefault(code, []).append(when)
        window = timedelta(hours=6)
        missing = sum(
            1 for code, when in seen["sentinel-2-l1c"] if not any(abs(when - t) <= window for t in made.get(code, []))
        )
        return time.perf_counter() - started, sum(len(v) for v in seen.values()), missing
    finally:
        server.terminate()
        server.wait(timeout=30)


def fill_inventory(url: str, tiles: int, acquisitions: int) -> None:
    """Ten million rows straight into hesp.inventory and one request, by SQL (benchmarks/gaps_inventory.sql)."""
    statements = load_queries((HERE / "gaps_inventory.sql").read_text())
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements.values():
            conn.execute(statement, {"tiles": tiles, "acquisitions": acquisitions})
        conn.execute("VACUUM ANALYZE hesp.inventory")


def report(title: str, items_count: int, tiles: int, results: dict[str, Timing], baseline_s: float) -> None:
    print(f"\n{title}: {items_count:,} inventory rows over {tiles:,} tiles")
    columns = {"seconds": 8, "CPU: hesp": 10, "PostgreSQL": 11, "peak RSS": 9, "output": 9, "vs baseline": 12}
    print(f"{'command':34} " + " ".join(f"{name:>{width}}" for name, width in columns.items()))
    for name, t in results.items():
        ratio = f"{baseline_s / t.seconds:,.0f}x" if "gaps" in name else ""
        print(
            f"{name:34} {t.seconds:8.2f} {t.cpu_hesp:10.2f} {t.cpu_postgres:11.2f} {t.peak_kib / 1024:7.0f} MB"
            f" {t.output_bytes / 1e6:7.1f} MB {ratio:>12}"
        )
    print(f"{'baseline (pystac-client), scaled':34} {baseline_s:8.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiles", type=int, default=5_000)
    parser.add_argument("--acquisitions", type=int, default=110, help="L1C per tile, every 5 days")
    parser.add_argument("--baseline-tiles", type=int, default=50)
    parser.add_argument("--scale-tiles", type=int, default=0, help="tiles of the 10 M-row inventory (0: skip)")
    parser.add_argument("--scale-acquisitions", type=int, default=530)
    parser.add_argument("--work", type=Path, help="the folder of an earlier run: reuse its loaded items")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="hesp-bench-gaps-", dir="/var/tmp"))
    work.chmod(0o755)
    catalog = Catalog(Settings(home=work / "home", database_url=None, port=54398))
    admin_url = catalog.url()
    url = admin_url.rsplit("/", 1)[0] + "/bench_gaps"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESP_")} | {"HESP_DATABASE_URL": url}
    if not args.work:
        template_url = fresh_database(admin_url, "template0", "bench_template")
        Production(Catalog(Settings(database_url=template_url))).init()
        load_items(fresh_database(admin_url, "bench_template", "bench_gaps"), env, work, args.tiles, args.acquisitions)
    tile_ids = sorted(land_tiles())[: args.tiles]
    rows, tiles = inventory_size(url)

    base_s, base_items, missing = baseline(env, tile_ids[: args.baseline_tiles], port=54397)
    scaled = base_s * rows / base_items
    print(
        f"baseline: {base_items:,} items of {args.baseline_tiles} tiles in {base_s:.1f} s ({base_items / base_s:,.0f}"
        f" items/s, {missing} L1C without L2A); scaled to {rows:,} rows: {scaled:,.0f} s"
    )
    report("real items", rows, tiles, time_gaps(env), scaled)

    if args.scale_tiles:
        big = fresh_database(admin_url, "bench_template", "bench_gaps_10m")
        started = time.perf_counter()
        fill_inventory(big, args.scale_tiles, args.scale_acquisitions)
        rows, tiles = inventory_size(big)
        print(f"\nwrote {rows:,} inventory rows in {time.perf_counter() - started:.0f} s")
        big_env = env | {"HESP_DATABASE_URL": big}
        report("inventory only", rows, tiles, time_gaps(big_env), base_s * rows / base_items)
    catalog.down()


if __name__ == "__main__":
    main()
