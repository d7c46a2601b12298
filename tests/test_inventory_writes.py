"""Every way items are written leaves ``hesp.inventory`` and ``hesp.lineage`` as a rebuild from the items makes
them: ``pypgstac load`` (which copies into the partitions), pgSTAC's functions (which write through
``pgstac.items``), ``hesp ingest``, partitions pgSTAC makes on the fly, and a collection deleted."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from conftest import hesp
from psycopg.types.json import Jsonb
from stac_items import l2a_item

PYPGSTAC = str(Path(sys.executable).with_name("pypgstac"))
REBUILD = """
    SELECT hesp.rebuild_inventory(id) FROM pgstac.collections;
    DELETE FROM hesp.lineage;
    INSERT INTO hesp.lineage
    SELECT p.collection, p.id, i.input_collection, i.input_id
    FROM pgstac.items AS p CROSS JOIN LATERAL hesp.item_inputs(p.content -> 'links') AS i
    ON CONFLICT DO NOTHING;
"""


def kept(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "inventory": conn.execute("SELECT * FROM hesp.inventory ORDER BY collection, id, tile").fetchall(),
        "lineage": conn.execute("SELECT * FROM hesp.lineage ORDER BY 1, 2, 3, 4").fetchall(),
    }


def assert_in_step(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """The inventory and lineage as the triggers kept them, checked against a rebuild (rolled back)."""
    with psycopg.connect(url) as conn:
        state = kept(conn)
        conn.execute(REBUILD)
        assert state == kept(conn)
        conn.rollback()
    return state


def products(count: int, version: str = "4.0", valid: bool = True, year: int = 2023) -> list[dict[str, Any]]:
    """L2A items on two tiles, each derived from an L1C, and Sentinel-1 slices placed on tiles by footprint."""
    items = []
    for n in range(count):
        item = l2a_item("31TCJ" if n % 2 else "31TDJ", datetime(year, 1 + n % 12, 3, 10, 56), 10.0, valid=valid)
        item["properties"]["processing:version"] = version
        item["links"] = [{"rel": "derived_from", "href": f"collections/sentinel-2-l1c/items/L1C_{n}_{version}"}]
        slice_ = l2a_item("31TCJ", datetime(year, 1 + n % 12, 4, 6, 0), 0.0)
        del slice_["properties"]["grid:code"]
        slice_["stac_extensions"] = [e for e in slice_["stac_extensions"] if "/grid/" not in e]
        items += [item, {**slice_, "id": f"S1A_GRD_{n}", "collection": "sentinel-1-grd"}]
    return items


def load(url: str, path: Path, items: list[dict[str, Any]], method: str) -> None:
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    done = subprocess.run(
        [PYPGSTAC, "load", "items", str(path), "--dsn", url, "--method", method], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_pypgstac_loads_of_every_method(db_url: str, tmp_path: Path) -> None:
    first = products(6)
    load(db_url, tmp_path / "first.ndjson", first, "insert")
    state = assert_in_step(db_url)
    assert len(state["inventory"]) > len(first) and len(state["lineage"]) == 6

    changed = products(6, version="4.1", valid=False)  # same ids, other inputs and validity
    load(db_url, tmp_path / "upsert.ndjson", changed[:4] + products(8)[12:], "upsert")
    state = assert_in_step(db_url)
    assert {row[1] for row in state["lineage"] if row[3].endswith("_4.1")} == {i["id"] for i in changed[:4:2]}

    moved = products(6, version="4.2", year=2024)  # same ids, a year later: another partition
    for item, old in zip(moved, first, strict=True):
        item["id"] = old["id"]
    load(db_url, tmp_path / "delsert.ndjson", moved[:6], "delsert")
    load(db_url, tmp_path / "ignore.ndjson", products(10, version="9.9")[12:], "ignore")  # 2 loaded, 2 new
    state = assert_in_step(db_url)
    assert {row[6] for row in state["inventory"] if row[0] == "maja-l2a"} == {"4.0", "4.2", "9.9"}


def test_pgstac_functions_and_plain_statements(db_url: str) -> None:
    items = products(4)
    with psycopg.connect(db_url, autocommit=True, options="-c search_path=pgstac,public") as conn:
        conn.execute("SELECT pgstac.create_items(%s)", (Jsonb(items[:4]),))
        conn.execute("SELECT pgstac.create_item(%s)", (Jsonb(items[4]),))
        conn.execute("SELECT pgstac.upsert_items(%s)", (Jsonb(products(4, version="4.1")[:6]),))
        assert_in_step(db_url)
        conn.execute("SELECT pgstac.update_item(%s)", (Jsonb({**items[4], "links": []}),))
        conn.execute("SELECT pgstac.delete_item(%s, %s)", (items[2]["id"], "maja-l2a"))
        assert_in_step(db_url)
        conn.execute("""UPDATE pgstac.items SET content = jsonb_set(content, '{properties,hesp:valid}', 'false')
                        WHERE collection = 'maja-l2a'""")
        conn.execute("DELETE FROM pgstac.items WHERE collection = 'sentinel-1-grd' AND id = 'S1A_GRD_1'")
    state = assert_in_step(db_url)
    assert not any(row[5] for row in state["inventory"] if row[0] == "maja-l2a")


def test_hesp_ingest(db_url: str, tmp_path: Path) -> None:
    items = tmp_path / "items.ndjson"
    # No assets: their files would have to be in the ingested folders.
    items.write_text("".join(json.dumps({**item, "assets": {}}) + "\n" for item in products(4)))
    for _ in range(2):  # new, then unchanged
        result = hesp("ingest", str(items), "--format", "json", env={"HESP_DATABASE_URL": db_url})
        assert result.returncode == 0, result.stdout + result.stderr
        assert len(assert_in_step(db_url)["lineage"]) == 4


def test_a_partition_made_on_the_fly_gets_the_triggers(db_url: str, tmp_path: Path) -> None:
    def untriggered(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
        return conn.execute("""SELECT p.relid::text FROM pg_partition_tree('pgstac.items') AS p WHERE 3 <> (
            SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = p.relid AND t.tgname LIKE 'hesp_inventory_%')
        """).fetchall()

    with psycopg.connect(db_url) as conn:
        before = conn.execute("SELECT count(*) FROM pg_partition_tree('pgstac.items')").fetchone()
        assert untriggered(conn) == []
    load(db_url, tmp_path / "items.ndjson", products(2, year=2031), "insert")  # a new year: a new partition
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_partition_tree('pgstac.items')").fetchone() > before
        assert untriggered(conn) == []
    assert len(assert_in_step(db_url)["inventory"]) > 2


def test_a_deleted_collection_leaves_no_inventory_nor_lineage(db_url: str, tmp_path: Path) -> None:
    load(db_url, tmp_path / "items.ndjson", products(4), "insert")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SELECT pgstac.delete_collection('maja-l2a')")
    state = assert_in_step(db_url)
    assert state["lineage"] == [] and {row[0] for row in state["inventory"]} == {"sentinel-1-grd"}


# hesp.fetchable as migration 0006 wrote it (jsonb_each and regular expressions): the rules the JSON path of 0013
# must keep, case by case.
FETCHABLE_0006 = """
CREATE FUNCTION pg_temp.fetchable_0006(properties jsonb, assets jsonb) RETURNS boolean LANGUAGE sql AS $$
    SELECT coalesce(properties ->> 'order:status', 'succeeded') = 'succeeded' AND EXISTS (
        SELECT FROM jsonb_each(CASE WHEN jsonb_typeof(assets) = 'object' THEN assets ELSE '{}' END) AS a(key, asset)
        WHERE jsonb_typeof(asset -> 'href') = 'string'
          AND (asset ->> 'href' ~* '^(file|https?|s3)://' OR asset ->> 'href' !~ '^[A-Za-z][A-Za-z0-9+.-]*:')
          AND coalesce(asset ->> 'order:status', 'succeeded') = 'succeeded'
          AND CASE WHEN jsonb_typeof(asset -> 'roles') = 'array'
                   THEN jsonb_array_length(asset -> 'roles') = 0
                        OR NOT asset -> 'roles' <@ '["thumbnail", "overview"]'::jsonb
                   ELSE true END)
