"""The reference chains LIS, Surfwater and S1Tiling: their products, read by the collections' own readers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from numpy.typing import NDArray
from products import PIXELS, no_data_west, write_cog, write_muscate_l2a
from rio_cogeo.cogeo import cog_validate

from hygor import grid
from hygor.readers import reader
from reference_chains import lis, s1tiling, surfwater

TILE = grid.tile("31TCJ")
NO_DATA = -10000


def band(path: Path) -> NDArray[Any]:
    with rasterio.open(path) as dataset:
        data: NDArray[Any] = dataset.read(1)
    return data


def assert_cogs(folder: Path) -> None:
    rasters = sorted(folder.glob("*.tif"))
    assert rasters
    for raster in rasters:
        valid, errors, _ = cog_validate(str(raster), quiet=True)
        assert valid, (raster.name, errors)


def reflectances(side: int, values: dict[str, tuple[float, float, float]]) -> dict[str, NDArray[np.int16]]:
    """Bands of a scene of ``side`` pixels: snow in the north, land in the south, a lake (columns 40-50 %) and
    a bright cloud in the south-east; values by band: (snow, land, lake); no data on the western quarter."""
    rows = np.arange(side)[:, np.newaxis].repeat(side, axis=1)
    columns = rows.T
    lake = (columns >= side * 4 // 10) & (columns < side // 2) & (rows >= side // 2)
    cloud = (rows >= side * 3 // 4) & (columns >= side * 3 // 4)
    scene = {}
    for name, (snow, land, water) in values.items():
        data = np.where(rows < side // 2, snow, np.where(lake, water, land))
        data = np.where(cloud, 0.6 if name != "B11" else 0.5, data)
        scene[name] = np.where(no_data_west((side, side)), NO_DATA, np.round(data * 10000)).astype(np.int16)
    return scene


@pytest.fixture
def l2a(tmp_path: Path) -> Path:
    """A MAJA L2A of 31TCJ: snowy in the north, land with a lake in the south, a cloud in the south-east."""
    folder = write_muscate_l2a(tmp_path / "l2a", tile=TILE.id)
    values = {"B3": (0.8, 0.08, 0.06), "B4": (0.7, 0.06, 0.04), "B8": (0.7, 0.35, 0.03), "B11": (0.1, 0.2, 0.01)}
    for side, names, group in ((PIXELS, ("B3", "B4", "B8"), "R1"), (PIXELS // 2, ("B11",), "R2")):
        for name, data in reflectances(side, {n: values[n] for n in names}).items():
            write_cog(folder / f"{folder.name}_FRE_{name}.tif", data, TILE, nodata=NO_DATA)
        rows, columns = np.indices((side, side))
        clm = ((rows >= side * 3 // 4) & (columns >= side * 3 // 4)).astype(np.uint8)
        write_cog(folder / "MASKS" / f"{folder.name}_CLM_{group}.tif", clm, TILE)
    return folder


@pytest.fixture
def dem(tmp_path: Path) -> Path:
    """Altitude from 2,500 m in the north to 500 m in the south, at another resolution than the L2A's."""
    altitude = np.linspace(2500, 500, 20)[:, np.newaxis].repeat(20, axis=1).astype(np.int16)
    return write_cog(tmp_path / "dem" / f"DEM_T{TILE.id}_ALT.tif", altitude, TILE)


