"""The chain adapters as a MAJA, LIS, S1Tiling or WASP operator checks them: the command lines, input folders and
configuration files that ``hymotep.adapters.prepare`` builds from ``collections/*/chain.yaml`` for real input
products, checked against the tools' own rules (MAJA's user configuration files, LIS's launch keys, S1Tiling's
options, WASP's arguments), and the reference chains run on those very command lines, their outputs read by the
chain's reader.

No database: the inputs a job would resolve are built from products on disk (synthetic L1C, DEM and CAMS at
600 m, MUSCATE L2A folders, Sentinel-1 GRD slices) read by the project's own readers.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from adapter_inputs import collections_with, write_dem_tiles, write_grd
from products import write_muscate_l2a
from s1tiling_rules import problems
from shapely.geometry import box

from hygor.readers import reader
from hygor.settings import default_collections_dir
from hymotep.adapters import LIS_LAUNCH_KEYS, AdapterError, Invocation, Workspace, expected_outputs, prepare
from hymotep.chains import ChainDefinition, ChainError, load_chains
from hymotep.job_inputs import SLOT_SECONDS, InputItem, JobInputs, Unit
from hymotep.queue import Job
from hymotep.settings import child_environment
from reference_chains import launchers
from reference_chains.maja_userconf import write_user_configuration
from reference_chains.synthetic import SyntheticInputs, make_inputs

TILE = "31TCJ"
CHAINS = load_chains(default_collections_dir())


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> SyntheticInputs:
    """L1C of 31TCJ on 2023-01-01, 06 and 11, the tile's DEM and the CAMS of every day, at 600 m."""
    root = tmp_path_factory.mktemp("inputs")
    return make_inputs(root, [TILE], date(2023, 1, 1), date(2023, 1, 12), pixel_size=600.0)


@pytest.fixture(scope="module")
def chain_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference chains under the real binaries' names, as HESP_CHAIN_PATH would hold them."""
    return launchers.install(tmp_path_factory.mktemp("bin"))


def l1c(synthetic: SyntheticInputs, index: int) -> dict[str, Any]:
    item: dict[str, Any] = reader("esa-safe-l1c").read(synthetic.l1c_paths[index])[0]
    return item


def dem(synthetic: SyntheticInputs) -> dict[str, Any]:
    item: dict[str, Any] = json.loads(synthetic.dem[0].read_text())
    return item


def cams(synthetic: SyntheticInputs, day: date) -> dict[str, Any]:
    path = next(p for p in synthetic.cams if f"_CAMS_{day:%Y%m%d}T" in p.name)
    item: dict[str, Any] = json.loads(path.read_text())
    return item


def l2a(root: Path, when: datetime) -> dict[str, Any]:
    """A MAJA L2A of 31TCJ acquired at ``when``, as the theia-muscate reader reads it."""
    item: dict[str, Any] = reader("theia-muscate").read(write_muscate_l2a(root, tile=TILE, when=when, version="4-10"))[
        0
    ]
    return item


def acquired(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["properties"]["datetime"])


def path_of(item: dict[str, Any]) -> Path:
    return InputItem("primary", item).product_path()