$$
"""
ASSETS: list[Any] = [
    {}, [], None, "x", {"a": "x"}, {"a": {}}, {"a": {"href": 5}},
    *({"a": {"href": href}} for href in ("/data/x.tif", "x.tif", "file:///x", "HTTPS://h/x", "http://h/x", "s3://b/k",
                                         "S3://b/k", "ftp://h/x", "urn:x", "C:/x", "", "//h/x")),
    *({"a": {"href": "/x", "order:status": status}} for status in ("orderable", "succeeded", None, 5, "")),
    *({"a": {"href": "/x", "roles": roles}} for roles in (["thumbnail"], ["overview", "thumbnail"], [], ["data"],
                                                          ["thumbnail", "data"], [5], "data", None, {"r": 1})),
    {"t": {"href": "/t.png", "roles": ["thumbnail"]}, "d": {"href": "ftp://h/x"}},
    {"t": {"href": "/t.png", "roles": ["thumbnail"]}, "d": {"href": "s3://b/x", "roles": ["data"]}},
]  # fmt: skip
PROPERTIES: list[Any] = [{}, {"order:status": "orderable"}, {"order:status": "succeeded"}, {"order:status": None}, None]


def test_fetchable_keeps_the_rules_it_had(db_url: str) -> None:
    cases = [(Jsonb(p), Jsonb(a)) for p in PROPERTIES for a in ASSETS]
    with psycopg.connect(db_url) as conn:
        conn.execute(FETCHABLE_0006)
        verdicts = [
            conn.execute("SELECT hesp.fetchable(%s, %s), pg_temp.fetchable_0006(%s, %s)", (*case, *case)).fetchone()
            for case in cases
        ]
    differing = [(case[0].obj, case[1].obj) for case, v in zip(cases, verdicts, strict=True) if v and v[0] != v[1]]
    assert differing == []
    assert {v[0] for v in verdicts if v} == {True, False}
