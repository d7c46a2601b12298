"""The fast path for common searches (``hygor.api.fast_search``) answers exactly as pgSTAC's ``search()``: the same
items in the same order, the same content, links, counts and paging tokens, page after page, both ways."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from conftest import TEMPLATE, database_url
from stac_items import l2a_item

import hygor.api.app
from hygor.api.app import create_app
from hygor.api.caches import TtlCache
from hygor.api.fast_search import fast_search
from hygor.api.server import BackgroundServer
from hygor.db import Database
from hygor.hydration import merged, stripped

START = datetime(2022, 11, 20, 10, 56)
BBOX = "0.5,43.5,1.2,44.5"  # overlaps 31TCJ only
CLEAR_AND_VALID = '"eo:cloud_cover" < 40 AND "hesp:valid" = true'


def catalogue_items() -> list[dict[str, Any]]:
    """L2A and L1C items on two tiles over three years (several time partitions), some at the same instant in
    both collections (the order's tiebreakers), some superseded, one with an asset that overrides its base."""
    items = []
    for n in range(40):
        when = START + timedelta(days=9 * n)
        for tile in ("31TCJ", "31TDJ"):
            l2a = l2a_item(tile, when, cloud_cover=float((n * 37) % 100), valid=n % 7 != 0)
            if n % 11 == 3:
                l2a["properties"]["deprecated"] = True
            if n == 5:
                l2a["assets"]["metadata"]["title"] = "Overridden"
            l1c = json.loads(json.dumps(l2a).replace("L2A", "L1C").replace("maja-l2a", "sentinel-2-l1c"))
            l1c["properties"].pop("processing:software")
            items += [l2a, l1c]
    return items


@pytest.fixture(scope="module")
def catalogue(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """One catalogue for the whole module (loading it is the slow part), served in this process so that the tests
    can switch paths: (API URL, database URL)."""
    name = "fast_path_equivalence"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    url = database_url(server_url, name)
    items = tmp_path_factory.mktemp("fast") / "items.ndjson"
    items.write_text("".join(json.dumps(item) + "\n" for item in catalogue_items()))
    pypgstac = str(Path(sys.executable).with_name("pypgstac"))
    loaded = subprocess.run([pypgstac, "load", "items", str(items), "--dsn", url], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    with BackgroundServer(create_app(Database(url))) as served:
        yield served, url
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def api(catalogue: tuple[str, str]) -> str:
    return catalogue[0]


class Paths:
    """Switches the server between the fast path and pgSTAC's ``search()``, and counts the pages the fast path
    answered."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.fast_pages = 0

    def use(self, fast: bool) -> None:
        async def counted(search: Any, request: Any) -> dict[str, Any] | None:
            page = await fast_search(search, request)
            self.fast_pages += page is not None
            return page

        async def never(search: Any, request: Any) -> None:
            return None

        self.monkeypatch.setattr(hygor.api.app, "fast_search", counted if fast else never)


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> Paths:
    return Paths(monkeypatch)


def walk(client: httpx.Client, method: str, path: str, params: dict[str, Any], rel: str = "next") -> list[Any]:
    """Every page from the first, following ``rel`` links to the end, then ``prev`` links back from there."""
    pages = []
    answer = client.request(method, path, **({"json": params} if method == "POST" else {"params": params}))
    while True:
        assert answer.status_code == 200, answer.text
        page = answer.json()
        pages.append(page)
        link = next((link for link in page.get("links", []) if link["rel"] == rel), None)
        if link is None:
            if rel == "prev":
                return pages
            rel = "prev"
            link = next((link for link in page.get("links", []) if link["rel"] == rel), None)
            if link is None:
                return pages
        answer = client.request(link.get("method", "GET"), link["href"], json=link.get("body"))


GETS = [
    ("/search", {"collections": "maja-l2a", "bbox": BBOX, "datetime": "2023-01-01T00:00:00Z/2023-09-30T00:00:00Z"}),
    ("/search", {"collections": "maja-l2a", "bbox": BBOX, "datetime": "2023-01-01T00:00:00Z/..", "limit": 4}),
    ("/collections/sentinel-2-l1c/items", {"limit": 7}),
    ("/collections/maja-l2a/items", {"limit": 100}),
    ("/search", {"collections": "maja-l2a", "filter": "\"grid:code\" = 'MGRS-31TCJ'", "limit": 6}),
    ("/search", {"collections": "maja-l2a,sentinel-2-l1c", "filter": CLEAR_AND_VALID}),
    ("/search", {"collections": "sentinel-2-l1c,maja-l2a", "limit": 9}),
    ("/search", {"collections": "maja-l2a", "filter": "deprecated = true"}),
    (
        "/search",
        {
            "filter": "\"processing:version\" = '4.0'",
            "datetime": "2023-03-01T00:00:00Z/2023-12-31T00:00:00Z",
            "limit": 3,
        },
    ),
    ("/search", {"limit": 25}),
    ("/search", {"collections": "maja-l2a", "datetime": "2030-01-01T00:00:00Z/.."}),
]
POSTS = [
    {"collections": ["maja-l2a"], "bbox": [0.5, 43.5, 1.2, 44.5], "limit": 5},
    {"collections": ["maja-l2a"], "filter": {"op": "=", "args": [{"property": "grid:code"}, "MGRS-31TDJ"]}, "limit": 8},
    {"collections": ["sentinel-2-l1c"], "query": {"eo:cloud_cover": {"lt": 50}}, "limit": 6},
]


@pytest.mark.parametrize(("path", "params"), GETS, ids=[f"GET {p} {q}" for p, q in GETS])
def test_get_pages_are_pgstacs(api: str, paths: Paths, path: str, params: dict[str, Any]) -> None:
    with httpx.Client(base_url=api, timeout=60) as client:
        paths.use(fast=False)
        expected = walk(client, "GET", path, params)
        paths.use(fast=True)
        got = walk(client, "GET", path, params)
    assert paths.fast_pages == len(got)
    assert [feature["id"] for page in got for feature in page["features"]] == [
        feature["id"] for page in expected for feature in page["features"]
    ]
    assert got == expected
    assert sum(page["numberReturned"] for page in got) > 0 or params.get("datetime", "").startswith("2030")


@pytest.mark.parametrize("body", POSTS, ids=[json.dumps(b) for b in POSTS])
def test_post_pages_are_pgstacs(api: str, paths: Paths, body: dict[str, Any]) -> None:
    with httpx.Client(base_url=api, timeout=60) as client:
        paths.use(fast=False)
        expected = walk(client, "POST", "/search", body)
        paths.use(fast=True)
        got = walk(client, "POST", "/search", body)
    assert paths.fast_pages == len(got) and len(got) > 1
    assert got == expected


def test_items_by_id_and_hydrated_content_are_pgstacs(api: str, paths: Paths) -> None:
    with httpx.Client(base_url=api, timeout=60) as client:
        first = client.get("/search", params={"collections": "maja-l2a", "limit": 5}).json()
        ids = [feature["id"] for feature in first["features"]]
        overridden = next(i["id"] for i in catalogue_items() if i["assets"]["metadata"]["title"] == "Overridden")
        answers = {}
        for fast in (False, True):
            paths.use(fast=fast)
            answers[fast] = [client.get(f"/collections/maja-l2a/items/{i}").json() for i in ids[:5] + [overridden]]
            answers[fast].append(client.get("/search", params={"ids": ",".join(ids[:4])}).json())
    assert paths.fast_pages == len(answers[True])
    assert answers[True] == answers[False]
    assert answers[True][-2]["assets"]["metadata"]["title"] == "Overridden"


def test_what_the_fast_path_does_not_answer_pgstac_does(api: str, paths: Paths) -> None:
    paths.use(fast=True)
    with httpx.Client(base_url=api, timeout=60) as client:
        sorted_page = client.get("/search", params={"collections": "maja-l2a", "sortby": "+datetime"}).json()
        fields_page = client.get("/search", params={"collections": "maja-l2a", "fields": "id"}).json()
        forged = client.get("/search", params={"token": "next:x' OR '1'='1"})
        missing = client.get("/search", params={"token": "next:6d616a612d6c3261:00"})
        bad_date = client.get("/search", params={"datetime": "yesterday"})
    assert paths.fast_pages == 0
    dates = [f["properties"]["datetime"] for f in sorted_page["features"]]
    assert dates == sorted(dates) and set(fields_page["features"][0]) <= {"id", "links", "collection"}
    assert (forged.status_code, missing.status_code, bad_date.status_code) == (400, 400, 400)


def test_hydration_merges_as_pgstac() -> None:
    base = stripped({"type": "Feature", "assets": {"a": {"href": "x", "roles": ["data"]}, "b": {"title": None}}})
    item = stripped(
        {"id": "i", "assets": {"a": {"href": "y"}, "c": {"href": "z", "title": None}}, "links": [], "n": None}
    )
    assert merged(item, base) == {
        "id": "i",
        "type": "Feature",
        "assets": {"a": {"href": "y", "roles": ["data"]}, "b": {}, "c": {"href": "z"}},
        "links": [],
    }
    assert merged({"assets": {"b": "𒍟※"}}, {"assets": {"b": {}, "d": 1}}) == {"assets": {"d": 1}}
    assert merged(stripped({"l": [None, {"k": None}]}), {"l": [1, {"k": 2}]}) == {"l": [1, {"k": 2}]}


def test_cache_entries_expire_and_the_oldest_go_first() -> None:
    now = [0.0]
    cache: TtlCache[str, int] = TtlCache(2, 10, clock=lambda: now[0])
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, 2, 3)
    now[0] = 11
    assert cache.get("b") is None


def test_the_list_of_collections_is_cached_until_a_collection_changes(catalogue: tuple[str, str]) -> None:
    api, url = catalogue
    with httpx.Client(base_url=api, timeout=60) as client:
        before = client.get("/collections").json()
        assert client.get("/collections").json() == before
        renamed = before["collections"][0]["id"]
        with psycopg.connect(url) as conn:
            conn.execute(
                'UPDATE pgstac.collections SET content = content || \'{"title": "Renamed"}\' WHERE id = %s',
                (renamed,),
            )
        after = client.get("/collections").json()
    titles = {c["id"]: c["title"] for c in after["collections"]}
    assert titles[renamed] == "Renamed" and len(after["collections"]) == len(before["collections"])


def test_the_list_of_collections_kept_answers_each_request_as_its_own(api: str) -> None:
    """The kept list answers conditional requests, and is kept apart per encoding and per host (its links)."""
    with httpx.Client(base_url=api, timeout=60) as client:
        first = client.get("/collections", headers={"Accept-Encoding": "gzip"})
        etag = first.headers["etag"]
        again = client.get("/collections", headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
        other = client.get("/collections", headers={"Accept-Encoding": "gzip", "If-None-Match": 'W/"other"'})
        plain = client.get("/collections", headers={"Accept-Encoding": "identity"})
        elsewhere = client.get("/collections", headers={"Host": "portal.example"})
    assert first.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
    assert (again.status_code, again.headers["etag"], again.content) == (304, etag, b"")
    assert other.status_code == 200 and other.json() == first.json() == plain.json()
    assert all(link["href"].startswith("http://portal.example/") for link in elsewhere.json()["links"])
    assert all(link["href"].startswith(api) for link in first.json()["links"])


def test_pages_follow_the_writes_to_their_items(catalogue: tuple[str, str], paths: Paths) -> None:
    """An item the fast path keeps in memory is sent again only while its row is unchanged."""
    api, url = catalogue
    params = {"collections": "maja-l2a", "filter": "\"grid:code\" = 'MGRS-31TDJ'", "limit": 3}
    change = "UPDATE pgstac.items SET content = jsonb_set(content, '{properties,eo:cloud_cover}', %s) WHERE id = %s"
    with httpx.Client(base_url=api, timeout=60) as client:
        paths.use(fast=True)
        before = client.get("/search", params=params).json()
        changed = before["features"][0]
        with psycopg.connect(url) as conn:
            conn.execute(change, ("99.5", changed["id"]))
        after = client.get("/search", params=params).json()
        paths.use(fast=False)
        expected = client.get("/search", params=params).json()
        with psycopg.connect(url) as conn:
            conn.execute(change, (json.dumps(changed["properties"]["eo:cloud_cover"]), changed["id"]))
    assert after == expected
    assert after["features"][0]["properties"]["eo:cloud_cover"] == 99.5
    assert after["features"][1:] == before["features"][1:]
