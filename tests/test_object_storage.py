"""Products stored in S3-compatible object storage (a moto server process on loopback) and in a folder: a
registration that fails leaves nothing of its product, and ``hesp storage orphans`` finds what a crash left. (The
whole demo production in the bucket, its chains reading its products back: ``test_datalake.py``.)"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import obstore
import psycopg
import pytest
from conftest import hesp
from obstore.store import S3Store
from run_scenario import build

BUCKET = "products"
ROOT = f"s3://{BUCKET}/centre"
PUBLIC = "https://data.example.org/products"


def objects(prefix: str = "") -> dict[str, int]:
    """Every object of the bucket under ``prefix``, with its size."""
    return {str(o["path"]): int(o["size"]) for batch in obstore.list(S3Store(BUCKET), prefix) for o in batch}


def items_of(database_url: str, collections: tuple[str, ...]) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT pgstac.get_item(id, collection) FROM pgstac.items WHERE collection = ANY(%s)", (list(collections),)
        ).fetchall()
    return [row[0] for row in rows]


@dataclass(frozen=True)
class Water:
    """The surfwater production of the run tests (a test chain), its products in a folder or in the bucket."""

    env: dict[str, str]
    folder: Path | None  # the storage folder; None: the bucket

    def files(self, under: str) -> dict[str, int]:
        """The files (objects) under ``under`` (a folder of keys, relative to the root), with their sizes."""
        if self.folder is None:
            return {key.removeprefix("centre/"): size for key, size in objects(f"centre/{under}").items()}
        found = (self.folder / under).rglob("*")
        return {p.relative_to(self.folder).as_posix(): p.stat().st_size for p in found if p.is_file()}

    def put(self, key: str, data: bytes) -> None:
        if self.folder is None:
            obstore.put(S3Store(BUCKET), f"centre/{key}", data)
        else:
            (self.folder / key).parent.mkdir(parents=True, exist_ok=True)
            (self.folder / key).write_bytes(data)


@pytest.fixture(params=["s3", "folder"])
def water(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Water:
    scenario = build(db_url, tmp_path)
    env = {**scenario.env, "HESP_HOME": str(tmp_path / "home")}
    if request.param == "folder":
        return Water(env, scenario.storage)
    assert httpx.put(f"{request.getfixturevalue('s3_endpoint')}/{BUCKET}").status_code == 200
    return Water({**env, "HESP_STORAGE": ROOT, "HESP_PUBLIC_URL": PUBLIC}, None)


def test_a_product_whose_registration_fails_leaves_nothing_and_orphans_are_found(water: Water, db_url: str) -> None:
    refused = "20230108"  # the second acquisition's product: pgSTAC refuses it, as a failing database would
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"""
            CREATE FUNCTION public.refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.id LIKE '%\\_{refused}-%' THEN RAISE EXCEPTION 'refused by the test'; END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER refuse_one BEFORE INSERT OR UPDATE ON pgstac.items
            FOR EACH ROW EXECUTE FUNCTION public.refuse_one()""")  # fmt: skip

    result = hesp("run", "--collection", "surfwater-water", "--backoff", "0", env=water.env, timeout=300)

    assert "job 2 (surfwater-water 31TCJ) retried: refused by the test" in result.stdout, result.stdout + result.stderr
    registered = {item["id"] for item in items_of(db_url, ("surfwater-water",))}
    assert len(registered) == 3 and not any(refused in i for i in registered)
    stored = water.files("surfwater-water/")
    assert {key.split("/")[3] for key in stored} == registered  # every attempt of the refused one removed its own
    # A worker that died between storing and registering left a product that nothing references.
    crashed = "surfwater-water/31TCJ/2023/SURFWATER_CRASHED"
    for name in ("SURFWATER_CRASHED_WATER.tif", "MASKS/SURFWATER_CRASHED_MASK.tif"):
        water.put(f"{crashed}/{name}", b"stored, never registered")
    found = hesp("storage", "orphans", "--min-age", "0", "--format", "json", env=water.env)
    assert json.loads(found.stdout)["keys"] == ["surfwater-water/31TCJ/2023/SURFWATER_CRASHED"], found.stdout
    young = hesp("storage", "orphans", env=water.env)  # just stored: maybe a running job's, left out by default
    assert young.stdout.startswith("0 orphan product(s) found"), young.stdout + young.stderr
    deleted = hesp("storage", "orphans", "--min-age", "0", "--delete", env=water.env)
    assert "1 orphan product(s) removed" in deleted.stdout, deleted.stdout + deleted.stderr
    assert water.files(crashed) == {} and water.files("surfwater-water/") == stored
    again = hesp("storage", "orphans", "--min-age", "0", "--collection", "surfwater-water", env=water.env)
    assert again.stdout.startswith("0 orphan product(s) found"), again.stdout
    pattern = hesp("storage", "orphans", "--min-age", "0", "--delete", "--collection", "*", env=water.env)
    assert pattern.returncode == 1 and "error: '*' is not a collection id" in pattern.stderr, pattern.stderr
    assert water.files("surfwater-water/") == stored