def test_lis_detects_snow_and_writes_a_product_that_the_lis_reader_reads(l2a: Path, dem: Path, tmp_path: Path) -> None:
    out = tmp_path / "lis"
    assert lis.main(["-i", str(l2a), "-o", str(out), "-d", str(dem), "-n", "2"]) == 0

    (item,) = reader("theia-lis").read(out)
    assert item["id"] == f"LIS_S2-SNOW-FSC_T{TILE.id}_20230615T105856_1.7.0_2"
    properties = item["properties"]
    assert properties["processing:version"] == "1.7.0"
    assert properties["grid:code"] == f"MGRS-{TILE.id}"
    assert properties["datetime"] == "2023-06-15T10:58:56Z"
    assert properties["hesp:valid"] is True
    assert properties["eo:snow_cover"] > 40 and 0 < properties["eo:cloud_cover"] < 15
    assert {"FSC-TOC", "QCFLAGS", "quicklook", "metadata"} <= item["assets"].keys() and "FSC-OG" not in item["assets"]
    assert any(link["rel"] == "derived_from" and l2a.name in link["href"] for link in item["links"])
    assert_cogs(out)

    fsc = band(out / f"LIS_S2-SNOW-FSC-TOC_T{TILE.id}_20230615T105856_1.7.0_2.tif")
    side = PIXELS // 2
    assert (fsc[:, : side // 4] == 255).all()  # no data
    assert ((fsc[: side // 2, side // 4 :] > 50) & (fsc[: side // 2, side // 4 :] <= 100)).all()  # snow
    assert (fsc[side // 2 : side * 3 // 4, side // 4 :] == 0).all()  # land
    assert (fsc[side * 3 // 4 :, side * 3 // 4 :] == 205).all()  # bright cloud
    quality = band(out / f"LIS_S2-SNOW-FSC-QCFLAGS_T{TILE.id}_20230615T105856_1.7.0_2.tif")
    assert (quality[:, side // 4 :] & 32 == 32).all()  # no tree cover density given


def test_lis_snowline_is_two_bands_below_the_lowest_snowy_band() -> None:
    altitude = np.linspace(3000, 0, 100, dtype=np.float32)[:, np.newaxis].repeat(10, axis=1)
    snow = np.zeros(altitude.shape, dtype=bool)
    snow[:30] = True  # down to 2,121 m
    clear = np.ones(altitude.shape, dtype=bool)
    assert lis.snowline(altitude, snow, clear, lis.THRESHOLDS) == 1900
    assert lis.snowline(altitude, np.zeros(altitude.shape, dtype=bool), clear, lis.THRESHOLDS) is None


def test_lis_runs_as_a_program_from_its_launch_file(l2a: Path, dem: Path, tmp_path: Path) -> None:
    tcd = write_cog(tmp_path / "tcd.tif", np.full((8, 8), 50, dtype=np.uint8), TILE)
    launch = tmp_path / "launch.json"
    keys = {"input_dir": str(l2a), "output_dir": str(tmp_path / "lis"), "dem": str(dem), "tcd": str(tcd)}
    launch.write_text(json.dumps(keys | {"water_mask": None, "config_file": None, "log_level": "INFO"}))
    result = subprocess.run(
        [sys.executable, "-m", "reference_chains.lis", "-j", str(launch)],
        capture_output=True,
        text=True,
        env=os.environ | {"HESP_CHAIN_VERSION": "1.8.1"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "snow" in result.stdout

    (item,) = reader("theia-lis").read(tmp_path / "lis")
    assert item["properties"]["processing:version"] == "1.8.1"
    on_ground = band(Path(item["assets"]["FSC-OG"]["href"]))
    top_of_canopy = band(Path(item["assets"]["FSC-TOC"]["href"]))
    snow = (top_of_canopy > 0) & (top_of_canopy <= 100)
    assert snow.any() and (on_ground[snow] >= top_of_canopy[snow]).all()  # corrected for 50 % of trees


def test_lis_refuses_a_missing_l2a_and_a_bad_command_line(
    dem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lis.main(["-i", str(tmp_path / "nowhere"), "-o", str(tmp_path / "out"), "-d", str(dem)]) == 1
    error = capsys.readouterr().err.strip()
    assert "nowhere" in error and "no such L2A" in error and len(error.splitlines()) == 1

    assert lis.main(["-i", str(tmp_path), "-o", str(tmp_path / "out")]) == 2  # no DEM
    assert "missing dem" in capsys.readouterr().err
    launch = tmp_path / "launch.json"
    launch.write_text("{not json")
    assert lis.main(["-j", str(launch)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_surfwater_finds_the_lake_and_writes_a_product_that_the_surfwater_reader_reads(
    l2a: Path, tmp_path: Path
) -> None:
    assert surfwater.main(["--input", str(l2a), "--output", str(tmp_path / "out")]) == 0

    (folder,) = (tmp_path / "out").iterdir()
    assert folder.name == f"SURFWATER_S2A_20230615-105856_T{TILE.id}_V1-0-0"
    (item,) = reader("surfwater").read(folder)
    properties = item["properties"]
    assert properties["processing:version"] == "1.0.0" and properties["hesp:valid"] is True
    assert properties["grid:code"] == f"MGRS-{TILE.id}" and properties["datetime"].startswith("2023-06-15T10:58:56")
    assert {"WATER", "PROBA", "metadata", "quicklook"} <= item["assets"].keys()
    assert_cogs(folder)

    water = band(folder / f"{folder.name}_WATER.tif")
    probability = band(folder / f"{folder.name}_PROBA.tif")
    lake = np.s_[PIXELS // 2 + 2 : PIXELS * 3 // 4, PIXELS * 4 // 10 + 2 : PIXELS // 2 - 2]  # B11 is 20 m
    assert (water[lake] == 1).all() and (probability[lake] > 50).all()
    assert (water[:, : PIXELS // 4] == 255).all() and (water[PIXELS * 3 // 4 :, PIXELS * 3 // 4 :] == 2).all()
    assert (water[: PIXELS // 2, PIXELS // 4 :] == 0).all()  # snow is not water (MNDWI > 0 but bright red)
    metadata = json.loads((folder / f"{folder.name}_MTD.json").read_text())
    assert metadata["source_product_id"] == l2a.name and 0 < metadata["water_percentage"] < 20


def test_surfwater_makes_an_invalid_product_from_an_invalid_l2a_and_refuses_a_missing_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    invalid = write_muscate_l2a(tmp_path / "l2a", valid=False, with_rasters=False, cloud_cover=95)
    assert surfwater.main(["--input", str(invalid), "--output", str(tmp_path / "out"), "--chain-version", "1.1"]) == 0
    (folder,) = (tmp_path / "out").iterdir()
    (item,) = reader("surfwater").read(folder)
    assert item["properties"]["hesp:valid"] is False and item["properties"]["processing:version"] == "1.1"
    assert item["properties"]["eo:cloud_cover"] == 95 and sorted(item["assets"]) == ["metadata"]

    assert surfwater.main(["--input", str(tmp_path / "nowhere"), "--output", str(tmp_path / "out")]) == 1
    assert "no such L2A product folder" in capsys.readouterr().err
    assert surfwater.main(["--output", str(tmp_path / "out")]) == 2


GRDS = (
    "S1A_IW_GRDH_1SDV_20200108T044150_20200108T044215_030704_038506_1F3A.SAFE",
    "S1A_IW_GRDH_1SDV_20200108T044215_20200108T044240_030704_038506_2B4C.SAFE",
    "S1A_IW_GRDH_1SDV_20200120T044150_20200120T044215_030879_038B1A_5D0E.SAFE",
    "S1A_IW_GRDH_1SDV_20200301T044150_20200301T044215_031579_03A2C1_77AB.SAFE",  # after last_date
)


def s1_config(tmp_path: Path, dem: Path, **processing: str) -> Path:
    images = tmp_path / "s1_images"
    for name in GRDS:
        (images / name).mkdir(parents=True, exist_ok=True)
        (images / name / "manifest.safe").write_text("<xfdu:XFDU><s1:pass>DESCENDING</s1:pass></xfdu:XFDU>")
    settings = {"calibration": "sigma", "tiles": TILE.id, "output_spatial_resolution": "600",
                "remove_thermal_noise": "True", "orthorectification_gridspacing": "40", "nb_parallel_processes": "1",
                "ram_per_process": "1024", "nb_otb_threads": "1"} | processing  # fmt: skip
    config = tmp_path / "S1Processor.cfg"
    config.write_text(  # the options S1Tiling 1.1 requires; the DEM: any GeoTIFF of dem_dir
        f"[Paths]\noutput = {tmp_path / 'out'}\ntmp = {tmp_path / 'tmp'}\ndem_dir = {dem.parent}\n"
        f"dem_format = {{id}}.tif\ns1_images = {images}\n"
        "[DataSource]\ndownload = False\nroi_by_tiles = ALL\npolarisation = VV-VH\norbit_direction = DES\n"
        "relative_orbit_list = 7\nfirst_date = 2020-01-01\nlast_date = 2020-01-31\n"
        "[Mask]\ngenerate_border_mask = True\n"
        "[Processing]\n" + "".join(f"{key} = {value}\n" for key, value in settings.items())
    )
    return config


def test_s1tiling_writes_one_item_per_pass_that_the_s1tiling_reader_reads(dem: Path, tmp_path: Path) -> None:
    assert s1tiling.main([str(s1_config(tmp_path, dem))]) == 0

    folder = tmp_path / "out" / TILE.id
    items = {item["id"]: item for item in reader("s1tiling").read(folder)}
    assert sorted(items) == [f"s1a_{TILE.id}_DES_007_20200108txxxxxx", f"s1a_{TILE.id}_DES_007_20200120t044150"]
    concatenated = items[f"s1a_{TILE.id}_DES_007_20200108txxxxxx"]["properties"]
    assert concatenated["datetime"] == "2020-01-08T04:41:50Z" and concatenated["processing:version"] == "1.1.0"
    assert concatenated["sat:relative_orbit"] == 7 and concatenated["sar:polarizations"] == ["VV", "VH"]
    assert concatenated["hesp:valid"] is True and concatenated["proj:shape"] == [183, 183]
    assert_cogs(folder)

    sigma0 = band(folder / f"s1a_{TILE.id}_vv_DES_007_20200108txxxxxx.tif")
    border = band(folder / f"s1a_{TILE.id}_vv_DES_007_20200108txxxxxx_BorderMask.tif")
    assert border.min() == 0 and border.max() == 1  # a swath edge crosses the tile
    assert (sigma0[border == 0] == 0).all() and (sigma0[border == 1] > 0).all()
    assert 0.01 < float(np.median(sigma0[border == 1])) < 0.5
    with rasterio.open(folder / f"s1a_{TILE.id}_vh_DES_007_20200108txxxxxx.tif") as dataset:
        assert dataset.dtypes == ("float32",) and dataset.tags()["TIFFTAG_SOFTWARE"] == "S1 Tiling v1.1.0"


def test_s1tiling_fails_a_tile_without_input_and_refuses_a_bad_configuration(
    dem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert s1tiling.main([str(s1_config(tmp_path, dem, tiles=f"{TILE.id}, 33NWB"))]) == 0  # no footprint: covers
    config = s1_config(tmp_path, dem)
    config.write_text(config.read_text().replace("relative_orbit_list = 7", "relative_orbit_list = 8"))
    assert s1tiling.main([str(config)]) == 66
    assert "no Sentinel-1 input for tile(s) 31TCJ" in capsys.readouterr().err

    assert s1tiling.main([str(s1_config(tmp_path, dem, calibration="sigma0"))]) == 2
    assert "calibration sigma0 is not one of" in capsys.readouterr().err
    assert s1tiling.main([str(tmp_path / "missing.cfg")]) == 2
    assert "no such configuration file" in capsys.readouterr().err
