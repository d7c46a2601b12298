"""The dashboard and the metrics with 10,000 requested tiles, against baselines measured in the same run.

    .venv/bin/python benchmarks/dashboard.py [--tiles 10000] [--acquisitions 73] [--browser]

1. An inventory written straight into ``hesp.inventory`` (benchmarks/gaps_inventory.sql: L1C every 5 days, the
   L2A of 90 % of them, CAMS, DEM) and one request for maja-l2a on every tile.
2. ``hesp serve`` in its own process; each dashboard request timed from a client as a browser sends it
   (compressed), best of three.
3. Baselines, same database, same run: the per-collection gap summary (``hesp gaps --summary``'s query, in
   process) for the per-tile completeness; the footprints read straight from PostgreSQL for the tile layer.
4. With ``--browser``: the page in headless Chromium until its 10,000 tiles are drawn in their colours, against
   the same page's JSON fetched by the browser one document after the other, without drawing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
from gaps import fill_inventory, fresh_database

from hygor import Catalog, Settings
from hymotep.production import Production
from hymotep.work_units import STATES, GapFilter

BIN = Path(sys.executable).parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def best_of(action: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


@contextmanager
def hesp_serve(env: dict[str, str], port: int) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(BIN / "hesp"), "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/_mgmt/ping", timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def footprints_from_sql(url: str) -> None:
    """The requested tiles' footprints as they are stored, read with psycopg."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "SELECT t.id, ST_AsGeoJSON(t.footprint) FROM hesp.tiles t"
            " WHERE t.id IN (SELECT tile FROM hesp.request_tiles) ORDER BY t.id"
        ).fetchall()


def time_requests(url: str, tile: str) -> dict[str, tuple[float, int]]:
    """Best time and transferred size of each request of the page."""
    paths = {
        "tile footprints": "/dashboard/api/tiles",
        "completeness per tile": "/dashboard/api/completeness?collection=maja-l2a",
        "overview (requests, jobs, failures)": "/dashboard/api/overview",
        "one tile's products and gaps": f"/dashboard/api/tiles/{tile}?collection=maja-l2a",
        "/metrics (cached units and items)": "/metrics",
    }
    results = {}
    with httpx.Client(base_url=url, timeout=600, headers={"Accept-Encoding": "br, gzip"}) as client:
        first_scrape = best_of(lambda: client.get("/metrics").raise_for_status(), repeat=1)
        results["/metrics (first scrape)"] = (first_scrape, 0)
        for name, path in paths.items():
            size = client.get(path).raise_for_status().num_bytes_downloaded
            results[name] = (best_of(lambda p=path: client.get(p).raise_for_status()), size)  # type: ignore[misc]
    return results


def time_browser(url: str) -> tuple[float, float]:
    """Seconds until the page's tiles are drawn, and until the browser has fetched the same JSON alone."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})

        def draw() -> None:
            page.goto(f"{url}/dashboard?collection=maja-l2a")
            page.evaluate("() => window.hesp.ready")

        def fetch_only() -> None:
            page.evaluate(
                """async () => {
                     for (const path of ['/dashboard/api/countries', '/dashboard/api/tiles', '/dashboard/api/overview',
                                         '/dashboard/api/completeness?collection=maja-l2a']) {
                       await (await fetch(path, {cache: 'no-store'})).json();
                     }
                   }"""
            )

        drawn = best_of(draw)
        fetched = best_of(fetch_only)
        browser.close()
    return drawn, fetched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiles", type=int, default=10_000)
    parser.add_argument("--acquisitions", type=int, default=73, help="L1C per tile, every 5 days (73: a year)")
    parser.add_argument("--browser", action="store_true", help="also time the page in headless Chromium")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hesp-bench-dashboard-", dir="/var/tmp"))
    work.chmod(0o755)
    catalog = Catalog(Settings(home=work / "home", database_url=None, port=54396))
    admin_url = catalog.url()
    template_url = fresh_database(admin_url, "template0", "bench_template")
    Production(Catalog(Settings(database_url=template_url))).init()
    url = fresh_database(admin_url, "bench_template", "bench_dashboard")
    started = time.perf_counter()
    fill_inventory(url, args.tiles, args.acquisitions)
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT count(*) FROM hesp.inventory").fetchone()
        tile = conn.execute("SELECT min(tile) FROM hesp.request_tiles").fetchone()
    assert rows is not None and tile is not None
    print(f"{rows[0]:,} inventory rows over {args.tiles:,} requested tiles in {time.perf_counter() - started:.0f} s")

    production = Production(Catalog(Settings(database_url=url)))
    summary_s = best_of(lambda: production.gap_summary(GapFilter(states=STATES)))
    footprints_s = best_of(lambda: footprints_from_sql(url))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESP_")} | {"HESP_DATABASE_URL": url}
    with hesp_serve(env, port=54395) as served:
        results = time_requests(served, tile[0])
        browser = time_browser(served) if args.browser else None

    baselines = {"tile footprints": footprints_s, "completeness per tile": summary_s}
    print(f"\nbaselines: footprints from SQL {footprints_s:.2f} s, gap summary per collection {summary_s:.2f} s")
    print(f"{'request':38} {'seconds':>8} {'sent':>9} {'vs baseline':>12}")
    for name, (seconds, size) in results.items():
        ratio = f"{seconds / baselines[name]:.2f}x" if name in baselines else ""
        sent = f"{size / 1e6:6.2f} MB" if size else ""
        print(f"{name:38} {seconds:8.2f} {sent:>9} {ratio:>12}")
    if browser:
        drawn, fetched = browser
        print(f"\nbrowser: tiles drawn in {drawn:.2f} s; the same JSON fetched alone {fetched:.2f} s"
              f" ({drawn / fetched:.2f}x)")  # fmt: skip
    catalog.down()


if __name__ == "__main__":
    main()
