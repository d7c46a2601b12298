"""The processor time of one API request, the API in this process with its client (``httpx.ASGITransport``): no
network, no other server process, so that what one version of the code costs can be set against another's.

    .venv/bin/python benchmarks/api_requests.py [--database-url URL] [--requests 40]

Runs against the million-item catalogue of ``benchmarks/api.py`` (its embedded cluster in
``/var/tmp/hesp-apibench``, started if needed) unless ``--database-url`` names another with the same collections.
Each query is asked a few times first, then ``--requests`` times, timed (wall and this process's CPU); "new
tiles" asks the grid:code search of a different tile each time, none of them asked before in the process.
To compare with an older version of the package, run the same script with ``PYTHONPATH`` pointing at an export
of that version (``git archive <commit> hygor | tar -x -C /tmp/old``).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import httpx
from api import DATABASE, TILE, grid_code_search

from hygor import Catalog, Settings
from hygor.api.app import create_app
from hygor.db import Database
from hygor.grid import land_tiles

QUERIES = {
    "grid:code page of 50 MAJA L2A, repeated": grid_code_search(TILE, 50),
    "items page of 100 L1C, repeated": "/collections/sentinel-2-l1c/items?limit=100",
    "/collections, repeated": "/collections",
}


async def timed(client: httpx.AsyncClient, paths: list[str]) -> tuple[float, float]:
    """Milliseconds of wall and CPU time per request over ``paths``."""
    wall, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        answer = await client.get(path, headers={"Accept-Encoding": "gzip"})
        answer.raise_for_status()
    return (time.perf_counter() - wall) * 1000 / len(paths), (time.process_time() - cpu) * 1000 / len(paths)


async def measure(url: str, requests: int) -> None:
    app = create_app(Database(url))
    tiles = sorted(land_tiles())[: 10_000 : 10_000 // (requests + 5)]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            print(f"{'query':44} {'wall ms':>8} {'CPU ms':>8}")
            for name, path in QUERIES.items():
                await timed(client, [path] * 5)
                wall, cpu = await timed(client, [path] * requests)
                print(f"{name:44} {wall:8.1f} {cpu:8.1f}")
            paths = [grid_code_search(tile, 50) for tile in tiles]
            await timed(client, paths[:5])
            wall, cpu = await timed(client, paths[5 : 5 + requests])
            print(f"{'grid:code page of 50 MAJA L2A, new tiles':44} {wall:8.1f} {cpu:8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url")
    parser.add_argument("--home", type=Path, default=Path("/var/tmp/hesp-apibench"))
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    url = args.database_url
    if url is None:
        catalog = Catalog(Settings(home=args.home, database_url=None, port=54398))
        url = catalog.url().rsplit("/", 1)[0] + "/" + DATABASE
    asyncio.run(measure(url, args.requests))


if __name__ == "__main__":
    main()
