"""The Sentinel-2 reference chains: synthetic L1C, DEM and CAMS inputs read by the project's readers, the MAJA
stand-in (INIT, NOMINAL, BACKWARD, too cloudy) and the WASP stand-in, whose products the theia-muscate reader
ingests."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rio_cogeo.cogeo import cog_validate

from hygor.readers import reader
from hygor.validation import item_errors
from reference_chains import maja, wasp
from reference_chains.maja_userconf import write_user_configuration
from reference_chains.rasters import read_band
from reference_chains.synthetic import Acquired, SyntheticInputs, make_inputs

TILE = "31TCJ"
START, END = date(2023, 1, 1), date(2023, 2, 9)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> SyntheticInputs:
    return make_inputs(tmp_path_factory.mktemp("synthetic"), [TILE], START, END, pixel_size=1000.0)


def clear(inputs: SyntheticInputs) -> list[Acquired]:
    return [acquired for acquired in inputs.l1c if acquired.cloud_percent < 30]


def input_folder(root: Path, inputs: SyntheticInputs, l1cs: list[Acquired], previous: Path | None = None) -> Path:
    """MAJA's input folder, as the adapter makes it: links named as the products."""
    folder = root / "input"
    folder.mkdir(parents=True)
    day = l1cs[0].acquisition.when.strftime("%Y%m%d")
    cams = next(inputs.root.glob(f"cams-aerosol/*CAMS_{day}T*.DBL.DIR"))
    products = [*(a.path for a in l1cs), inputs.dem[0].parent / f"T{TILE}", cams]
    for product in [*products, *([previous] if previous else [])]:
        (folder / product.name).symlink_to(product)
    return folder


def run_maja(root: Path, folder: Path, mode: str) -> tuple[int, Path]:
    output = root / "output"
    code = maja.main(["-w", str(root / "work"), "--input", str(folder), "--output", str(output), "--mode", mode]
                     + ["-ucs", str(write_user_configuration(root / "userconf")), "--TileId", TILE])  # fmt: skip
    return code, output


def l2a_item(output: Path) -> dict[str, Any]:
    (folder,) = output.iterdir()
    (item,) = reader("theia-muscate").read(folder)
    assert item_errors(item) == []
    return item


def test_synthetic_inputs_are_read_by_the_readers(inputs: SyntheticInputs) -> None:
    items = [reader("esa-safe-l1c").read(acquired.path)[0] for acquired in inputs.l1c]
    assert all(item_errors(item) == [] for item in items)
    assert [item["properties"]["platform"] for item in items[:2]] in (
        ["sentinel-2a", "sentinel-2b"],
        ["sentinel-2b", "sentinel-2a"],
    )
    times = [datetime.fromisoformat(item["properties"]["datetime"]) for item in items]
    gaps = [later - earlier - timedelta(days=5) for earlier, later in zip(times, times[1:], strict=False)]
    assert all(abs(gap) < timedelta(minutes=2) for gap in gaps)
    assert items[0]["assets"]["B02"]["bands"][0]["raster:offset"] == -0.1
    assert items[0]["properties"]["processing:version"] == "05.09"
    assert all(Path(asset["href"]).is_file() for asset in items[0]["assets"].values())
    auxiliaries = [reader("stac-json").read(path)[0] for path in (*inputs.dem, *inputs.cams)]
    assert all(item_errors(item) == [] for item in auxiliaries)
    assert {item["collection"] for item in auxiliaries} == {"dem-tiles", "cams-aerosol"}
    assert len(inputs.cams) == (END - START).days + 1
    assert all(Path(a["href"]).is_file() for item in auxiliaries for a in item["assets"].values())


def test_winter_scene_has_snow_on_the_mountains_and_one_date_is_overcast(inputs: SyntheticInputs) -> None:
    assert any(acquired.cloud_percent > 90 for acquired in inputs.l1c)
    acquired = min(inputs.l1c, key=lambda a: a.cloud_percent)
    images = acquired.path / "GRANULE"
    green, _ = read_band(next(images.glob("*/IMG_DATA/*_B03.jp2")))
    swir, _ = read_band(next(images.glob("*/IMG_DATA/*_B11.jp2")))
    altitude, _ = read_band(next(inputs.root.glob("dem-tiles/*/*.DBL.DIR/*_ALT_R1.TIF")))
    green, swir = green / 10_000 - 0.1, swir / 10_000 - 0.1
    snowy = (green - swir) / (green + swir) > 0.4
    assert snowy[altitude > 1800].mean() > 0.8
    assert snowy[altitude < 500].mean() < 0.1


def test_maja_init_then_nominal(inputs: SyntheticInputs, tmp_path: Path) -> None:
    first, second = clear(inputs)[:2]
    code, output = run_maja(tmp_path / "init", input_folder(tmp_path / "init", inputs, [first]), "L2INIT")
    assert code == 0
    item = l2a_item(output)
    properties = item["properties"]
    assert properties["grid:code"] == f"MGRS-{TILE}" and properties["hesp:valid"] is True
    assert properties["processing:version"] == "4.10.0" and properties["processing:level"] == "L2A"
    l1c = reader("esa-safe-l1c").read(first.path)[0]
    assert properties["datetime"] == l1c["properties"]["datetime"]
    assert abs(properties["eo:cloud_cover"] - first.cloud_percent) < 25
    rasters = [a["href"] for a in item["assets"].values() if a["href"].endswith(".tif")]
    assert len(rasters) > 25 and all(cog_validate(href, quiet=True)[0] for href in rasters)
    surface, _ = read_band(Path(item["assets"]["SRE_B8"]["href"]))
    assert surface.dtype == np.int16 and 300 < np.median(surface) < 9000 and surface.max() < 15_000

    previous = next(output.iterdir())
    root = tmp_path / "nominal"
    code, output = run_maja(root, input_folder(root, inputs, [second], previous), "L2NOMINAL")
    assert code == 0
    nominal = l2a_item(output)
    assert nominal["links"][0]["href"].endswith(previous.name)
    assert nominal["properties"]["datetime"] > properties["datetime"]


