"""Products stored in S3-compatible object storage (a moto server process on loopback): a production whose chains
read the products it stored there (LIS and WASP read MAJA's L2A, MAJA NOMINAL its previous L2A); in the bucket
and in a folder, a registration that fails leaving nothing of its product, and ``hesp storage orphans`` finding
what a crash left."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import obstore
import psycopg
import pytest
from conftest import hesp
from obstore.store import S3Store
from run_scenario import build, write_request

from hygor import Catalog
from hymotep.production import Production
from hymotep.run_request import ExecutorSpec, RunRequest
from hymotep.settings import ProductionSettings
from hymotep.storage import ALTERNATE_ASSETS
from hymotep.work_units import STATES, GapFilter
from reference_chains import launchers
from reference_chains.demo import MAJA_USERCONF
from reference_chains.maja_userconf import write_user_configuration
from reference_chains.synthetic import make_inputs

BUCKET = "products"
ROOT = f"s3://{BUCKET}/centre"
PUBLIC = "https://data.example.org/products"
CHAINS = ("maja-l2a", "lis-snow", "maja-l3a-monthly")


def objects(prefix: str = "") -> dict[str, int]:
    """Every object of the bucket under ``prefix``, with its size."""
    return {str(o["path"]): int(o["size"]) for batch in obstore.list(S3Store(BUCKET), prefix) for o in batch}


def items_of(database_url: str, collections: tuple[str, ...]) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT pgstac.get_item(id, collection) FROM pgstac.items WHERE collection = ANY(%s)", (list(collections),)
        ).fetchall()
    return [row[0] for row in rows]


def test_a_production_in_object_storage_reads_its_own_products_back(
    db_url: str, s3_endpoint: str, tmp_path: Path
) -> None:
    assert httpx.put(f"{s3_endpoint}/{BUCKET}").status_code == 200
    home = (tmp_path / "home").absolute()
    inputs = tmp_path / "inputs"
    make_inputs(inputs, ["31TCJ"], date(2024, 1, 1), date(2024, 1, 31))
    write_user_configuration(home / MAJA_USERCONF)
    chain_path = launchers.install(tmp_path / "bin")
    settings = ProductionSettings(home=home, database_url=db_url, storage=ROOT, public_url=PUBLIC,
                                  chain_path=str(chain_path))  # fmt: skip
    production = Production(Catalog(settings))
    auxiliary = sorted((inputs / "dem-tiles").glob("*.json")) + sorted((inputs / "cams-aerosol").glob("*.json"))
    assert production.catalog.ingest([*auxiliary, inputs / "sentinel-2-l1c"]).ok
    production.add_request(write_request(tmp_path, "s3", ", ".join(CHAINS), "2024-01-01", "2024-01-31", ("31TCJ",)))
    wanted = GapFilter(requests=["s3"], collections=list(CHAINS), states=STATES)

    report = production.run(RunRequest(scope=wanted, executor=ExecutorSpec(workers=2)), chain_path=str(chain_path))

    assert report.failed == report.lost == 0 and report.succeeded >= 6, report
    undone = ("runnable", "failed", "queued", "running")  # as the demo counts: a too cloudy L2A makes no snow
    left = [row for row in production.gap_summary(wanted) if row["state"] in undone and row["units"]]
    assert left == [], left
    items = items_of(db_url, CHAINS)
    assert {item["collection"] for item in items} == set(CHAINS)
    stored = objects()
    for item in items:
        assert ALTERNATE_ASSETS in item["stac_extensions"]
        for asset in item["assets"].values():
            internal = asset["alternate"]["s3"]["href"]
            key = internal.removeprefix(f"s3://{BUCKET}/")
            assert internal.startswith(f"{ROOT}/{item['collection']}/31TCJ/2024/")
            assert asset["href"] == f"{PUBLIC}/{key.removeprefix('centre/')}"
            assert stored.get(key, 0) == asset.get("file:size", stored.get(key)) and stored[key] > 0, key
    assert not list((home / "storage").glob("*/*")), "no product on the POSIX side"
    # The chains read the stored L2A through the input cache, each product whole (not only its assets).
    l2a = {item["id"]: item for item in items if item["collection"] == "maja-l2a"}
    nominal = [i for i in l2a.values() if any(link["href"].endswith(tuple(l2a)) for link in i["links"]
                                              if link["rel"] == "derived_from")]  # fmt: skip
    assert nominal, "a MAJA NOMINAL job read the previous L2A"
    cached = home / "input-cache" / "maja-l2a"
    entries = [folder for folder in cached.iterdir() if folder.is_dir()]
    assert entries and {folder.name for folder in entries} <= set(l2a)
    for entry in entries:
        (product,) = entry.iterdir()
        files = {p.relative_to(product).as_posix() for p in product.rglob("*") if p.is_file()}
        prefix = f"centre/maja-l2a/31TCJ/2024/{product.name}/"
        assert files == {key.removeprefix(prefix) for key in objects(prefix)}, entry
    with psycopg.connect(db_url) as conn:  # the job logs stay on a folder: the dashboard reads their tails
        logs = [Path(row[0]) for row in conn.execute("SELECT log_path FROM hesp.jobs")]
    assert logs and all(log.is_relative_to(home / "logs") and log.is_file() for log in logs)


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
