"""Searches keep answering while writers fill the same partitions: a real ``hesp serve`` (two processes) searched
by four clients while a ``hesp ingest`` loads items over several yearly partitions of surfwater-water and a
``hesp run`` registers the products of its jobs into the same collection."""

from __future__ import annotations

import json
import subprocess
import threading
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from conftest import HESP, REPO, Server, hesp
from run_scenario import build
from stac_items import l2a_item

COLLECTION = "surfwater-water"
INGESTED = 1_000
READERS = 4
READS_EACH = 400  # at most, per reader; they stop when the writers are done
WRITERS_S = 300


def ingested_items(count: int) -> list[dict[str, Any]]:
    """Items of 31TDJ (the run makes 31TCJ) from 2014 to 2023, forward in time: batches widen a yearly partition and
    create the next one."""
    start = datetime(2014, 1, 2, 10, 56)
    items = [l2a_item("31TDJ", start + timedelta(hours=87 * n), cloud_cover=float(n % 100)) for n in range(count)]
    return [{**item, "collection": COLLECTION} for item in items]


# Searches that match few items: pgSTAC reads partition after partition, newest first, for their page.
SEARCHES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/search", {"collections": [COLLECTION], "bbox": [0.0, 43.0, 3.0, 45.0], "limit": 20,
                         "datetime": "2014-01-01T00:00:00Z/2024-01-01T00:00:00Z",
                         "filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 1]}}),
    ("POST", "/search", {"collections": [COLLECTION], "filter-lang": "cql2-json", "limit": 50,
                         "filter": {"op": "=", "args": [{"property": "grid:code"}, "MGRS-31TCJ"]}}),
    ("GET", f"/collections/{COLLECTION}/items", {"limit": 100}),
    ("GET", "/search", {"collections": COLLECTION, "filter": "eo:cloud_cover = 50", "limit": 10}),
]  # fmt: skip


def read_until(server: Server, done: threading.Event, statuses: Counter[int], failures: list[str]) -> None:
    """Searches and item pages (following one next link) in a loop, until ``done`` or ``READS_EACH``."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for n in range(READS_EACH):
            if done.is_set():
                return
            method, path, params = SEARCHES[n % len(SEARCHES)]
            answer = client.post(path, json=params) if method == "POST" else client.get(path, params=params)
            pages = [answer]
            following = [link["href"] for link in answer.json().get("links", []) if link.get("rel") == "next"]
            if answer.status_code == 200 and following and method == "GET":
                pages.append(client.get(following[0]))
            for page in pages:
                statuses[page.status_code] += 1
                if page.status_code != 200:
                    failures.append(f"{method} {path}: {page.status_code} {page.text[:300]}")


def test_searches_answer_while_an_ingest_and_a_run_write_into_the_same_collection(db_url: str, tmp_path: Path) -> None:
    scenario = build(db_url, tmp_path)  # four jobs of surfwater-water on 31TCJ, in 2023
    items = ingested_items(INGESTED)
    source = tmp_path / "items.ndjson"
    source.write_text("".join(json.dumps(item) + "\n" for item in items))
    server = Server({"HESP_DATABASE_URL": db_url}, args=("--workers", "2"), wait_s=60)
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    done = threading.Event()
    readers = [threading.Thread(target=read_until, args=(server, done, statuses, failures)) for _ in range(READERS)]
    try:
        for reader in readers:
            reader.start()
        env = {**scenario.env}
        ingest = subprocess.Popen(
            [HESP, "ingest", str(source), "--archive", "--batch-size", "100", "--format", "json"],
            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        run = subprocess.Popen(
            [HESP, "run", "--collection", COLLECTION, "--workers", "2", "--backoff", "0"],
            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        ingested, ran = ingest.communicate(timeout=WRITERS_S)[0], run.communicate(timeout=WRITERS_S)[0]
    finally:
        done.set()
        for reader in readers:
            reader.join()
        errors = [line for line in server.output().splitlines() if "Error" in line]
        server.stop()

    assert not failures, failures[:3] + errors[:5]
    assert statuses[200] >= READERS, statuses
    assert ingest.returncode == 0, ingested
    assert run.returncode == 0, ran
    assert json.loads(ingested)["ingested"] == INGESTED
    assert scenario.states() == {"succeeded": 4}
    with psycopg.connect(db_url) as conn:
        stored = {row[0] for row in conn.execute("SELECT id FROM pgstac.items WHERE collection = %s", (COLLECTION,))}
        assert stored == {item["id"] for item in items} | set(scenario.products())
        assert len(scenario.products("31TCJ")) == 4
        inventory = inventory_rows(conn)
        conn.execute("SELECT hesp.rebuild_inventory(%s)", (COLLECTION,))
        assert inventory_rows(conn) == inventory
        conn.rollback()
    gaps = hesp("gaps", "--collection", COLLECTION, "--list", "--format", "json", env=scenario.env)
    assert json.loads(gaps.stdout) == [], gaps.stdout


def inventory_rows(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT * FROM hesp.inventory WHERE collection = %s ORDER BY 1, 2, 3", (COLLECTION,)).fetchall()