def maja_inputs(synthetic: SyntheticInputs, index: int, **dependencies: Any) -> JobInputs:
    """The inputs of MAJA on the ``index``-th L1C: the L1C, the CAMS of its day, the DEM, and ``previous`` or
    ``following`` items when given."""
    primary = l1c(synthetic, index)
    when = acquired(primary)
    auxiliary = (InputItem("auxiliary", cams(synthetic, when.date())), InputItem("auxiliary", dem(synthetic)))
    previous = dependencies.get("previous")
    following = tuple(InputItem("following", item) for item in dependencies.get("following", ()))
    return JobInputs(
        unit=Unit(TILE, int(when.timestamp()) // SLOT_SECONDS, when),
        primary=(InputItem("primary", primary),),
        auxiliary=auxiliary,
        previous=InputItem("previous", previous) if previous else None,
        following=following,
    )


@dataclass(frozen=True)
class Prepared:
    job: Job
    workspace: Workspace
    invocation: Invocation

    def linked(self) -> dict[str, Path]:
        """The entries of the input folder: name -> what the link resolves to."""
        return {link.name: link.resolve() for link in self.workspace.input_dir.iterdir()}

    def run(self) -> subprocess.CompletedProcess[str]:
        """The command run as the worker runs it: its environment added to this one, in the work directory."""
        return subprocess.run(
            self.invocation.argv, env=child_environment(self.invocation.env), cwd=self.workspace.root,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip


def prepared(
    work: Path, chain: ChainDefinition, inputs: JobInputs, chain_path: Path | str, mode: str | None = None
) -> Prepared:
    """The job prepared in ``work``, whose ``home`` (HESP_HOME) holds MAJA's user configuration folder."""
    job = Job(7, chain.collection, chain.version, TILE, inputs.unit.slot, mode, 2, 1, 3)
    workspace = Workspace.create(work, job)
    home = write_user_configuration(work / "home" / "maja" / "userconf").parent.parent
    return Prepared(job, workspace, prepare(job, chain, inputs, workspace, str(chain_path), home))


def userconf(workspace: Workspace) -> Path:
    """The user configuration folder of ``prepared``'s home: "{home}/maja/userconf" in maja-l2a's chain.yaml."""
    return workspace.root.parent.parent / "home" / "maja" / "userconf"


def outputs(done: Prepared, chain: ChainDefinition) -> list[dict[str, Any]]:
    """The items of the product the chain wrote, found by the chain's ``expect`` pattern, read by its reader."""
    assert chain.run is not None
    pattern = expected_outputs(chain.run, done.job)
    assert pattern is not None
    found = sorted(done.workspace.output_dir.glob(pattern))
    assert found, f"nothing matches {pattern} in {sorted(done.workspace.output_dir.iterdir())}"
    items: list[dict[str, Any]] = reader(chain.run.outputs.reader).read(found[0])
    return items


def maja_argv(executable: str, workspace: Workspace, mode: str) -> list[str]:
    return [
        executable, "-w", str(workspace.tmp_dir), "--input", str(workspace.input_dir),
        "--output", str(workspace.output_dir), "--mode", mode, "-ucs", str(userconf(workspace)),
        "--TileId", TILE,
    ]  # fmt: skip


# MAJA


def test_maja_init_command_line_and_input_folder(synthetic: SyntheticInputs, chain_bin: Path, tmp_path: Path) -> None:
    inputs = maja_inputs(synthetic, 0)
    done = prepared(tmp_path, CHAINS["maja-l2a"], inputs, chain_bin, mode="init")
    workspace = done.workspace
    assert done.invocation.argv == maja_argv(str(chain_bin / "maja"), workspace, "L2INIT")
    safe, cams_data, dem_data = (path_of(i.item) for i in inputs.all())
    headers = [data.with_name(data.name.removesuffix(".DBL.DIR") + ".HDR") for data in (cams_data, dem_data)]
    assert done.linked() == {path.name: path for path in (safe, cams_data, dem_data, *headers)}  # as MAJA reads them
    assert safe.name.endswith("_T31TCJ_20230101T133718.SAFE") and cams_data.name.endswith(".DBL.DIR")
    assert dem_data.name == "S2__TEST_AUX_REFDE2_T31TCJ_0001.DBL.DIR"
    assert sorted(p.name for p in userconf(workspace).iterdir()) == [
        "MAJAUserConfigSystem.xml", "MAJAUserConfig_SENTINEL2.xml", "MAJAUserConfig_SENTINEL2_MUSCATE.xml",
    ]  # fmt: skip
    expected_env = {"OMP_NUM_THREADS": "4", "HESP_CHAIN_VERSION": "4.10.0", "HESP_TILE": TILE, "HESP_JOB_ID": "7",
                    "TMPDIR": str(workspace.tmp_dir)}  # fmt: skip
    assert done.invocation.env == expected_env
    description = json.loads((workspace.root / "job.json").read_text())
    assert (description["mode"], description["version"], description["period"]) == ("init", "4.10.0", None)
    assert [(i["role"], i["collection"]) for i in description["inputs"]] == [
        ("primary", "sentinel-2-l1c"), ("auxiliary", "cams-aerosol"), ("auxiliary", "dem-tiles"),
    ]  # fmt: skip
    assert (workspace.root / "inputs.txt").read_text() == f"{safe}\n"


def test_maja_nominal_links_the_previous_l2a(synthetic: SyntheticInputs, chain_bin: Path, tmp_path: Path) -> None:
    previous = l2a(tmp_path / "l2a", acquired(l1c(synthetic, 0)))
    done = prepared(tmp_path, CHAINS["maja-l2a"], maja_inputs(synthetic, 1, previous=previous), chain_bin, "nominal")
    assert done.invocation.argv == maja_argv(str(chain_bin / "maja"), done.workspace, "L2NOMINAL")
    assert done.linked()[previous["id"]] == path_of(previous)
    assert len([name for name in done.linked() if name.endswith(".SAFE")]) == 1


def test_maja_backward_links_the_following_l1c(synthetic: SyntheticInputs, chain_bin: Path, tmp_path: Path) -> None:
    following = [l1c(synthetic, 1), l1c(synthetic, 2)]
    done = prepared(tmp_path, CHAINS["maja-l2a"], maja_inputs(synthetic, 0, following=following), chain_bin, "backward")
    assert done.invocation.argv == maja_argv(str(chain_bin / "maja"), done.workspace, "L2BACKWARD")
    safes = sorted(name for name in done.linked() if name.endswith(".SAFE"))
    assert safes == sorted(path.name for path in synthetic.l1c_paths)
    description = json.loads((done.workspace.root / "job.json").read_text())
    assert [i["role"] for i in description["inputs"]][-2:] == ["following", "following"]


def test_maja_refuses_nominal_without_previous_and_a_job_without_mode(
    synthetic: SyntheticInputs, chain_bin: Path, tmp_path: Path
) -> None:
    with pytest.raises(AdapterError, match="NOMINAL mode without a previous valid L2A of 31TCJ"):
        prepared(tmp_path, CHAINS["maja-l2a"], maja_inputs(synthetic, 1), chain_bin, "nominal")
    with pytest.raises(AdapterError, match="MAJA needs a mode"):
        prepared(tmp_path, CHAINS["maja-l2a"], maja_inputs(synthetic, 1), chain_bin, None)


def test_maja_needs_its_user_configuration_folder(synthetic: SyntheticInputs, chain_bin: Path, tmp_path: Path) -> None:
    """MAJA stops without MAJAUserConfigSystem.xml or a plugin's MAJAUserConfig_<plugin>.xml: the adapter refuses
    to prepare such a job, the reference MAJA refuses to start, and a chain without the setting does not load."""
    done = prepared(tmp_path, CHAINS["maja-l2a"], maja_inputs(synthetic, 0), chain_bin, "init")
    (userconf(done.workspace) / "MAJAUserConfig_SENTINEL2_MUSCATE.xml").unlink()
    result = done.run()
    assert result.returncode == 1 and "MAJAUserConfig_SENTINEL2_MUSCATE.xml> doesn't exist!" in result.stderr
    job, workspace = done.job, Workspace.create(tmp_path / "again", done.job)
    with pytest.raises(AdapterError, match=re.escape(f"MAJA's user configuration folder {userconf(done.workspace)} "
                                                     "lacks MAJAUserConfig_SENTINEL2_MUSCATE.xml")):  # fmt: skip
        prepare(job, CHAINS["maja-l2a"], maja_inputs(synthetic, 0), workspace, str(chain_bin), tmp_path / "home")
    with pytest.raises(AdapterError, match="lacks MAJAUserConfigSystem.xml, MAJAUserConfig_SENTINEL2.xml, "):
        prepare(job, CHAINS["maja-l2a"], maja_inputs(synthetic, 0), workspace, str(chain_bin), tmp_path / "none")

    collections = collections_with(tmp_path / "unset", "maja-l2a", '    userconf: "{home}/maja/userconf"\n', "    {}\n")
    with pytest.raises(ChainError, match="the maja adapter needs the setting userconf"):
        load_chains(collections)
    relative = collections_with(tmp_path / "relative", "maja-l2a", '"{home}/maja/userconf"', "maja/userconf")
    with pytest.raises(ChainError, match="setting userconf of the maja adapter must be an absolute path or start"):
        load_chains(relative)


def test_a_dem_listed_by_its_data_folder_comes_with_its_header(
    synthetic: SyntheticInputs, chain_bin: Path, tmp_path: Path
) -> None:
    """An Earth Explorer product whose item lists only the files of its .DBL.DIR: MAJA needs the .HDR too."""
    inputs = maja_inputs(synthetic, 0)
    data_only = {**dem(synthetic), "assets": {k: v for k, v in dem(synthetic)["assets"].items() if k != "HDR"}}
    inputs = JobInputs(inputs.unit, inputs.primary, (inputs.auxiliary[0], InputItem("auxiliary", data_only)))
    done = prepared(tmp_path, CHAINS["maja-l2a"], inputs, chain_bin, "init")
    dem_id = "S2__TEST_AUX_REFDE2_T31TCJ_0001"
    dem_folder = synthetic.root / "dem-tiles" / "T31TCJ"
    assert done.linked()[f"{dem_id}.DBL.DIR"] == dem_folder / f"{dem_id}.DBL.DIR"
    assert done.linked()[f"{dem_id}.HDR"] == dem_folder / f"{dem_id}.HDR"


def test_maja_gipp_files_of_the_chain_settings_are_linked(
    synthetic: SyntheticInputs, chain_bin: Path, tmp_path: Path
) -> None:
    gipp = tmp_path / "gipp"
    (gipp / "S2A_TEST_GIP_L2ALBD_L_CONTINEN_10005_20150703_21000101.DBL.DIR").mkdir(parents=True)
    names = ["S2A_TEST_GIP_L2ALBD_L_CONTINEN_10005_20150703_21000101.HDR",
             "S2A_TEST_GIP_CKEXTL_S_31TJF____10001_20150703_21000101.EEF",
             "S2A_TEST_GIP_L2COMM_L_ALLSITES_10008_20150703_21000101.EEF"]  # fmt: skip
    for name in names:
        (gipp / name).write_text("<Earth_Explorer_File/>\n")
    collections = collections_with(tmp_path, "maja-l2a", "  settings:\n", f"  settings:\n    gipp: {gipp}\n")
    chain = load_chains(collections)["maja-l2a"]
    done = prepared(tmp_path, chain, maja_inputs(synthetic, 0), chain_bin, "init")
    gipp_files = {path.name: path for path in gipp.iterdir()}
    linked = done.linked()
    assert {name: linked[name] for name in gipp_files} == gipp_files
    assert len(linked) == 5 + len(gipp_files)  # the L1C, CAMS and the DEM (header and data each), and the GIPP

    gone = tmp_path / "no-gipp"
    missing = collections_with(tmp_path / "other", "maja-l2a", "  settings:\n", f"  settings:\n    gipp: {gone}\n")
    with pytest.raises(AdapterError, match=f"the GIPP folder {gone} of the maja-l2a chain is missing"):
        prepared(tmp_path / "other", load_chains(missing)["maja-l2a"], maja_inputs(synthetic, 0), chain_bin, "init")


def test_maja_init_then_nominal_run_on_the_prepared_command_lines(
    synthetic: SyntheticInputs, chain_bin: Path, tmp_path: Path
) -> None:
    """The reference MAJA run on exactly what the adapter prepared; the INIT product, read by the chain's reader,
    is the previous product of the next date's NOMINAL run."""
    chain = CHAINS["maja-l2a"]
    init = prepared(tmp_path / "init", chain, maja_inputs(synthetic, 0), chain_bin, "init")
    result = init.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "maja: L2INIT on tile 31TCJ" in result.stdout and "CAMS aod550" in result.stdout
    [first] = outputs(init, chain)
    properties = first["properties"]
    assert first["id"].startswith("SENTINEL2A_20230101-102518-584_L2A_T31TCJ_")
    assert (first["collection"], properties["grid:code"], properties["processing:version"]) == (
        "maja-l2a", "MGRS-31TCJ", "4.10.0",
    )  # fmt: skip
    assert acquired(first) == acquired(l1c(synthetic, 0)) and properties["hesp:valid"] is True

    nominal = prepared(tmp_path / "nominal", chain, maja_inputs(synthetic, 1, previous=first), chain_bin, "nominal")
    result = nominal.run()
    assert result.returncode == 0, result.stdout + result.stderr
    [second] = outputs(nominal, chain)
    assert acquired(second) == acquired(l1c(synthetic, 1))
    lineage = [link["href"] for link in second["links"] if link["rel"] == "derived_from"]
    assert any(href.endswith(f"/maja-l2a/items/{first['id']}") for href in lineage), lineage


# LIS


def test_lis_launch_file(synthetic: SyntheticInputs, chain_bin: Path, tmp_path: Path) -> None:
    product = l2a(tmp_path / "l2a", datetime(2023, 1, 1, 10, 25, 18, 584000, tzinfo=UTC))
    inputs = JobInputs(Unit(TILE, 1, acquired(product)), (InputItem("primary", product),),
                       (InputItem("auxiliary", dem(synthetic)),))  # fmt: skip
    done = prepared(tmp_path, CHAINS["lis-snow"], inputs, chain_bin)
    launch = done.workspace.root / "launch.json"
    assert done.invocation.argv == [str(chain_bin / "let_it_snow_fsc.py"), "-j", str(launch)]
    dem_folder = synthetic.root / "dem-tiles" / "T31TCJ" / "S2__TEST_AUX_REFDE2_T31TCJ_0001.DBL.DIR"
    assert json.loads(launch.read_text()) == {
        "input_dir": str(path_of(product)),
        "output_dir": str(done.workspace.output_dir),
        "dem": str(dem_folder / "S2__TEST_AUX_REFDE2_T31TCJ_0001_ALT_R2.TIF"),
        "chain_version": "1.7.0",
        "product_counter": "1",
        "log": "INFO",
    }
    assert path_of(product).name.startswith("SENTINEL2A_20230101-102518-584_L2A_T31TCJ")

    settings = (
        "  settings:\n    tcd: /data/tcd/TCD_31TCJ.tif\n    water_mask: /data/water/31TCJ.shp\n"
        "    relief_shadow_mask: /data/hillshade/31TCJ.tif\n"
        '    config_file: "{home}/lis/lis_configuration.json"\n'
    )
    collections = collections_with(tmp_path / "settings", "lis-snow", "  outputs:\n", settings + "  outputs:\n")
    configured = prepared(tmp_path / "settings", load_chains(collections)["lis-snow"], inputs, chain_bin)
    launch_file = json.loads((configured.workspace.root / "launch.json").read_text())
    assert {key: launch_file[key] for key in ("tcd", "water_mask", "relief_shadow_mask", "config_file")} == {
        "tcd": "/data/tcd/TCD_31TCJ.tif", "water_mask": "/data/water/31TCJ.shp",
        "relief_shadow_mask": "/data/hillshade/31TCJ.tif",
        "config_file": str(tmp_path / "settings" / "home" / "lis" / "lis_configuration.json"),
    }  # fmt: skip
    for written in (launch.read_text(), json.dumps(launch_file)):  # only keys LIS documents, and no null
        document = json.loads(written)
        assert set(document) <= set(LIS_LAUNCH_KEYS) and None not in document.values(), document

    without_dem = JobInputs(inputs.unit, inputs.primary)
    with pytest.raises(AdapterError, match="no dem-tiles input with a ALT_R2 asset for tile 31TCJ"):
        prepared(tmp_path / "no-dem", CHAINS["lis-snow"], without_dem, chain_bin)


def test_lis_runs_on_the_prepared_launch_file(synthetic: SyntheticInputs, chain_bin: Path, tmp_path: Path) -> None:
    product = l2a(tmp_path / "l2a", datetime(2023, 1, 1, 10, 25, 18, 584000, tzinfo=UTC))
    inputs = JobInputs(Unit(TILE, 1, acquired(product)), (InputItem("primary", product),),
                       (InputItem("auxiliary", dem(synthetic)),))  # fmt: skip
    chain = CHAINS["lis-snow"]
    done = prepared(tmp_path, chain, inputs, chain_bin)
    result = done.run()
    assert result.returncode == 0, result.stdout + result.stderr
    [snow] = outputs(done, chain)
    assert snow["id"] == "LIS_S2-SNOW-FSC_T31TCJ_20230101T102518_1.7.0_1"
    assert (snow["collection"], snow["properties"]["grid:code"], snow["properties"]["processing:version"]) == (
        "lis-snow", "MGRS-31TCJ", "1.7.0",
    )  # fmt: skip
    lineage = [link["href"] for link in snow["links"] if link["rel"] == "derived_from"]
    assert any(href.endswith(f"/maja-l2a/items/{product['id']}") for href in lineage), lineage


# S1Tiling


def one_pass(root: Path) -> list[dict[str, Any]]:
    """Two consecutive slices of a descending pass of Sentinel-1A over 31TCJ, relative orbit 8."""
    start = datetime(2023, 1, 10, 5, 50, 0, tzinfo=UTC)
    return [
        write_grd(root, start, relative_orbit=8, direction="DESCENDING", footprint=box(0.2, 43.8, 2.2, 44.6)),
        write_grd(root, start + timedelta(seconds=25), relative_orbit=8, direction="DESCENDING",
                  footprint=box(0.1, 43.0, 2.1, 43.9)),
    ]  # fmt: skip


def s1tiling_config(done: Prepared) -> configparser.ConfigParser:
    config = configparser.ConfigParser(interpolation=None)
    assert config.read(done.workspace.root / "config.cfg")
    return config


def s1tiling_chain(tmp_path: Path, old: str = "", new: str = "") -> tuple[ChainDefinition, Path]:
    """The s1tiling-backscatter chain with its DEM folder in ``tmp_path`` (1-degree GeoTIFF tiles covering 31TCJ,
    named N43E000.tif as S1Tiling's dem_format "{id}.tif" says), and ``new`` instead of ``old`` in its chain.yaml."""
    dem_dir = write_dem_tiles(tmp_path / "srtm", west=0, south=43, east=2, north=45)
    settings = f'    dem_dir: {dem_dir}\n    dem_format: "{{id}}.tif"\n'
    shipped = '    dem_dir: /data/dem/srtm-1arcsec\n    dem_format: "{id}.hgt"\n'
    collections = collections_with(tmp_path, "s1tiling-backscatter", shipped, settings)
    if old:
        chain_file = collections / "s1tiling-backscatter" / "chain.yaml"
        chain_file.write_text(chain_file.read_text().replace(old, new))
    return load_chains(collections)["s1tiling-backscatter"], dem_dir


def test_s1tiling_configuration(chain_bin: Path, tmp_path: Path) -> None:
    slices = one_pass(tmp_path / "grd")
    unit = Unit(TILE, int(acquired(slices[0]).timestamp()) // SLOT_SECONDS, acquired(slices[0]))
    inputs = JobInputs(unit, tuple(InputItem("primary", s) for s in slices))
    chain, dem_dir = s1tiling_chain(tmp_path)
    done = prepared(tmp_path, chain, inputs, chain_bin)
    workspace = done.workspace
    assert done.invocation.argv == [str(chain_bin / "S1Processor"), str(workspace.root / "config.cfg")]
    assert done.invocation.env["OTB_MAX_RAM_HINT"] == "4000"
    assert done.linked() == {path_of(s).name: path_of(s) for s in slices}
    assert problems(workspace.root / "config.cfg") == []
    config = s1tiling_config(done)
    assert dict(config["Paths"]) == {
        "output": str(workspace.output_dir),
        "tmp": str(workspace.tmp_dir),
        "s1_images": str(workspace.input_dir),
        "dem_dir": str(dem_dir),
        "dem_format": "{id}.tif",
    }
    assert dict(config["DataSource"]) == {
        "download": "False",
        "roi_by_tiles": TILE,
        "polarisation": "VV-VH",
        "orbit_direction": "DES",
        "relative_orbit_list": "8",
        "first_date": "2023-01-10",
        "last_date": "2023-01-10",
    }
    assert dict(config["Mask"]) == {"generate_border_mask": "True"}
    assert {key: config["Processing"][key] for key in ("calibration", "tiles", "output_spatial_resolution",
                                                       "ram_per_process")} == {
        "calibration": "sigma", "tiles": TILE, "output_spatial_resolution": "10.", "ram_per_process": "4000",
    }  # fmt: skip

    old = '    polarisation: VV-VH\n    calibration: sigma\n    output_spatial_resolution: "10."\n'
    new = '    polarisation: VV\n    calibration: normlim\n    output_spatial_resolution: "20."\n'
    new += f"    dem_database: {tmp_path / 'srtm.gpkg'}\n"
    configured = prepared(tmp_path / "settings", s1tiling_chain(tmp_path / "settings", old, new)[0], inputs, chain_bin)
    config = s1tiling_config(configured)
    assert (config["Processing"]["calibration"], config["Processing"]["output_spatial_resolution"]) == (
        "normlim",
        "20.",
    )
    assert config["DataSource"]["polarisation"] == "VV"
    assert config["Paths"]["dem_database"] == str(tmp_path / "srtm.gpkg")
    assert problems(configured.workspace.root / "config.cfg") == []


@pytest.mark.parametrize("polarisation", ["VV VH", "vv-vh", "VH-VV", "HV-HH"])
def test_s1tiling_polarisations_are_s1tilings_own(polarisation: str, tmp_path: Path) -> None:
    chosen = f"polarisation: {polarisation}"
    collections = collections_with(tmp_path, "s1tiling-backscatter", "polarisation: VV-VH", chosen)
    message = f"polarisation {polarisation!r} is not one of S1Tiling's: VV-VH, VV, VH, HH-HV, HH, HV"
    with pytest.raises(ChainError, match=re.escape(message)):
        load_chains(collections)


def test_s1tiling_needs_its_dem_folder(chain_bin: Path, tmp_path: Path) -> None:
    slices = one_pass(tmp_path / "grd")
    unit = Unit(TILE, int(acquired(slices[0]).timestamp()) // SLOT_SECONDS, acquired(slices[0]))
    inputs = JobInputs(unit, tuple(InputItem("primary", s) for s in slices))
    with pytest.raises(AdapterError, match="the DEM folder /data/dem/srtm-1arcsec of the s1tiling-backscatter chain"):
        prepared(tmp_path, CHAINS["s1tiling-backscatter"], inputs, chain_bin)
    unset = collections_with(tmp_path / "unset", "s1tiling-backscatter", "    dem_dir: /data/dem/srtm-1arcsec\n", "")
    with pytest.raises(ChainError, match="the s1tiling adapter needs the setting dem_dir"):
        load_chains(unset)


def test_s1tiling_runs_on_the_prepared_configuration(chain_bin: Path, tmp_path: Path) -> None:
    """The reference S1Processor reads the options as S1Tiling does and the DEM tiles of dem_dir."""
    slices = one_pass(tmp_path / "grd")
    unit = Unit(TILE, int(acquired(slices[0]).timestamp()) // SLOT_SECONDS, acquired(slices[0]))
    inputs = JobInputs(unit, tuple(InputItem("primary", s) for s in slices))
    chain = s1tiling_chain(tmp_path, '"10."', '"600."')[0]
    done = prepared(tmp_path, chain, inputs, chain_bin)
    result = done.run()
    assert result.returncode == 0, result.stdout + result.stderr
    [backscatter] = outputs(done, chain)
    assert backscatter["id"] == "s1a_31TCJ_DES_008_20230110txxxxxx"
    config = done.workspace.root / "config.cfg"
    config.write_text(config.read_text().replace("polarisation = VV-VH", "polarisation = VV VH"))
    refused = done.run()
    assert refused.returncode == 2 and "polarisation must be one of VV-VH" in refused.stderr


# Generic chains


def test_surfwater_command_line(chain_bin: Path, tmp_path: Path) -> None:
    product = l2a(tmp_path / "l2a", datetime(2023, 6, 15, 10, 58, 56, 463000, tzinfo=UTC))
    inputs = JobInputs(Unit(TILE, 1, acquired(product)), (InputItem("primary", product),))
    done = prepared(tmp_path, CHAINS["surfwater-water"], inputs, chain_bin)
    assert done.invocation.argv == [
        str(chain_bin / "surfwater"), "--input", str(path_of(product)),
        "--output", str(done.workspace.output_dir), "--chain-version", "1.0.0",
    ]  # fmt: skip
    assert done.linked() == {product["id"]: path_of(product)}


def test_monthly_synthesis_is_wasps_command_line(chain_bin: Path, tmp_path: Path) -> None:
    """WASP's own arguments: the MTD_ALL.xml of each L2A of the window, the synthesis date (the 15th) and its half
    period (23 days); the reference WASP makes the L3A of that date from them."""
    days = [datetime(2023, 5, 24, 10, 58, 56, tzinfo=UTC), datetime(2023, 6, 15, 10, 58, 56, tzinfo=UTC),
            datetime(2023, 7, 7, 10, 58, 56, tzinfo=UTC)]  # fmt: skip
    window = [l2a(tmp_path / "l2a", day) for day in days]
    start = datetime(2023, 6, 1, tzinfo=UTC)
    unit = Unit(TILE, int(start.timestamp()) // SLOT_SECONDS, start, date(2023, 6, 1), date(2023, 6, 30))
    inputs = JobInputs(unit, tuple(InputItem("primary", item) for item in window))
    chain = CHAINS["maja-l3a-monthly"]
    done = prepared(tmp_path, chain, inputs, chain_bin)
    workspace = done.workspace
    metadata = [str(path_of(item) / f"{item['id']}_MTD_ALL.xml") for item in window]
    assert done.invocation.argv == [
        str(chain_bin / "WASP"), "--input", *metadata, "--out", str(workspace.output_dir),
        "--tempout", str(workspace.tmp_dir), "--date", "20230615", "--synthalf", "23",
    ]  # fmt: skip
    assert json.loads((workspace.root / "job.json").read_text())["period"] == ["2023-06-01", "2023-06-30"]
    assert sorted(done.linked()) == sorted(item["id"] for item in window)
    result = done.run()
    assert result.returncode == 0, result.stdout + result.stderr
    [synthesis] = outputs(done, chain)
    properties = synthesis["properties"]
    assert synthesis["id"].startswith("SENTINEL2X_20230615-000000-000_L3A_T31TCJ_")
    # WASP gives the synthesis date only: the product is catalogued as June's, as the unit it was made for.
    assert (properties["datetime"], properties["start_datetime"], properties["end_datetime"][:19]) == (
        "2023-06-15T00:00:00Z", "2023-06-01T00:00:00Z", "2023-06-30T23:59:59",
    )  # fmt: skip

    monthly = collections_with(tmp_path / "yearly", "maja-l3a-monthly", "period: month", "period: year")
    with pytest.raises(ChainError, match=re.escape("a synthesis date and window (unit.synthesis) is for monthly")):
        load_chains(monthly)
    joined = collections_with(tmp_path / "joined", "maja-l3a-monthly", '--input, "{input_metadata}"',
                              '--input, "files={input_metadata}"')  # fmt: skip
    with pytest.raises(ChainError, match=re.escape("{input_metadata} stands for several arguments")):
        load_chains(joined)


# Containers


@pytest.mark.parametrize(
    ("engine", "image", "prefix", "bind_option", "env_option"),
    [
        (
            "docker",
            "registry.example.org/maja:4.10.0",
            ["docker", "run", "--rm", "--user", f"{os.getuid()}:{os.getgid()}"],
            "-v",
            "-e",
        ),
        ("apptainer", "/images/maja-4.10.0.sif", ["apptainer", "exec", "--cleanenv"], "--bind", "--env"),
    ],
    ids=["docker", "apptainer"],
)
def test_maja_in_a_container(
    engine: str, image: str, prefix: list[str], bind_option: str, env_option: str, synthetic: SyntheticInputs,
    tmp_path: Path,
) -> None:  # fmt: skip
    container = f"  container:\n    engine: {engine}\n    image: {image}\n  outputs:\n"
    chain = load_chains(collections_with(tmp_path, "maja-l2a", "  outputs:\n", container))["maja-l2a"]
    inputs = maja_inputs(synthetic, 0)
    done = prepared(tmp_path, chain, inputs, tmp_path / "no-binaries-here", "init")
    workspace = done.workspace
    product_parents = {path_of(i.item).resolve().parent for i in inputs.all()}
    assert done.invocation.binds == sorted({workspace.root.resolve(), *product_parents, userconf(workspace)})
    binds = [arg for b in done.invocation.binds for arg in (bind_option, f"{b}:{b}")]
    # The chain's environment is passed in: a container does not inherit the worker's.
    env = [arg for key, value in sorted(done.invocation.env.items()) for arg in (env_option, f"{key}={value}")]
    assert "HESP_CHAIN_VERSION=4.10.0" in env and "OMP_NUM_THREADS=4" in env
    assert done.invocation.argv == [*prefix, *binds, *env, image, *maja_argv("maja", workspace, "L2INIT")]
    # Every input link resolves inside a bound folder, so that the chain sees its inputs in the container.
    for target in done.linked().values():
        assert any(target.is_relative_to(bound) for bound in done.invocation.binds), target


# chain.yaml faults


def test_an_unknown_placeholder_is_a_chain_error_naming_the_file(tmp_path: Path) -> None:
    collections = collections_with(tmp_path, "surfwater-water", '"{primary}"', '"{primary_input}"')
    with pytest.raises(ChainError) as raised:
        load_chains(collections)
    chain_file = collections / "surfwater-water" / "chain.yaml"
    assert str(raised.value).startswith(f"{chain_file}: unknown placeholder {{primary_input}} in run")


def test_an_unknown_adapter_setting_is_a_chain_error_naming_the_file(tmp_path: Path) -> None:
    collections = collections_with(tmp_path, "s1tiling-backscatter", "calibration: sigma", "calibratoin: sigma")
    chain_file = collections / "s1tiling-backscatter" / "chain.yaml"
    message = (f"{chain_file}: unknown setting calibratoin of the s1tiling adapter (known: calibration, dem_database, "
               "dem_dir, dem_format, output_spatial_resolution, polarisation)")  # fmt: skip
    with pytest.raises(ChainError, match=re.escape(message)):
        load_chains(collections)


def test_the_command_is_looked_up_on_the_chain_path_then_path(
    synthetic: SyntheticInputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain, inputs = CHAINS["maja-l2a"], maja_inputs(synthetic, 0)
    on_chain_path, on_path = launchers.install(tmp_path / "chain-bin"), launchers.install(tmp_path / "system-bin")
    monkeypatch.setenv("PATH", str(on_path))
    assert prepared(tmp_path / "1", chain, inputs, on_chain_path, "init").invocation.argv[0] == str(
        on_chain_path / "maja"
    )
    assert prepared(tmp_path / "2", chain, inputs, "", "init").invocation.argv[0] == str(on_path / "maja")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(AdapterError, match="command 'maja' not found on HESP_CHAIN_PATH or PATH"):
        prepared(tmp_path / "3", chain, inputs, tmp_path / "empty", "init")
