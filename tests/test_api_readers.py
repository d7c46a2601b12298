"""The API for many readers: several server processes, searches that write nothing to pgSTAC's bookkeeping,
compressed responses, conditional GETs, the portals' filters indexed on every partition, and ``/collections``
answered without reading items."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from conftest import Server, free_port, hesp
from stac_items import l2a_item

from hygor.collections import INDEXED_QUERYABLES

ITEMS = "/collections/maja-l2a/items"


@pytest.fixture
def api(filled_db: str) -> Iterator[Server]:
    server = Server({"HESP_DATABASE_URL": filled_db}, args=("--workers", "2"))
    yield server
    server.stop()


def parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_two_worker_processes_serve_with_their_own_pools(api: Server, filled_db: str) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        for _ in range(10):
            assert client.get(ITEMS, params={"limit": 2}).status_code == 200
    with psycopg.connect(filled_db) as conn:
        names = conn.execute(
            "SELECT DISTINCT application_name FROM pg_stat_activity"
            " WHERE application_name LIKE 'hesp-api-pgstac_read-%' AND datname = current_database()"
        ).fetchall()
    workers = {int(name.rsplit("-", 1)[1]) for (name,) in names}
    assert len(workers) == 2, names
    assert {parent_pid(pid) for pid in workers} == {api.process.pid}  # children of `hesp serve`
    assert "2 server processes" in api.output()
    too_many = hesp("serve", "--port", str(free_port()), "--workers", "40", env={"HESP_DATABASE_URL": filled_db})
    assert too_many.returncode != 0 and "at most 6 workers" in too_many.stdout + too_many.stderr


def test_searches_write_no_bookkeeping_and_still_count(api: Server, filled_db: str) -> None:
    def bookkeeping() -> tuple[int, int]:
        with psycopg.connect(filled_db) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM pgstac.searches), (SELECT count(*) FROM pgstac.search_wheres)"
            ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    before = bookkeeping()
    with httpx.Client(base_url=api.url, timeout=30) as client:
        page = client.get("/search", params={"collections": "maja-l2a", "bbox": "0,42,4,46", "limit": 5}).json()
        assert page["numberMatched"] > 5 and len(page["features"]) == 5
        tile = client.post("/search", json={"collections": ["maja-l2a"], "filter": "\"grid:code\" = 'MGRS-31TCJ'"})
        assert tile.status_code == 200 and tile.json()["numberMatched"] >= 1
        assert client.get(ITEMS, params={"limit": 3}).json()["numberMatched"] > 3
    assert bookkeeping() == before


def test_responses_are_compressed_when_asked_with_one_etag(api: Server) -> None:
    """Compressed as the client asks (stac-fastapi's middleware); the ETag is of the JSON, whatever the coding."""
    with httpx.Client(base_url=api.url, timeout=30) as client:
        raw = client.get(ITEMS, params={"limit": 20}, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in raw.headers
        for coding in ("gzip", "br"):
            packed = client.get(ITEMS, params={"limit": 20}, headers={"Accept-Encoding": coding})
            assert packed.headers["content-encoding"] == coding and packed.json() == raw.json()
            assert int(packed.headers["content-length"]) < len(raw.content) / 3
            assert packed.headers["etag"] == raw.headers["etag"]
        page = client.get(ITEMS, params={"limit": 20}, headers={"Accept": "text/html", "If-None-Match": "*"})
        assert page.status_code == 200 and page.text.lstrip().lower().startswith("<!doctype html")


@pytest.fixture
def updated_item(filled_db: str, tmp_path: Path) -> str:
    """An item that says when it was last updated, loaded as the others."""
    item = l2a_item("31TCJ", datetime(2024, 4, 30, 10, 56), cloud_cover=3.0)
    item["properties"]["updated"] = "2024-05-01T12:00:00.250Z"
    (tmp_path / "updated.ndjson").write_text(json.dumps(item) + "\n")
    pypgstac = str(Path(sys.executable).with_name("pypgstac"))
    command = [pypgstac, "load", "items", str(tmp_path / "updated.ndjson"), "--dsn", filled_db, "--method", "upsert"]
    subprocess.run(command, check=True, capture_output=True)
    return str(item["id"])


def test_collections_and_items_answer_conditional_gets(api: Server, updated_item: str) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as client:
        for path in ("/collections", "/collections/maja-l2a", f"{ITEMS}?limit=3"):
            first = client.get(path)
            etag = first.headers["etag"]
            assert etag.startswith('W/"'), path
            again = client.get(path, headers={"If-None-Match": etag})
            assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag, path
            assert client.get(path, headers={"If-None-Match": 'W/"other"'}).status_code == 200
        item = client.get(f"{ITEMS}/{updated_item}")
        assert item.headers["etag"] and item.headers["last-modified"] == "Wed, 01 May 2024 12:00:00 GMT"
        since = client.get(f"{ITEMS}/{updated_item}", headers={"If-Modified-Since": item.headers["last-modified"]})
        assert since.status_code == 304
        before = client.get(f"{ITEMS}/{updated_item}", headers={"If-Modified-Since": "Wed, 01 May 2024 11:59:59 GMT"})
        assert before.status_code == 200
        assert client.get("/search", params={"limit": 1}).headers.get("etag") is None  # searches: not cached


def test_portal_filters_are_indexed_on_every_partition(filled_db: str) -> None:
    with psycopg.connect(filled_db) as conn:
        conn.execute("SET search_path TO pgstac, public")
        partitions = {row[0] for row in conn.execute("SELECT partition FROM pgstac.partition_sys_meta")}
        indexed = conn.execute(
            "SELECT field, partition FROM pgstac.queryable_indexes('items') WHERE indexname IS NOT NULL"
        ).fetchall()
    assert partitions
    for field in INDEXED_QUERYABLES:
        assert {p for f, p in indexed if f == field} >= partitions, field


def test_collections_answer_while_items_are_locked(api: Server, filled_db: str) -> None:
    """``/collections`` and a collection read pgstac.collections only: they answer while nothing may read items."""
    with psycopg.connect(filled_db) as conn, httpx.Client(base_url=api.url, timeout=10) as client:
        conn.execute("LOCK TABLE pgstac.items IN ACCESS EXCLUSIVE MODE")
        listing = client.get("/collections")
        assert listing.status_code == 200 and listing.json()["collections"]
        assert client.get("/collections/maja-l2a").status_code == 200
        with pytest.raises(httpx.ReadTimeout):  # the check itself: reading items waits for the lock
            client.get(ITEMS, params={"limit": 1}, timeout=2)
        conn.rollback()
