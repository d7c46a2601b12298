"""Readers of the centre's outputs: THEIA/MUSCATE (MAJA L2A, WASP L3A), LIS, Surfwater and S1Tiling.

The real MTD_ALL.xml fixture is checked against its own values; the other products are written by
``products.py`` as the chains lay them out. No database.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES
from products import (
    write_jpi,
    write_lis,
    write_muscate_l2a,
    write_muscate_snow,
    write_s1tiling,
    write_surfwater,
    write_wasp_l3a,
)
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import shape

from hygor.grid import tile
from hygor.items import VALID
from hygor.readers.base import Reader, ReaderError, detect
from hygor.readers.lis import TheiaLis
from hygor.readers.muscate import TheiaMuscate
from hygor.readers.s1tiling import S1Tiling
from hygor.readers.surfwater import Surfwater
from hygor.validation import item_errors

REAL_MTD = FIXTURES / "real/theia/SENTINEL2A_20170203-071245-541_L2A_T38KPD_C_V1-0_MTD_ALL.xml"
READERS: list[Reader] = [TheiaMuscate(), TheiaLis(), Surfwater(), S1Tiling()]
NOT_IN_GRID = "31TZV"  # a well-formed tile id that the grid does not have


def read_all(reader: Reader, path: Path) -> list[dict[str, Any]]:
    """The items of a product that the reader detects; each one valid for the STAC API and hesp."""
    assert reader.detect(path), path
    items = reader.read(path)
    for item in items:
        assert item_errors(item) == [], item["id"]
    return items


def read_one(reader: Reader, path: Path) -> dict[str, Any]:
    items = read_all(reader, path)
    assert len(items) == 1
    return items[0]


def tile_share(item: dict[str, Any]) -> float:
    """The share of its tile that the item's footprint covers; the footprint must lie in the tile."""
    footprint = shape(item["geometry"])
    box = tile(item["properties"]["grid:code"]).footprint()
    assert footprint.difference(box).area < 1e-9 * box.area
    return float(footprint.area / box.area)


def assert_read_fails(reader: Reader, path: Path, where: Path, *reasons: str) -> None:
    with pytest.raises(ReaderError) as caught:
        reader.read(path)
    assert str(where) in str(caught.value)
    for reason in reasons:
        assert reason in str(caught.value)


