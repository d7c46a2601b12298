"""STAC API under load: ``hesp serve`` against stock stac-fastapi-pgstac on the same database, same run.

    .venv/bin/python benchmarks/api.py [--items 1000000] [--tiles 10000] [--seconds 20] [--clients 4,16]
                                       [--home /var/tmp/hesp-apibench] [--stock-workers 1]

1. A catalogue of ``--items`` items, half Sentinel-2 L1C (benchmarks/ingest.py's generator: real tiles and
   footprints, 17 assets) and half MAJA L2A (a real MUSCATE metadata document read by the project's reader, its
   product name, tile, date and cloud cover varied), over ``--tiles`` land tiles, acquisitions every 5 days from
   2022. It is built once with ``pypgstac load --method insert`` in an embedded cluster under ``--home`` and
   reused by later runs (about 25 minutes for a million items on 2 cores).
2. Both servers on the one database: ``hesp serve`` (its default workers) and stock stac-fastapi-pgstac
   (``uvicorn stac_fastapi.pgstac.app:create_app --factory``, as its README runs it, ``--stock-workers``
   processes), with the same pgSTAC roles' rights (the catalogue's owner).
3. For each query and each number of concurrent clients, ``wrk`` (Debian's package; ``apt-get install wrk``)
   against each server in turn for ``--seconds``: requests/s and p50/p99 latency, and the ratio hesp/stock. The
   time series pages through one tile's MAJA L2A to the end, following ``next`` links, from as many client
   threads: pages/s. The last query is the grid:code search with each request on a tile drawn at random (a
   ``wrk`` Lua script): pages that neither server has in any cache.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import psycopg
from ingest import generate
from psycopg.conninfo import conninfo_to_dict

from hygor import Catalog, Settings
from hygor.grid import all_tiles, land_tiles
from hygor.items import stac_datetime, tiled_item
from hygor.readers import reader

BIN = Path(sys.executable).parent
TESTS = Path(__file__).resolve().parents[1] / "tests"
DATABASE = "apibench"
TILE = "31TCH"
FIRST = datetime(2022, 1, 1, 10, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Query:
    name: str
    path: str
    others: tuple[str, ...] = ()  # when given, each request takes one of these at random instead (wrk's Lua)


def grid_code_search(tile: str, limit: int) -> str:
    cql = quote(f"grid:code = 'MGRS-{tile}'")
    return f"/search?collections=maja-l2a&filter-lang=cql2-text&filter={cql}&limit={limit}"


def queries(tile_count: int) -> list[Query]:
    """The issue's four queries, then the grid:code search over every tile at random: pages that no cache of the
    server has seen."""
    tiles = sorted(land_tiles())[:tile_count]
    return [
        Query(
            "/search collections + bbox + datetime, limit 10",
            "/search?collections=sentinel-2-l1c&bbox=1.0,43.0,2.0,44.0"
            "&datetime=2022-03-01T00:00:00Z/2022-06-30T23:59:59Z&limit=10",
        ),
        Query("/collections/sentinel-2-l1c/items?limit=100", "/collections/sentinel-2-l1c/items?limit=100"),
        Query(f"/search CQL2 grid:code = 'MGRS-{TILE}' on maja-l2a, limit 50", grid_code_search(TILE, 50)),
        Query("/collections", "/collections"),
        Query(
            "/search CQL2 grid:code on maja-l2a, a random tile, lim. 50",
            grid_code_search(TILE, 50),
            tuple(grid_code_search(tile, 50) for tile in tiles),
        ),
    ]


# -- the catalogue ----------------------------------------------------------------------------------------------


def maja_template(work: Path) -> dict[str, Any]:
    """A MAJA L2A item as the project's reader makes it from a MUSCATE product's metadata."""
    sys.path.insert(0, str(TESTS))
    from products import write_muscate_l2a

    folder = write_muscate_l2a(work / "template", tile=TILE, with_rasters=False)
    return reader("theia-muscate").read(folder)[0]


def generate_maja(path: Path, count: int, tile_count: int, template: dict[str, Any]) -> None:
    """``count`` MAJA L2A items: the template's properties and assets under other names, tiles and dates."""
    tiles = [all_tiles()[t] for t in sorted(land_tiles())[:tile_count]]
    template_id = template["id"]
    assets = orjson.dumps(template["assets"]).decode()
    tile_keys = ("grid:code", "mgrs:", "proj:")  # tiled_item sets them from the tile
    properties = {k: v for k, v in template["properties"].items() if not k.startswith(tile_keys)}
    with path.open("wb") as out:
        for n in range(count):
            tile = tiles[n % len(tiles)]
            when = FIRST + timedelta(days=5 * (n // len(tiles)), seconds=(n * 7919) % 3600)
            item_id = f"SENTINEL2A_{when:%Y%m%d-%H%M%S}-000_L2A_T{tile.id}_C_V4-0"
            item = tiled_item(
                item_id=item_id,
                collection="maja-l2a",
                tile=tile,
                properties=properties
                | {"datetime": stac_datetime(when), "eo:cloud_cover": (n * 37) % 91, "processing:version": "4.0"},
                assets=orjson.loads(assets.replace(template_id, item_id)),
            )
            out.write(orjson.dumps(item) + b"\n")


def database_url(catalog: Catalog) -> str:
    return catalog.url().rsplit("/", 1)[0] + "/" + DATABASE


def built(url: str, items: int) -> bool:
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM pgstac.items").fetchone()
    except psycopg.OperationalError:
        return False
    return row is not None and row[0] == items


def build(catalog: Catalog, items: int, tile_count: int) -> str:
    url = database_url(catalog)
    if built(url, items):
        print(f"reusing the catalogue of {items:,} items in {catalog.settings.home}")
        return url
    admin = catalog.url()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    Catalog(Settings(database_url=url)).init()
    work = Path(tempfile.mkdtemp(prefix="hesp-apibench-", dir="/var/tmp"))
    try:
        files = {"sentinel-2-l1c": work / "l1c.ndjson", "maja-l2a": work / "l2a.ndjson"}
        started = time.perf_counter()
        generate(files["sentinel-2-l1c"], items // 2, tile_count)
        generate_maja(files["maja-l2a"], items - items // 2, tile_count, maja_template(work))
        print(f"generated {items:,} items in {time.perf_counter() - started:.0f} s")
        for collection, path in files.items():
            started = time.perf_counter()
            command = [str(BIN / "pypgstac"), "load", "items", str(path), "--dsn", url, "--method", "insert"]
            subprocess.run(command, check=True, capture_output=True)
            print(f"loaded {collection} in {time.perf_counter() - started:.0f} s")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    finally:
        shutil.rmtree(work)
    return url


# -- the servers ------------------------------------------------------------------------------------------------


def stock_env(url: str) -> dict[str, str]:
    parts = conninfo_to_dict(url)
    return os.environ | {
        "PGUSER": str(parts["user"]),
        "PGPASSWORD": str(parts.get("password", "")),
        "PGHOST": str(parts.get("host", "127.0.0.1")),
        "PGPORT": str(parts.get("port", 5432)),
        "PGDATABASE": str(parts["dbname"]),
    }


@contextmanager
def server(command: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(f"{base}/collections", timeout=5).raise_for_status()
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{command[0]} did not start") from None
                time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        process.wait(30)


# -- measuring --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


LATENCY = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


RANDOM_PATHS = """
local counter = 0
function setup(thread) counter = counter + 1; thread:set("id", counter) end
function init(args) math.randomseed(id * 7919 + os.time()) end
function request() return wrk.format(nil, paths[math.random(#paths)]) end
"""


def wrk(base: str, query: Query, clients: int, seconds: int) -> Figures:
    threads = min(clients, 2)
    command = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds}s", "--latency", "-H", "Accept-Encoding: gzip"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        if query.others:
            script.write("paths = {" + ",".join(f'"{path}"' for path in query.others) + "}\n" + RANDOM_PATHS)
            script.flush()
            command += ["-s", script.name]
        out = subprocess.run([*command, base + query.path], check=True, capture_output=True, text=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    latencies = {p: float(v) * UNITS[u] for p, v, u in LATENCY.findall(out)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if rate is None or "50" not in latencies:
        raise SystemExit(f"wrk printed no figures:\n{out}")
    failed = int(errors.group(1)) if errors else 0
    return Figures(float(rate.group(1)), latencies["50"], latencies.get("99", float("nan")), failed)


def time_series(base: str, clients: int, seconds: int) -> Figures:
    """Pages of one tile's MAJA L2A followed to the end by ``clients`` threads, again until ``seconds`` pass."""
    first = base + grid_code_search(TILE, 10)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def reader_loop() -> None:
        with httpx.Client(timeout=60) as client:
            while time.monotonic() < deadline:
                url: str | None = first
                while url and time.monotonic() < deadline:
                    started = time.perf_counter()
                    response = client.get(url)
                    elapsed = (time.perf_counter() - started) * 1000
                    with lock:
                        latencies.append(elapsed)
                        errors[0] += response.status_code != 200
                    links = response.json().get("links", []) if response.status_code == 200 else []
                    url = next((link["href"] for link in links if link.get("rel") == "next"), None)

    threads = [threading.Thread(target=reader_loop) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return Figures(
        len(ordered) / elapsed,
        statistics.median(ordered),
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        errors[0],
    )


def series_pages(base: str) -> int:
    url: str | None = base + grid_code_search(TILE, 10)
    pages = 0
    ids: list[str] = []
    while url:
        page = httpx.get(url, timeout=60).json()
        ids += [feature["id"] for feature in page["features"]]
        pages += 1
        url = next((link["href"] for link in page.get("links", []) if link.get("rel") == "next"), None)
    if len(ids) != len(set(ids)):
        raise SystemExit(f"{base}: the time series repeats items")
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--tiles", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--clients", default="4,16", help="concurrent clients, comma-separated")
    parser.add_argument("--home", type=Path, default=Path("/var/tmp/hesp-apibench"))
    parser.add_argument("--stock-workers", type=int, default=1)
    parser.add_argument("--build-only", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")

    catalog = Catalog(Settings(home=args.home, database_url=None, port=54398))
    url = build(catalog, args.items, args.tiles)
    if args.build_only:
        return
    hesp_env = {k: v for k, v in os.environ.items() if not k.startswith("HESP_")} | {"HESP_DATABASE_URL": url}
    servers = {
        "hesp": ([str(BIN / "hesp"), "serve", "--port", "8711"], hesp_env, 8711),
        "stock": (
            [str(BIN / "uvicorn"), "stac_fastapi.pgstac.app:create_app", "--factory", "--port", "8712",
             "--workers", str(args.stock_workers), "--log-level", "warning"],
            stock_env(url),
            8712,
        ),
    }  # fmt: skip
    clients = [int(c) for c in args.clients.split(",")]
    results: dict[tuple[str, int, str], Figures] = {}
    for name, (command, env, port) in servers.items():
        with server(command, env, port) as base:
            print(f"{name}: a tile's time series is {series_pages(base)} pages of 10")
            for query in queries(args.tiles):
                for n in clients:
                    wrk(base, query, n, 2)  # warm the caches and pools
                    results[(query.name, n, name)] = wrk(base, query, n, args.seconds)
            for n in clients:
                results[("time series of a tile, pages of 10 to the end", n, name)] = time_series(base, n, args.seconds)

    print(f"\n{'query':62} {'clients':>7} {'hesp req/s':>10} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'stock req/s':>11} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6}")  # fmt: skip
    for query_name in dict.fromkeys(key[0] for key in results):
        for n in clients:
            ours, theirs = results[(query_name, n, "hesp")], results[(query_name, n, "stock")]
            flag = " (errors)" if ours.errors or theirs.errors else ""
            print(
                f"{query_name:62} {n:7} {ours.per_second:10.1f} {ours.p50_ms:7.0f} {ours.p99_ms:7.0f} "
                f"{theirs.per_second:11.1f} {theirs.p50_ms:7.0f} {theirs.p99_ms:7.0f} "
                f"{ours.per_second / theirs.per_second:6.2f}{flag}"
            )


if __name__ == "__main__":
    main()
