"""``hesp ingest`` on real product metadata and real files, into a real pgSTAC."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
import rasterio
from conftest import FIXTURES, HESP, hesp
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles
from stac_items import l2a_item

from hygor.grid import tile
from hygor.items import MediaType, file_asset, stac_datetime, tiled_item

ESA = FIXTURES / "real" / "esa"
L1C = ESA / "S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248.SAFE"
L2A = ESA / "esa_S2B_MSIL2A_20210122T133229_N0214_R081_T22HBD_20210122T155500.SAFE"
TILEINFO = ESA / "S2A_OPER_MSI_L2A_TL_2APS_20240108T121951_A044635_T34VEL"
EARTH_SEARCH_ITEM = FIXTURES / "real" / "stac-items" / "S2A_28QCH_20200714_0_L2A.json"


def snapshot(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT collection, id, content, private FROM pgstac.items ORDER BY id").fetchall()


def run(url: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = hesp("ingest", *args, "--format", "json", env={"HESP_DATABASE_URL": url})
    assert result.stderr == "", result.stderr
    return result.returncode, json.loads(result.stdout)


def reasons(report: dict[str, Any]) -> dict[str, str]:
    return {Path(r["path"]).name: r["reason"] for r in report["rejected"]}


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """Real products and broken things side by side."""
    folder = tmp_path / "incoming"
    folder.mkdir()
    shutil.copytree(L1C, folder / L1C.name)
    shutil.copytree(L2A, folder / "S2B_MSIL2A_20210122T133229_N0214_R081_T22HBD_20210122T155500.SAFE")
    shutil.copytree(TILEINFO, folder / TILEINFO.name)
    truncated = folder / "S2B_MSIL1C_20210101T000000_N0301_R133_T46RER_20210101T000000.SAFE"
    truncated.mkdir()
    (truncated / "MTD_MSIL1C.xml").write_text((L1C / "MTD_MSIL1C.xml").read_text()[:5000])
    (folder / "notes.txt").write_text("delivery of 8 September\n")
    shutil.copy(EARTH_SEARCH_ITEM, folder / EARTH_SEARCH_ITEM.name)  # its collection is not one of ours
    return folder


def test_a_mixed_folder_loads_the_good_and_names_the_bad(mixed_folder: Path, db_url: str) -> None:
    code, report = run(db_url, str(mixed_folder))
    assert code == 1
    assert (report["ingested"], report["updated"], report["unchanged"]) == (3, 0, 0)
    why = reasons(report)
    assert set(why) == {
        "S2B_MSIL1C_20210101T000000_N0301_R133_T46RER_20210101T000000.SAFE",
        "notes.txt",
        EARTH_SEARCH_ITEM.name,
    }
    assert "malformed XML" in why["S2B_MSIL1C_20210101T000000_N0301_R133_T46RER_20210101T000000.SAFE"]
    assert "unknown format" in why["notes.txt"]
    assert "unknown collection 'sentinel-s2-l2a-cogs'" in why[EARTH_SEARCH_ITEM.name]
    loaded = snapshot(db_url)
    assert sorted((row[0], row[1]) for row in loaded) == [
        ("sentinel-2-l1c", "S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248"),
        ("sentinel-2-l2a-esa", "S2A_MSIL2A_20240108T101401_N0510_R022_T34VEL_20240108T121951"),
        ("sentinel-2-l2a-esa", "S2B_MSIL2A_20210122T133229_N0214_R081_T22HBD_20210122T155500"),
    ]

    code, again = run(db_url, str(mixed_folder))
    assert code == 1 and (again["ingested"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert snapshot(db_url) == loaded


def test_check_assets_refuses_products_without_their_files(tmp_path: Path, db_url: str) -> None:
    product = shutil.copytree(L1C, tmp_path / L1C.name)
    code, report = run(db_url, str(product), "--check-assets")
    assert code == 1 and report["ingested"] == 0
    assert "asset B01 is missing" in report["rejected"][0]["reason"]
    assert snapshot(db_url) == []
    code, report = run(db_url, str(product))  # metadata alone is enough without the check
    assert code == 0 and report["ingested"] == 1


def dem_item(path: Path, item_id: str) -> dict[str, Any]:
    grid_tile = tile("31TCJ")
    asset = file_asset(path, media_type=MediaType.COG, roles=["data"], title="Altitude, 240 m")
    return tiled_item(
        item_id=item_id,
        collection="dem-tiles",
        tile=grid_tile,
        properties={"datetime": stac_datetime(__import__("datetime").datetime(2000, 2, 11))},
        assets={"ALC": asset},
    )


def write_raster(path: Path, cog: bool) -> None:
    grid_tile = tile("31TCJ")
    profile = {
        "driver": "GTiff",
        "width": 1024,
        "height": 1024,
        "count": 1,
        "dtype": "int16",
        "crs": f"EPSG:{grid_tile.epsg}",
        "transform": from_origin(grid_tile.xmin, grid_tile.ymax, 107.2, 107.2),
    }
    plain = path.with_suffix(".plain.tif") if cog else path
    with rasterio.open(plain, "w", **profile) as raster:
        raster.write(np.arange(1024 * 1024, dtype=np.int16).reshape(1, 1024, 1024))
    if cog:
        cog_translate(plain, path, cog_profiles.get("deflate"), quiet=True)


def test_check_cog_refuses_rasters_that_are_not_cogs(tmp_path: Path, db_url: str) -> None:
    write_raster(tmp_path / "cog.tif", cog=True)
    write_raster(tmp_path / "striped.tif", cog=False)
    items = tmp_path / "dem.ndjson"
    items.write_text(
        json.dumps(dem_item(tmp_path / "cog.tif", "DEM_31TCJ_cog"))
        + "\n"
        + json.dumps(dem_item(tmp_path / "striped.tif", "DEM_31TCJ_striped"))
        + "\n"
    )
    code, report = run(db_url, str(items), "--check-cog")
    assert code == 1 and report["ingested"] == 1
    assert report["rejected"][0]["item_id"] == "DEM_31TCJ_striped"
    assert "not a valid Cloud Optimized GeoTIFF" in report["rejected"][0]["reason"]
    assert [row[1] for row in snapshot(db_url)] == ["DEM_31TCJ_cog"]


def test_items_of_other_catalogues_are_rehomed_when_told(db_url: str) -> None:
    code, report = run(db_url, str(EARTH_SEARCH_ITEM), "--collection", "sentinel-2-l2a-esa")
    assert code == 0 and report["ingested"] == 1
    [(collection, item_id, content, _)] = snapshot(db_url)
    assert (collection, item_id) == ("sentinel-2-l2a-esa", "S2A_28QCH_20200714_0_L2A")
    assert not any(link["rel"] in {"self", "parent", "root", "collection"} for link in content.get("links", []))


def test_bad_records_are_rejected_alone_and_changes_are_updates(tmp_path: Path, db_url: str) -> None:
    from datetime import datetime

    good = [
        l2a_item("31TCJ", datetime(2023, 5, day, 10, 56), 10.0) | {"collection": "sentinel-2-l2a-esa"} for day in (1, 6)
    ]
    broken = l2a_item("31TCJ", datetime(2023, 5, 11, 10, 56), 150.0) | {"collection": "sentinel-2-l2a-esa"}
    records = tmp_path / "records.ndjson"
    records.write_text("".join(json.dumps(item) + "\n" for item in (good[0], broken, good[1])) + "{not json\n")
    code, report = run(db_url, str(records))
    assert code == 1 and report["ingested"] == 2
    assert [r["item_id"] for r in report["rejected"]] == [broken["id"], None]
    assert "eo:cloud_cover" in report["rejected"][0]["reason"] and "line 4" in report["rejected"][1]["reason"]

    good[1]["properties"]["eo:cloud_cover"] = 12.5
    records.write_text("".join(json.dumps(item) + "\n" for item in good))
    code, report = run(db_url, str(records))
    assert code == 0 and (report["ingested"], report["updated"], report["unchanged"]) == (0, 1, 1)
    stored = {row[1]: row[2] for row in snapshot(db_url)}
    assert stored[good[1]["id"]]["properties"]["eo:cloud_cover"] == 12.5


def test_ingest_needs_a_known_collection_and_existing_paths(tmp_path: Path, db_url: str) -> None:
    result = hesp("ingest", str(tmp_path), "--collection", "nope", env={"HESP_DATABASE_URL": db_url})
    assert result.returncode == 1 and "unknown collection 'nope'" in result.stderr
    code, report = run(db_url, str(tmp_path / "missing"))
    assert code == 1 and report["rejected"][0]["reason"] == "no such file or folder"


def test_chain_outputs_are_always_checked_for_files_and_cogs(tmp_path: Path, db_url: str) -> None:
    from datetime import UTC, datetime

    from products import write_lis, write_muscate_l2a, write_s1tiling, write_surfwater

    folder = tmp_path / "outputs"
    valid = write_muscate_l2a(folder, when=datetime(2023, 6, 15, 10, 58, 56, tzinfo=UTC))
    cloudy = write_muscate_l2a(folder, when=datetime(2023, 6, 20, 10, 58, 56, tzinfo=UTC), cloud_cover=97, valid=False)
    holed = write_muscate_l2a(folder, when=datetime(2023, 6, 25, 10, 58, 56, tzinfo=UTC))
    next(holed.glob("*_SRE_B4.tif")).unlink()
    write_surfwater(folder)
    write_s1tiling(folder / "s1")
    lis = write_lis(folder / "lis")
    fsc = next(p for p in lis.rglob("*.tif") if p.name.endswith("_1.tif"))
    write_raster(fsc, cog=False)

    code, report = run(db_url, str(folder), "--recursive")
    assert code == 1
    why = {r["item_id"] or Path(r["path"]).name: r["reason"] for r in report["rejected"]}
    assert len(why) == 2, why
    assert any("SRE_B4 is missing" in reason for reason in why.values())
    assert any("not a valid Cloud Optimized GeoTIFF" in reason for reason in why.values())
    stored = {(row[0], row[1]): row[2] for row in snapshot(db_url)}
    assert {collection for collection, _ in stored} == {"maja-l2a", "surfwater-water", "s1tiling-backscatter"}
    assert stored[("maja-l2a", valid.name)]["properties"]["hesp:valid"] is True
    assert stored[("maja-l2a", cloudy.name)]["properties"]["hesp:valid"] is False

    code, again = run(db_url, str(folder), "--recursive")
    assert again["ingested"] == again["updated"] == 0 and again["unchanged"] == report["ingested"]


def test_killing_ingest_leaves_no_loader_behind(db_url: str, tmp_path: Path) -> None:
    """The loader runs in a process of its own: killed with its ``hesp ingest`` while it waits on the database,
    it stops too (no orphan holding a connection, loading once the database answers)."""
    items = tmp_path / "items.ndjson"
    good = json.loads((FIXTURES.parent / "hostile" / "ingest" / "good" / "good-beside.json").read_text())
    lines = (json.dumps({**good, "id": f"item-{n}", "assets": {}}) for n in range(2_000))
    items.write_text("\n".join(lines) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESP_")} | {"HESP_DATABASE_URL": db_url}
    with psycopg.connect(db_url) as blocker:
        blocker.execute("LOCK TABLE pgstac.items IN ACCESS EXCLUSIVE MODE")  # the loader's first write waits
        ingest = subprocess.Popen([HESP, "ingest", str(items)], env=env, stdout=subprocess.DEVNULL)
        with psycopg.connect(db_url, autocommit=True) as watcher:
            wait_for(lambda: watcher.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchall()[0][0])
        children = child_processes(ingest.pid)  # the loader, waiting, and multiprocessing's resource tracker
        ingest.kill()
        ingest.wait()
        assert not wait_for(lambda: [pid for pid in children if Path(f"/proc/{pid}").exists()], until_empty=True)
        blocker.rollback()


def child_processes(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def wait_for(probe: Callable[[], Any], until_empty: bool = False, seconds: float = 60) -> Any:
    """What ``probe`` gives once it is truthy (or falsy, ``until_empty``), or at the deadline."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if bool(value) != until_empty or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_two_ingests_of_the_same_items_at_once_count_each_item_new_once(db_url: str, tmp_path: Path) -> None:
    """Both read the stored digests before either writes (the test holds the items' table for the moment): the
    one that writes second finds the other's items, and reports them unchanged, not new."""
    good = json.loads((FIXTURES.parent / "hostile" / "ingest" / "good" / "good-beside.json").read_text())
    text = "".join(json.dumps({**good, "id": f"item-{n}", "assets": {}}) + "\n" for n in range(300))
    copies = [tmp_path / f"copy-{n}.ndjson" for n in range(2)]  # two files: two runs, the same items
    for copy in copies:
        copy.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESP_")} | {"HESP_DATABASE_URL": db_url}
    with psycopg.connect(db_url) as holder, psycopg.connect(db_url, autocommit=True) as watcher:
        holder.execute("LOCK TABLE pgstac.items IN SHARE MODE")  # reads go on, writes wait
        runs = [
            subprocess.Popen(
                [HESP, "ingest", str(copy), "--format", "json"], env=env, stdout=subprocess.PIPE, text=True
            )
            for copy in copies
        ]
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        wait_for(lambda: watcher.execute(waiting).fetchall()[0][0] >= 1, seconds=120)
        time.sleep(3)  # the second run reads the digests too
        holder.rollback()
    reports = [json.loads(run.communicate(timeout=600)[0]) for run in runs]
    assert sum(r["ingested"] for r in reports) == 300, reports