def test_maja_nominal_needs_the_previous_l2a(
    inputs: SyntheticInputs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = run_maja(tmp_path, input_folder(tmp_path, inputs, clear(inputs)[:1]), "L2NOMINAL")
    assert code == 1
    assert "L2NOMINAL needs the previous L2A" in capsys.readouterr().err
    assert not output.exists()


def test_maja_too_cloudy_gives_an_invalid_product(inputs: SyntheticInputs, tmp_path: Path) -> None:
    cloudy = next(acquired for acquired in inputs.l1c if acquired.cloud_percent > 90)
    code, output = run_maja(tmp_path, input_folder(tmp_path, inputs, [cloudy]), "L2INIT")
    assert code == 0
    item = l2a_item(output)
    assert item["properties"]["hesp:valid"] is False and item["properties"]["eo:cloud_cover"] > 90
    assert set(item["assets"]) == {"MTD_ALL", "QKL_ALL"}


def test_maja_backward_processes_the_oldest(inputs: SyntheticInputs, tmp_path: Path) -> None:
    three = clear(inputs)[:3]
    code, output = run_maja(tmp_path, input_folder(tmp_path, inputs, three[::-1]), "L2BACKWARD")
    assert code == 0
    oldest = reader("esa-safe-l1c").read(three[0].path)[0]
    assert l2a_item(output)["properties"]["datetime"] == oldest["properties"]["datetime"]


def test_maja_as_a_subprocess(inputs: SyntheticInputs, tmp_path: Path) -> None:
    folder = input_folder(tmp_path, inputs, clear(inputs)[:1])
    command = [sys.executable, "-m", "reference_chains.maja", "-w", str(tmp_path / "w"), "--input", str(folder)]
    command += ["--output", str(tmp_path / "out"), "--mode", "L2INIT", "-ucs", str(tmp_path / "conf"), "--TileId", TILE]
    refused = subprocess.run(command, capture_output=True, text=True, env={"HESP_CHAIN_VERSION": "4.11.0"})
    assert refused.returncode == 1 and f"<{tmp_path / 'conf' / 'MAJAUserConfigSystem.xml'}> doesn't" in refused.stderr
    write_user_configuration(tmp_path / "conf")
    result = subprocess.run(command, capture_output=True, text=True, env={"HESP_CHAIN_VERSION": "4.11.0"})
    assert result.returncode == 0, result.stderr
    assert "product written" in result.stdout
    assert l2a_item(tmp_path / "out")["properties"]["processing:version"] == "4.11.0"
    usage = subprocess.run([sys.executable, "-m", "reference_chains.maja", "--mode", "L2INIT"], capture_output=True)
    assert usage.returncode == 2


def test_wasp_synthesis_of_the_month(inputs: SyntheticInputs, tmp_path: Path) -> None:
    """WASP's command line: the MTD_ALL.xml of each L2A, the synthesis date and half period; without a date, the
    middle of the inputs' dates; a missing metadata file is refused."""
    january = [a for a in inputs.l1c if a.acquisition.when.month == 1]
    metadata = []
    for index, acquired in enumerate(january[:4]):
        root = tmp_path / f"l2a-{index}"
        code, output = run_maja(root, input_folder(root, inputs, [acquired]), "L2INIT")
        assert code == 0
        folder = next(output.iterdir())
        metadata.append(str(folder / f"{folder.name}_MTD_ALL.xml"))
    command = ["--input", *metadata, "--out", str(tmp_path / "l3a"), "--tempout", str(tmp_path / "tmp")]
    assert wasp.main([*command, "--date", "20230115", "--synthalf", "23"]) == 0
    item = l2a_item(tmp_path / "l3a")
    properties = item["properties"]
    assert item["collection"] == "maja-l3a-monthly" and properties["hesp:valid"] is True
    assert item["id"].startswith("SENTINEL2X_20230115-000000-000_L3A_T31TCJ_")
    assert properties["start_datetime"] == "2023-01-01T00:00:00Z"  # the month of the synthesis date
    assert properties["end_datetime"].startswith("2023-01-31T23:59:59.999")
    assert properties["datetime"] == "2023-01-15T00:00:00Z"
    assert properties["processing:version"] == "1.1.0"
    assert {"FRC_B2", "WGT_R1", "DTS_R1", "FLG_R2"} <= set(item["assets"])
    composite, _ = read_band(Path(item["assets"]["FRC_B8"]["href"]))
    assert (composite != -10_000).mean() > 0.9

    assert wasp.main(["--input", *metadata, "--out", str(tmp_path / "middle")]) == 0
    dates = sorted(a.acquisition.when.date() for a in january[:4])
    middle = dates[0] + (dates[-1] - dates[0]) / 2
    assert l2a_item(tmp_path / "middle")["properties"]["datetime"] == f"{middle}T00:00:00Z"
    assert wasp.main(["--input", str(tmp_path / "no_MTD_ALL.xml"), "--out", str(tmp_path / "none")]) == 1
    far = ["--input", *metadata, "--out", str(tmp_path / "far"), "--date", "20230401", "--synthalf", "23"]
    assert wasp.main(far) == 1  # every input is more than 23 days away
