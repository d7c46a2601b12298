"""S1Tiling end to end through ``hesp run``: Sentinel-1 GRD slices placed on the tiles their footprints cover, a
request for s1tiling-backscatter on 31TCJ, the reference S1Processor run with the config.cfg that the adapter
writes, and the backscatter products registered with their lineage, stored, and counted as done by the gaps.

The chain runs at 600 m (``output_spatial_resolution: "600."`` in a copy of the collections) to stay fast, with
its DEM tiles (S1Tiling's dem_dir: 1-degree GeoTIFF tiles) in the test's folder.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import rasterio
from adapter_inputs import s1tiling_collections, write_dem_tiles, write_grd
from conftest import hesp
from run_scenario import write_request
from shapely.geometry import box

from hygor.db import Database
from hygor.loader import ItemLoader
from hymotep.storage import internal_href
from reference_chains import launchers

TILE = "31TCJ"
DESCENDING = datetime(2023, 1, 10, 5, 50, 0, tzinfo=UTC)
ASCENDING = datetime(2023, 1, 16, 17, 45, 0, tzinfo=UTC)


def test_s1tiling_backscatter_end_to_end(db_url: str, tmp_path: Path) -> None:
    dem_dir = write_dem_tiles(tmp_path / "srtm", west=0, south=43, east=2, north=45)
    collections = s1tiling_collections(tmp_path, dem_dir)
    grd = tmp_path / "sentinel-1-grd"
    # A descending pass in two slices (one unit of work: the same tile and half-day), an ascending pass in one.
    slices = [
        write_grd(grd, DESCENDING, relative_orbit=8, direction="DESCENDING", footprint=box(0.2, 43.8, 2.2, 44.6)),
        write_grd(grd, DESCENDING + timedelta(seconds=25), relative_orbit=8, direction="DESCENDING",
                  footprint=box(0.1, 43.0, 2.1, 43.9)),
        write_grd(grd, ASCENDING, relative_orbit=132, direction="ASCENDING", footprint=box(0.0, 43.1, 1.4, 44.6)),
    ]  # fmt: skip
    with ItemLoader(Database(db_url)) as loader:
        loader.load(slices)
    storage = tmp_path / "storage"
    env = {
        "HESP_DATABASE_URL": db_url,
        "HESP_COLLECTIONS_DIR": str(collections),
        "HESP_STORAGE": str(storage),
        "HESP_WORK_DIR": str(tmp_path / "work"),
        "HESP_CHAIN_PATH": str(launchers.install(tmp_path / "bin")),
    }
    request = write_request(tmp_path, "backscatter", "s1tiling-backscatter", "2023-01-01", "2023-01-31")
    added = hesp("request", "add", str(request), env=env)
    assert added.returncode == 0, added.stdout + added.stderr

    result = hesp("run", "--collection", "s1tiling-backscatter", "--workers", "1", env=env)
    assert result.returncode == 0, result.stdout + result.stderr

    with Database(db_url).connect() as conn:
        jobs = conn.execute("SELECT state, count(*) AS n FROM hesp.jobs GROUP BY state").fetchall()
        ids = [r["id"] for r in conn.execute("SELECT id FROM hesp.inventory WHERE collection = %s ORDER BY id",
                                             ("s1tiling-backscatter",))]  # fmt: skip
        items = {i: conn.execute("SELECT pgstac.get_item(%s, 's1tiling-backscatter') AS item", (i,)).fetchone()["item"]
                 for i in ids}  # fmt: skip
    assert {r["state"]: r["n"] for r in jobs} == {"succeeded": 2}
    descending_id, ascending_id = "s1a_31TCJ_DES_008_20230110txxxxxx", "s1a_31TCJ_ASC_132_20230116t174500"
    assert ids == sorted([descending_id, ascending_id])
    lineage = {
        item_id: {tuple(link["href"].split("/")[-3::2]) for link in item["links"] if link["rel"] == "derived_from"}
        for item_id, item in items.items()
    }
    assert lineage == {
        descending_id: {("sentinel-1-grd", slices[0]["id"]), ("sentinel-1-grd", slices[1]["id"])},
        ascending_id: {("sentinel-1-grd", slices[2]["id"])},
    }  # fmt: skip

    for item in items.values():
        assert item["properties"]["processing:version"] == "1.1.0" and item["properties"]["grid:code"] == "MGRS-31TCJ"
        assert {"vv", "vh", "vv-border-mask", "vh-border-mask"} <= set(item["assets"])
        for asset in item["assets"].values():
            stored = Path(internal_href(asset))
            assert stored.is_relative_to(storage / "s1tiling-backscatter" / TILE / "2023") and stored.is_file()
        with rasterio.open(internal_href(item["assets"]["vv"])) as vv:
            assert (vv.res, vv.shape) == ((600.0, 600.0), (183, 183))  # the chain.yaml setting reached S1Processor

    gaps = hesp("gaps", "-c", "s1tiling-backscatter", "--state", "done", "--list", "--format", "json", env=env)
    assert gaps.returncode == 0, gaps.stdout + gaps.stderr
    units = [(u["tile"], u["acquired"], u["state"]) for u in json.loads(gaps.stdout)]
    assert units == [(TILE, "2023-01-10T05:50:00Z", "done"), (TILE, "2023-01-16T17:45:00Z", "done")]
    remaining = hesp("gaps", "-c", "s1tiling-backscatter", "--list", "--format", "json", env=env)
    assert json.loads(remaining.stdout) == []
