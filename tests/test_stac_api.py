"""``hesp serve``: the STAC API over a catalogue filled with ``pypgstac load``, as real HTTP clients see it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest
from conftest import L2A_PER_TILE as PER_TILE
from conftest import PORTAL_FILTERS, snapshot
from stac_api_validator_offline import Offline, served
from stac_items import footprint

VALIDATOR = Path(__file__).with_name("stac_api_validator_offline.py")


def test_the_api_passes_the_stac_api_validator(filled_db: str, serve) -> None:  # type: ignore[no-untyped-def]
    server = serve({"HESP_DATABASE_URL": filled_db})
    result = subprocess.run(
        [
            sys.executable,
            str(VALIDATOR),
            "--root-url",
            server.url + "/",
            "--conformance",
            "core",
            "--conformance",
            "collections",
            "--conformance",
            "features",
            "--conformance",
            "item-search",
            "--conformance",
            "filter",
            "--collection",
            "maja-l2a",
            "--geometry",
            json.dumps(footprint("31TCJ")),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Errors: none" in result.stdout, result.stdout[-3000:]


def test_the_offline_validator_serves_shipped_schemas_and_refuses_the_rest() -> None:
    item_schema = "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json"
    assert json.loads(served(item_schema) or b"")["$id"] == item_schema
    assert served("http://127.0.0.1:8080/collections") is None and served("file:///tmp/x.json") is None
    for url in (
        "https://schemas.stacspec.org/v9.9.9/item-spec/json-schema/item.json",
        "https://schemas.stacspec.org/v1.1.0/../../etc/passwd",
        "https://example.org/licence",
    ):
        with pytest.raises(Offline, match=url.split("/")[2]):
            served(url)


def test_identity_queryables_and_search(filled_db: str, serve) -> None:  # type: ignore[no-untyped-def]
    server = serve({"HESP_DATABASE_URL": filled_db})
    with httpx.Client(base_url=server.url, timeout=30) as api:
        landing = api.get("/").json()
        assert (landing["id"], landing["title"]) == ("hesperides", "Hespérides")
        conforms = set(landing["conformsTo"])
        for fragment in ("item-search", "filter", "sort", "fields", "query", "collection-search"):
            assert any(fragment in c for c in conforms), fragment

        collection = api.get("/collections/maja-l2a").json()
        assert all(link.get("title") for link in collection["links"])

        queryables = api.get("/queryables").json()["properties"]
        assert PORTAL_FILTERS <= set(queryables)

        by_text = api.get(
            "/search",
            params={
                "filter": '"grid:code" = \'MGRS-31TCJ\' AND "eo:cloud_cover" < 50',
                "filter-lang": "cql2-text",
                "limit": 100,
            },
        ).json()
        by_json = api.post(
            "/search",
            json={
                "filter-lang": "cql2-json",
                "limit": 100,
                "filter": {
                    "op": "and",
                    "args": [
                        {"op": "=", "args": [{"property": "grid:code"}, "MGRS-31TCJ"]},
                        {"op": "<", "args": [{"property": "eo:cloud_cover"}, 50]},
                    ],
                },
            },
        ).json()
        ids = {f["id"] for f in by_text["features"]}
        assert ids == {f["id"] for f in by_json["features"]} and ids
        assert all("T31TCJ" in i for i in ids)
        assert all(f["properties"]["eo:cloud_cover"] < 50 for f in by_text["features"])

        ordered = api.get("/search", params={"sortby": "-eo:cloud_cover", "limit": 5}).json()["features"]
        covers = [f["properties"]["eo:cloud_cover"] for f in ordered]
        assert covers == sorted(covers, reverse=True)

        slim = api.get("/search", params={"fields": "id,properties.eo:cloud_cover", "limit": 1}).json()
        assert set(slim["features"][0]["properties"]) == {"eo:cloud_cover"}

        seen, page = [], api.get("/collections/maja-l2a/items", params={"limit": 5}).json()
        while True:
            seen += [f["id"] for f in page["features"]]
            following = [link for link in page["links"] if link["rel"] == "next"]
            if not following:
                break
            page = api.get(following[0]["href"]).json()
        assert len(seen) == len(set(seen)) == 2 * PER_TILE

        found = api.get("/collections", params={"q": "snow"}).json()["collections"]
        assert {"lis-snow", "lis-snow-yearly"} <= {c["id"] for c in found}


def test_without_a_token_set_there_are_no_writes(filled_db: str, serve) -> None:  # type: ignore[no-untyped-def]
    server = serve({"HESP_DATABASE_URL": filled_db})
    before = snapshot(filled_db)
    with httpx.Client(base_url=server.url, timeout=30) as api:
        assert api.post("/collections", json={"id": "x"}).status_code in (404, 405)
        assert api.delete("/collections/maja-l2a").status_code in (404, 405)
    assert snapshot(filled_db) == before


def test_writes_need_the_bearer_token(filled_db: str, serve) -> None:  # type: ignore[no-untyped-def]
    server = serve({"HESP_DATABASE_URL": filled_db, "HESP_API_TOKEN": "s3cret-token"})
    collection = json.loads(httpx.get(server.url + "/collections/dem-tiles").text)
    new = {k: v for k, v in collection.items() if k != "links"} | {"id": "scratch", "links": []}
    item = httpx.get(server.url + "/collections/maja-l2a/items", params={"limit": 1}).json()["features"][0]
    item_path = f"/collections/maja-l2a/items/{item['id']}"
    before = snapshot(filled_db)

    with httpx.Client(base_url=server.url, timeout=30) as api:
        for wrong in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic czNjcmV0LXRva2Vu"}):
            expected = 403 if wrong.get("Authorization", "").startswith("Bearer") else 401
            assert api.post("/collections", json=new, headers=wrong).status_code == expected
            assert api.put("/collections/dem-tiles", json=collection, headers=wrong).status_code == expected
            assert api.delete(item_path, headers=wrong).status_code == expected
            assert api.post("/collections/maja-l2a/items", json=item, headers=wrong).status_code == expected
        assert snapshot(filled_db) == before
        assert api.post("/search", json={"limit": 1}).status_code == 200  # reads stay open

        good = {"Authorization": "Bearer s3cret-token"}
        assert api.post("/collections", json=new, headers=good).status_code in (200, 201)
        assert api.get("/collections/scratch").status_code == 200
        assert api.delete(item_path, headers=good).status_code in (200, 204)
        assert api.get(item_path).status_code == 404


def test_api_pools_act_as_the_pgstac_roles(db_url: str) -> None:
    import asyncio

    import asyncpg

    from hygor.api.pools import read_pool, write_pool
    from hygor.db import Database

    async def session(settings) -> tuple[str, bool]:  # type: ignore[no-untyped-def]
        conn = await asyncpg.connect(settings.connection_string, server_settings=settings.server_settings.model_dump())
        try:
            row = await conn.fetchrow("SELECT current_user, pgstac.readonly()")
            return str(row[0]), bool(row[1])
        finally:
            await conn.close()

    assert asyncio.run(session(read_pool(Database(db_url), 2))) == ("pgstac_read", True)
    assert asyncio.run(session(write_pool(Database(db_url)))) == ("pgstac_ingest", False)


def test_pystac_client_searches_filters_and_sorts_without_warnings(filled_db: str, serve) -> None:  # type: ignore[no-untyped-def]
    from pystac_client import Client

    server = serve({"HESP_DATABASE_URL": filled_db})
    client = Client.open(server.url + "/")  # warnings are errors in this suite
    assert {c.id for c in client.get_collections()} >= {"maja-l2a", "sentinel-2-l1c"}
    search = client.search(
        collections=["maja-l2a"],
        filter={"op": "=", "args": [{"property": "grid:code"}, "MGRS-31TCJ"]},
        sortby="-properties.eo:cloud_cover",
        limit=5,
    )
    covers = [item.properties["eo:cloud_cover"] for item in search.items()]
    assert len(covers) == PER_TILE and covers == sorted(covers, reverse=True)
    assert search.matched() == PER_TILE


def test_filters_too_deep_to_parse_are_refused_and_the_server_lives_on(filled_db: str, serve) -> None:  # type: ignore[no-untyped-def]
    token = "s3cret-token"
    server = serve({"HESP_DATABASE_URL": filled_db, "HESP_API_TOKEN": token})
    comparison = {"op": "=", "args": [{"property": "grid:code"}, "MGRS-31TCJ"]}
    nested_not = comparison
    for _ in range(150):
        nested_not = {"op": "not", "args": [nested_not]}
    hostile = [
        ("GET", {"filter": "(" * 7000 + "a = 1" + ")" * 7000, "filter-lang": "cql2-text"}, None),
        ("GET", {"filter": "NOT " * 5000 + "a = 1", "filter-lang": "cql2-text"}, None),
        ("GET", {"filter": json.dumps(nested_not), "filter-lang": "cql2-json"}, None),
        ("GET", {"filter": "[" * 7000 + "]" * 7000, "filter-lang": "cql2-json"}, None),
        ("POST", None, {"filter": nested_not}),
        ("POST", None, {"filter": "NOT " * 5000 + "a = 1", "filter-lang": "cql2-text"}),
        ("POST", None, {"limit": 1, "ids": ["x" * 100] * 20_000}),
        ("POST", None, {"ids": ["x"] * 10_001}),
        ("POST", None, {"intersects": {"type": "MultiPoint", "coordinates": [[1, 2]] * 50_001}}),
    ]
    with httpx.Client(base_url=server.url, timeout=30) as api:
        for method, params, body in hostile:
            answer = api.request(method, "/search", params=params, json=body)
            assert answer.status_code in (400, 413), (method, answer.status_code, answer.text[:200])
            error = answer.json()
            assert set(error) == {"code", "description"} and "\n" not in error["description"]
        twice = [("Authorization", "Bearer nope"), ("Authorization", f"Bearer {token}")]
        refused = api.post("/collections", json={"id": "x"}, headers=twice)
        assert refused.status_code == 400 and "more than one Authorization" in refused.json()["description"]
        assert server.process.poll() is None
        assert api.get("/search", params={"limit": 1}).status_code == 200


def test_a_text_filter_posted_finds_what_get_finds(filled_db: str, serve) -> None:  # type: ignore[no-untyped-def]
    server = serve({"HESP_DATABASE_URL": filled_db})
    text = '"grid:code" = \'MGRS-31TCJ\' AND NOT ("eo:cloud_cover" >= 50)'
    with httpx.Client(base_url=server.url, timeout=30) as api:
        by_get = api.get("/search", params={"filter": text, "filter-lang": "cql2-text", "limit": 100}).json()
        by_post = api.post("/search", json={"filter": text, "filter-lang": "cql2-text", "limit": 100}).json()
    ids = {f["id"] for f in by_get["features"]}
    assert ids and ids == {f["id"] for f in by_post["features"]}


MALFORMED_SEARCHES = [
    {"filter-lang": "cql2-text", "filter": "pg_sleep(5) = 1"},
    {"filter-lang": "cql2-json", "filter": json.dumps({"op": "pg_sleep", "args": [5]})},
    {"filter-lang": "cql2-json", "filter": json.dumps({"op": "nope", "args": [{"property": "a"}, 1]})},
    {"filter-lang": "cql2-json", "filter": json.dumps({"op": "s_intersects", "args": [{"property": "geometry"}]})},
    {"filter-lang": "cql2-json", "filter": json.dumps({"op": "between", "args": [{"property": "eo:cloud_cover"}]})},
    {"filter": "\"eo:cloud_cover\" = '1''"},
    {"filter": "\"eo:cloud_cover\" = 'abc'"},
    {"token": "zzz:'\""},
    {"token": "next:x' OR '1'='1"},
    {"token": "prev:S2X_NOT_AN_ITEM"},
    {"query": "{bad"},
    {"collections": "\x00"},
    {"limit": "abc"},
    {"datetime": "2020-13-45"},
    {"intersects": '{"type": "Polygon"}'},
]


def test_malformed_requests_answer_4xx_in_the_stac_error_format(filled_db: str, serve) -> None:  # type: ignore[no-untyped-def]
    server = serve({"HESP_DATABASE_URL": filled_db})
    with httpx.Client(base_url=server.url, timeout=30) as api:
        answers = [api.get("/search", params=params) for params in MALFORMED_SEARCHES]
        answers.append(api.get("/collections", params={"q": "' OR 1=1 --"}))
        answers.append(api.get("/collections/nothing-here"))
        for answer in answers:
            assert 400 <= answer.status_code < 500, (answer.request.url, answer.status_code, answer.text[:300])
            error = answer.json()
            assert set(error) == {"code", "description"}, error
            assert "Traceback" not in error["description"] and "/hygor/" not in error["description"]
        assert api.get("/search", params={"limit": 1}).status_code == 200
    assert server.process.poll() is None


def test_written_items_pass_the_checks_of_ingest(filled_db: str, serve) -> None:  # type: ignore[no-untyped-def]
    """The API's writes refuse what ``hesp ingest`` refuses, one 400 saying why, and store nothing of it."""
    server = serve({"HESP_DATABASE_URL": filled_db, "HESP_API_TOKEN": "t"})
    good = httpx.get(server.url + "/collections/maja-l2a/items", params={"limit": 1}).json()["features"][0]
    good = {**good, "links": []}
    ring = [[1, 43], [2, 43], [2, 44], [1, 44], [1, 43]]
    hostile = {
        "a\nb": {},
        "bow-tie": {"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}},
        "lat-95": {"geometry": {"type": "Polygon", "coordinates": [[[0, 90], [1, 95], [1, 90], [0, 90]]]}},
        "wraps": {"geometry": {"type": "Polygon", "coordinates": [[[-179, 43], [179, 43], [179, 44], [-179, 43]]]}},
        "feb-30": {"properties": {**good["properties"], "datetime": "2024-02-30T10:00:00Z"}},
        "no-tile": {"properties": {**good["properties"], "grid:code": "MGRS-ABCDE"}},
        "nul": {"properties": {**good["properties"], "platform": "x\u0000y"}},
        "not-stac": {"properties": {**good["properties"], "eo:cloud_cover": "cloudy"}},
    }
    before = snapshot(filled_db)
    with httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": "Bearer t"}) as api:
        for item_id, change in hostile.items():
            item = {**good, "id": item_id, "geometry": {"type": "Polygon", "coordinates": [ring]}, **change}
            answer = api.post("/collections/maja-l2a/items", json=item)
            assert answer.status_code == 400, (item_id, answer.text)
            assert answer.json()["code"] == "BadRequest" and answer.json()["description"], answer.text
        batch = {"type": "FeatureCollection", "features": [{**good, "id": "fine"}, {**good, "id": "a\nb"}]}
        assert api.post("/collections/maja-l2a/items", json=batch).status_code == 400
        assert snapshot(filled_db) == before
        assert api.post("/collections/maja-l2a/items", json={**good, "id": "fine"}).status_code in (200, 201)


def test_deleting_a_collection_empties_its_inventory(filled_db: str, serve) -> None:  # type: ignore[no-untyped-def]
    server = serve({"HESP_DATABASE_URL": filled_db, "HESP_API_TOKEN": "t"})

    def inventoried() -> int:
        with psycopg.connect(filled_db) as conn:
            return int(conn.execute("SELECT count(*) FROM hesp.inventory WHERE collection = 'maja-l2a'").fetchone()[0])

    assert inventoried() > 0
    answer = httpx.delete(server.url + "/collections/maja-l2a", headers={"Authorization": "Bearer t"}, timeout=30)
    assert answer.status_code in (200, 204), answer.text
    assert inventoried() == 0