@pytest.fixture(scope="module")
def l2a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid MAJA L2A with all its rasters, the nominal successor of an earlier L2A."""
    return write_muscate_l2a(
        tmp_path_factory.mktemp("l2a"), previous="SENTINEL2A_20230610-105856-463_L2A_T31TCJ_C_V3-1"
    )


# THEIA/MUSCATE


def test_real_muscate_metadata_reads_as_its_xml_says() -> None:
    root = ET.parse(REAL_MTD).getroot()
    item = read_one(TheiaMuscate(), REAL_MTD)
    properties = item["properties"]
    product_id = root.findtext("./Product_Characteristics/PRODUCT_ID")
    assert item["id"] == product_id == "SENTINEL2A_20170203-071245-541_L2A_T38KPD_C_V1-0"
    assert item["collection"] == "maja-l2a"
    assert root.findtext("./Product_Characteristics/ACQUISITION_DATE") == "2017-02-03T07:12:45.541Z"
    assert properties["datetime"] == "2017-02-03T07:12:45.541000Z"
    assert root.findtext(".//GEOGRAPHICAL_ZONE") == "T38KPD" and properties["grid:code"] == "MGRS-38KPD"
    assert properties["proj:code"] == f"EPSG:{root.findtext('.//HORIZONTAL_CS_CODE')}" == "EPSG:32738"
    assert properties["eo:cloud_cover"] == float(root.findtext(".//QUALITY_INDEX[@name='CloudPercent']") or "") == 43
    assert properties["eo:snow_cover"] == 0
    assert root.findtext("./Product_Characteristics/PLATFORM") == "SENTINEL2A"
    assert properties["platform"] == "sentinel-2a" and properties["constellation"] == "sentinel-2"
    assert properties["processing:level"] == "L2A" and properties["processing:version"] == "1.0"
    assert properties["view:sun_elevation"] == pytest.approx(90 - 26.9929)
    assert properties[VALID] is True
    assert tile_share(item) > 0.99  # the metadata's corners: the whole tile

    listed = {
        Path(element.text or "").stem.removeprefix(f"{product_id}_")
        for element in root.iter()
        if element.tag in ("IMAGE_FILE", "MASK_FILE")
    }
    assert set(item["assets"]) == listed | {"MTD_ALL", "QKL_ALL"}
    assert item["assets"]["MTD_ALL"]["href"] == str(REAL_MTD.absolute())
    assert item["assets"]["CLM_R1"]["href"] == str(REAL_MTD.parent.absolute() / "MASKS" / f"{product_id}_CLM_R1.tif")
    assert item["assets"]["SRE_B5"]["proj:shape"] == [5490, 5490]
    assert item["assets"]["SRE_B5"]["proj:transform"] == [20, 0, 600000, 0, -20, 7900000]


def test_maja_l2a_product(l2a: Path) -> None:
    item = read_one(TheiaMuscate(), l2a)
    assert read_one(TheiaMuscate(), l2a / f"{l2a.name}_MTD_ALL.xml") == item
    assert item["id"] == l2a.name == "SENTINEL2A_20230615-105856-463_L2A_T31TCJ_C_V3-1"
    properties = item["properties"]
    assert properties["datetime"] == "2023-06-15T10:58:56.463000Z"
    assert properties["eo:cloud_cover"] == 12 and properties[VALID] is True
    assert properties["processing:software"] == {"maja": "3.1"}
    for key, value in item["assets"].items():
        assert Path(value["href"]).is_file(), key
        assert value["file:size"] > 0
    assert len([key for key in item["assets"] if key.startswith(("SRE_", "FRE_"))]) == 20
    assert item["assets"]["SRE_B2"]["proj:shape"] == [64, 64]
    assert item["assets"]["SRE_B5"]["proj:shape"] == [32, 32]
    assert item["assets"]["CLM_R2"]["roles"] == ["cloud", "cloud-shadow", "data-mask"]
    assert cog_validate(item["assets"]["FRE_B4"]["href"], quiet=True)[0]
    assert tile_share(item) == pytest.approx(0.75, abs=0.01)  # from the edge mask
    assert [link["href"] for link in item["links"] if link["rel"] == "derived_from"] == [
        "collections/maja-l2a/items/SENTINEL2A_20230610-105856-463_L2A_T31TCJ_C_V3-1"
    ]


@pytest.mark.parametrize(("with_quicklook", "assets"), [(True, {"MTD_ALL", "QKL_ALL"}), (False, {"MTD_ALL"})])
def test_too_cloudy_l2a_is_invalid_with_metadata_and_quicklook_only(
    tmp_path: Path, with_quicklook: bool, assets: set[str]
) -> None:
    product = write_muscate_l2a(tmp_path, cloud_cover=95, valid=False, with_rasters=with_quicklook)
    item = read_one(TheiaMuscate(), product)
    assert item["properties"][VALID] is False
    assert item["properties"]["eo:cloud_cover"] == 95
    assert set(item["assets"]) == assets


@pytest.mark.parametrize(
    ("cloud_cover", "validity_flag", "valid"),
    [(90, None, True), (90.5, None, False), (20, "L2VALD", True), (20, "L2NOTV", False)],
)
def test_l2a_validity_from_cloud_cover_and_job_report(
    tmp_path: Path, cloud_cover: float, validity_flag: str | None, valid: bool
) -> None:
    product = write_muscate_l2a(tmp_path, cloud_cover=cloud_cover, with_rasters=False)
    if validity_flag is not None:
        write_jpi(product, validity_flag)
    item = read_one(TheiaMuscate(), product)
    assert item["properties"][VALID] is valid
    assert ("SRE_B2" in item["assets"]) is valid


@pytest.mark.parametrize("with_period", [True, False])
def test_wasp_l3a_monthly_synthesis(tmp_path: Path, with_period: bool) -> None:
    product = write_wasp_l3a(tmp_path, month=date(2023, 2, 1), with_period=with_period, with_rasters=with_period)
    item = read_one(TheiaMuscate(), product)
    assert item["id"] == "SENTINEL2X_20230215-000000-000_L3A_T31TCJ_C_V1-1"
    assert item["collection"] == "maja-l3a-monthly"
    properties = item["properties"]
    assert properties["datetime"] == "2023-02-15T00:00:00Z"
    assert properties["start_datetime"] == "2023-02-01T00:00:00Z"
    assert properties["end_datetime"].startswith("2023-02-28T23:59:59.999")
    assert "platform" not in properties  # SENTINEL2X: several satellites
    assert properties["processing:software"] == {"wasp": "1.1"} and properties["processing:level"] == "L3A"
    assert {"FRC_B2", "FLG_R1", "WGT_R2", "DTS_R1"} <= set(item["assets"])
    if with_period:
        assert tile_share(item) == pytest.approx(0.75, abs=0.01)  # from the flag mask


def _remove(xpath: str) -> Any:
    def edit(text: str) -> str:
        root = ET.fromstring(text)
        parent = root.find(xpath.rsplit("/", 1)[0])
        child = root.find(xpath)
        assert parent is not None and child is not None
        parent.remove(child)
        return ET.tostring(root, encoding="unicode")

    return edit


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda text: text[: len(text) // 2], "malformed XML"),
        (lambda text: "", "malformed XML"),
        (_remove("./Product_Characteristics/PRODUCT_ID"), "PRODUCT_ID is missing"),
        (_remove("./Product_Characteristics/ACQUISITION_DATE"), "ACQUISITION_DATE is missing"),
        (_remove("./Dataset_Identification/GEOGRAPHICAL_ZONE"), "GEOGRAPHICAL_ZONE is missing"),
        (
            lambda text: text.replace(">T31TCJ<", f">T{NOT_IN_GRID}<"),
            f"tile {NOT_IN_GRID} is not in the Sentinel-2 grid",
        ),
        (lambda text: text.replace("<PRODUCT_LEVEL>L2A", "<PRODUCT_LEVEL>L1C"), "level L1C"),
        (lambda text: text.replace(">32631<", ">32632<"), "EPSG:32632"),
        (
            lambda text: text.replace('"CloudPercent">12<', '"CloudPercent">many<'),
            "CloudPercent 'many' is not a number",
        ),
        (lambda text: text.replace("Muscate_Metadata_Document", "Other_Document"), "not Muscate_Metadata_Document"),
    ],
)
def test_bad_muscate_metadata_is_rejected_naming_the_file(tmp_path: Path, edit: Any, reason: str) -> None:
    product = write_muscate_l2a(tmp_path, with_rasters=False)
    metadata = product / f"{product.name}_MTD_ALL.xml"
    metadata.write_text(edit(metadata.read_text()))
    assert_read_fails(TheiaMuscate(), product, metadata, reason)


# LIS


def test_lis_snow_product(tmp_path: Path) -> None:
    product = write_lis(tmp_path, quicklook=True)
    item = read_one(TheiaLis(), product)
    assert read_one(TheiaLis(), next(product.glob("LIS_S2-SNOW-FSC-TOC_*.tif"))) == item
    assert item["id"] == product.name == "LIS_S2-SNOW-FSC_T31TCH_20180101T105435_1.7.0_1"
    assert item["collection"] == "lis-snow"
    properties = item["properties"]
    assert properties["datetime"] == "2018-01-01T10:54:35Z"
    assert properties["grid:code"] == "MGRS-31TCH" and properties["platform"] == "sentinel-2a"
    assert properties["eo:snow_cover"] == 23.5 and properties["eo:cloud_cover"] == 10.2
    assert properties["processing:version"] == "1.7.0" and properties["processing:software"] == {"lis": "1.7.0"}
    assert properties["proj:shape"] == [32, 32]
    assert set(item["assets"]) == {"FSC-OG", "FSC-TOC", "QCFLAGS", "metadata", "quicklook"}
    assert item["assets"]["FSC-TOC"]["href"].endswith("LIS_S2-SNOW-FSC-TOC_T31TCH_20180101T105435_1.7.0_1.tif")
    assert item["assets"]["FSC-OG"]["href"].endswith("LIS_S2-SNOW-FSC_T31TCH_20180101T105435_1.7.0_1.tif")
    assert tile_share(item) == pytest.approx(0.75, abs=0.01)
    assert [link["href"] for link in item["links"]] == [
        "collections/maja-l2a/items/SENTINEL2A_20180101-105435-000_L2A_T31TCH_C_V3-1"
    ]


def test_legacy_muscate_snow_product_lands_beside_lis_items(tmp_path: Path) -> None:
    product = write_muscate_snow(tmp_path / "archive")
    assert product.name == "SENTINEL2A_20160912-103551-370_L2B-SNOW_T32TLS_D_V1-0"
    found = detect(product)
    assert found is not None and found.name == "theia-muscate"
    item = read_one(TheiaMuscate(), product)
    assert item["id"] == product.name and item["collection"] == "lis-snow"
    properties = item["properties"]
    assert properties["datetime"] == "2016-09-12T10:35:51.370000Z"
    assert properties["processing:level"] == "L2B" and properties["processing:version"] == "1.0"
    assert properties["processing:software"] == {"lis": "1.0"} and properties["grid:code"] == "MGRS-32TLS"
    assert properties["eo:snow_cover"] == 31 and properties["eo:cloud_cover"] == 8.5 and properties[VALID] is True
    assert properties["platform"] == "sentinel-2a" and properties["proj:shape"] == [32, 32]
    lis = read_one(TheiaLis(), write_lis(tmp_path / "lis"))
    assert set(lis["properties"]) <= set(properties)  # the same fields as LIS 1.7+ items
    assert set(item["assets"]) == {"MTD_ALL", "QKL_ALL", "SNW_R2"}
    assert item["assets"]["SNW_R2"]["roles"] == ["data", "snow-ice"] and item["assets"]["SNW_R2"]["gsd"] == 20
    assert tile_share(item) == pytest.approx(0.75, abs=0.01)  # from the snow mask's no-data (254)
    assert [link["href"] for link in item["links"] if link["rel"] == "derived_from"] == [
        "collections/maja-l2a/items/SENTINEL2A_20160912-103551-370_L2A_T32TLS_C_V1-0"
    ]


def test_legacy_snow_metadata_alone_makes_the_item(tmp_path: Path) -> None:
    product = write_muscate_snow(tmp_path, version="1-4", with_rasters=False)
    item = read_one(TheiaMuscate(), product)
    assert item["properties"]["processing:version"] == "1.4" and item["properties"][VALID] is True
    assert not Path(item["assets"]["SNW_R2"]["href"]).exists()
    assert tile_share(item) == pytest.approx(1.0, abs=0.01)  # the corners the metadata gives
    empty = read_one(TheiaMuscate(), write_muscate_snow(tmp_path / "empty", valid=False, with_rasters=False))
    assert empty["properties"][VALID] is False and set(empty["assets"]) == {"MTD_ALL"}


def test_lis_without_tree_cover_has_no_fsc_on_ground(tmp_path: Path) -> None:
    item = read_one(TheiaLis(), write_lis(tmp_path, on_ground=False))
    assert set(item["assets"]) == {"FSC-TOC", "QCFLAGS", "metadata"}


def test_bad_lis_products_are_rejected_naming_the_file(tmp_path: Path) -> None:
    product = write_lis(tmp_path / "malformed")
    metadata = product / "LIS_METADATA.XML"
    metadata.write_text(metadata.read_text()[:40])
    assert_read_fails(TheiaLis(), product, metadata, "malformed XML")

    product = write_lis(tmp_path / "elsewhere", source="SENTINEL2A_20180101-105435-000_L2A_T31TCJ_C_V3-1")
    assert_read_fails(TheiaLis(), product, product / "LIS_METADATA.XML", "is not on tile 31TCH")

    product = write_lis(tmp_path / "no-metadata")
    (product / "LIS_METADATA.XML").unlink()
    assert not TheiaLis().detect(product)
    assert_read_fails(TheiaLis(), product, product / "LIS_METADATA.XML", "missing")

    product = write_lis(tmp_path / "two", counter=1)
    write_lis(tmp_path / "two", counter=2)
    for path in (tmp_path / "two" / "LIS_S2-SNOW-FSC_T31TCH_20180101T105435_1.7.0_2").iterdir():
        path.rename(product / path.name)
    assert_read_fails(TheiaLis(), product, product, "one LIS_S2-SNOW-FSC product")

    product = write_lis(tmp_path / "outside")
    for path in product.glob("LIS_S2-*"):
        path.rename(product / path.name.replace("_T31TCH_", f"_T{NOT_IN_GRID}_"))
    assert_read_fails(TheiaLis(), product, product, f"tile {NOT_IN_GRID} is not in the Sentinel-2 grid")


# Surfwater


def test_surfwater_product(tmp_path: Path) -> None:
    product = write_surfwater(tmp_path)
    item = read_one(Surfwater(), product)
    assert read_one(Surfwater(), product / f"{product.name}_MTD.json") == item
    assert item["id"] == product.name == "SURFWATER_S2A_20230615-105856_T31TCJ_V1-0"
    properties = item["properties"]
    assert properties["datetime"] == "2023-06-15T10:58:56Z" and properties["platform"] == "sentinel-2a"
    assert properties["eo:cloud_cover"] == 12.5 and properties[VALID] is True
    assert properties["processing:software"] == {"surfwater": "1.0"} and properties["proj:shape"] == [64, 64]
    assert set(item["assets"]) == {"WATER", "PROBA", "metadata", "quicklook"}
    assert item["assets"]["WATER"]["roles"] == ["data", "water-mask"]
    assert item["assets"]["metadata"]["type"] == "application/json"
    assert tile_share(item) == pytest.approx(0.75, abs=0.01)
    assert [link["href"] for link in item["links"]] == [
        "collections/maja-l2a/items/SENTINEL2A_20230615-105856-000_L2A_T31TCJ_C_V3-1"
    ]


def test_invalid_surfwater_product_has_metadata_and_quicklook_only(tmp_path: Path) -> None:
    item = read_one(Surfwater(), write_surfwater(tmp_path, valid=False, cloud_cover=97))
    assert item["properties"][VALID] is False
    assert set(item["assets"]) == {"metadata", "quicklook"}
    assert tile_share(item) > 0.99


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda text: text[: len(text) // 2], "malformed JSON"),
        (lambda text: "[]", "not a JSON object"),
        (lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "valid"}), "valid is missing"),
        (lambda text: text.replace('"valid": false', '"valid": "no"'), "valid must be a bool"),
        (lambda text: text.replace('"cloud_percentage": 12.5', '"cloud_percentage": 120'), "not a percentage"),
        (lambda text: text.replace('"tile": "31TCJ"', '"tile": "31TDJ"'), "differs from the product name"),
        (lambda text: text.replace("_L2A_", "_L1C_"), "not a THEIA L2A product id"),
        (lambda text: text.replace("2023-06-15T", "2023-06-15 at "), "not an ISO 8601 date"),
    ],
)
def test_bad_surfwater_metadata_is_rejected_naming_the_file(tmp_path: Path, edit: Any, reason: str) -> None:
    product = write_surfwater(tmp_path, valid=False)
    metadata = product / f"{product.name}_MTD.json"
    metadata.write_text(edit(metadata.read_text()))
    assert_read_fails(Surfwater(), product, metadata, reason)


def test_surfwater_product_off_the_grid_is_rejected(tmp_path: Path) -> None:
    product = write_surfwater(tmp_path, tile=NOT_IN_GRID, valid=False)
    assert_read_fails(Surfwater(), product, product, f"tile {NOT_IN_GRID} is not in the Sentinel-2 grid")


# S1Tiling


def test_s1tiling_polarisations_of_one_pass_make_one_item(tmp_path: Path) -> None:
    folder = write_s1tiling(tmp_path)
    item = read_one(S1Tiling(), folder)
    assert read_one(S1Tiling(), folder / "s1a_33NWB_vh_DES_007_20200108t054233_BorderMask.tif") == item
    assert item["id"] == "s1a_33NWB_DES_007_20200108t054233"
    assert item["collection"] == "s1tiling-backscatter"
    assert set(item["assets"]) == {"vv", "vh", "vv-border-mask", "vh-border-mask"}
    properties = item["properties"]
    assert properties["datetime"] == "2020-01-08T05:42:33Z"
    assert properties["platform"] == "sentinel-1a" and properties["constellation"] == "sentinel-1"
    assert properties["sar:polarizations"] == ["VV", "VH"] and properties["sar:instrument_mode"] == "IW"
    assert properties["sar:frequency_band"] == "C" and properties["sar:product_type"] == "GRD"
    assert properties["sat:orbit_state"] == "descending" and properties["sat:relative_orbit"] == 7
    assert properties["processing:software"] == {"s1tiling": "1.1.0"}
    assert properties["grid:code"] == "MGRS-33NWB" and properties[VALID] is True
    assert tile_share(item) == pytest.approx(0.75, abs=0.01)


def test_s1tiling_acquisitions_make_one_item_each(tmp_path: Path) -> None:
    write_s1tiling(tmp_path)
    write_s1tiling(tmp_path, when=datetime(2020, 1, 20, 5, 42, 30, tzinfo=UTC), concatenated=True, normlim=True)
    write_s1tiling(tmp_path, unit="s1b", direction="ASC", orbit=103, polarisations=("vv",))
    items = {item["id"]: item for item in read_all(S1Tiling(), tmp_path / "33NWB")}
    assert set(items) == {
        "s1a_33NWB_DES_007_20200108t054233",
        "s1a_33NWB_DES_007_20200120txxxxxx",
        "s1b_33NWB_ASC_103_20200108t054233",
    }
    concatenated = items["s1a_33NWB_DES_007_20200120txxxxxx"]
    assert concatenated["properties"]["datetime"] == "2020-01-20T05:42:30Z"  # from ACQUISITION_DATETIME
    assert {"vv-normlim", "vh-normlim", "sin-lia"} <= set(concatenated["assets"])
    assert "sin-lia" in items["s1a_33NWB_DES_007_20200108t054233"]["assets"]  # one per orbit, for every pass
    assert "sin-lia" not in items["s1b_33NWB_ASC_103_20200108t054233"]["assets"]
    ascending = items["s1b_33NWB_ASC_103_20200108t054233"]["properties"]
    assert ascending["sat:orbit_state"] == "ascending" and ascending["platform"] == "sentinel-1b"
    assert ascending["sar:polarizations"] == ["VV"]


def test_bad_s1tiling_files_are_rejected_naming_them(tmp_path: Path) -> None:
    folder = write_s1tiling(tmp_path / "corrupt")
    corrupt = folder / "s1a_33NWB_vh_DES_007_20200108t054233.tif"
    corrupt.write_bytes(corrupt.read_bytes()[:300])
    assert_read_fails(S1Tiling(), folder, corrupt, "cannot be read as a raster")

    folder = write_s1tiling(tmp_path / "outside")
    off_grid = folder / f"s1a_{NOT_IN_GRID}_vv_DES_007_20200108t054233.tif"
    (folder / "s1a_33NWB_vv_DES_007_20200108t054233.tif").rename(off_grid)
    assert_read_fails(S1Tiling(), folder, off_grid, f"tile {NOT_IN_GRID} is not in the Sentinel-2 grid")


# Detection


def test_unrelated_folders_and_files_are_not_detected(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here")
    (tmp_path / "s1a_33NWB_vv_DES_007_20200108.tif").write_bytes(b"not a product")  # no time in the stamp
    (tmp_path / "LIS_S2-SNOW-FSC_T31TCH_20180101T105435_1.7.0_1.tif").write_bytes(b"")  # no LIS_METADATA.XML
    (tmp_path / "SENTINEL2A_20230615-105856-463_L1C_T31TCJ_C_V3-1_MTD_ALL.xml").write_text("<x/>")  # not a level read
    for path in [tmp_path, *tmp_path.iterdir()]:
        assert [reader.name for reader in READERS if reader.detect(path)] == [], path
        assert detect(path) is None, path
