"""ESA Sentinel-2 readers (SAFE L1C and L2A, public-cloud tile layout) on real product metadata, and on broken copies.

No database: items are checked offline against STAC and against the metadata; the stactools reference items of the
fixtures serve as a second opinion on time, footprint and cloud cover.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from conftest import FIXTURES
from shapely.geometry import shape

import hygor.readers.esa_safe
import hygor.readers.esa_tileinfo  # noqa: F401  (registers the readers, whether or not hygor.readers does)
from hygor.grid import tile
from hygor.readers.base import ReaderError, detect, reader
from hygor.validation import item_errors

ESA = FIXTURES / "real" / "esa"
L1C = ESA / "S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248.SAFE"
L2A = ESA / "esa_S2B_MSIL2A_20210122T133229_N0214_R081_T22HBD_20210122T155500.SAFE"
TILE_INFO = ESA / "S2A_OPER_MSI_L2A_TL_2APS_20240108T121951_A044635_T34VEL"


class Expected(NamedTuple):
    """What the metadata says (read by hand from MTD_MSIL1C.xml, MTD_MSIL2A.xml, tileInfo.json, metadata.xml)."""

    reader: str
    item_id: str
    collection: str
    datetime: str
    tile: str
    epsg: int
    cloud_cover: float
    platform: str
    relative_orbit: int


L1C_ID = "S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248"
L1C_EXPECTED = Expected(
    "esa-safe-l1c", L1C_ID, "sentinel-2-l1c", "2021-09-08T04:27:01.024Z", "46RER", 32646, 88.2972, "sentinel-2a", 133
)
PRODUCTS = {
    "l1c-safe": (L1C, L1C_EXPECTED),
    "l1c-metadata-file": (L1C / "MTD_MSIL1C.xml", L1C_EXPECTED),
    "l2a-safe": (
        L2A,
        Expected(
            "esa-safe-l2a",
            "S2B_MSIL2A_20210122T133229_N0214_R081_T22HBD_20210122T155500",
            "sentinel-2-l2a-esa",
            "2021-01-22T13:32:29.024Z",
            "22HBD",
            32722,
            0.447807,
            "sentinel-2b",
            81,
        ),
    ),
    "l2a-tileinfo": (
        TILE_INFO,
        Expected(
            "esa-tileinfo",
            "S2A_MSIL2A_20240108T101401_N0510_R022_T34VEL_20240108T121951",
            "sentinel-2-l2a-esa",
            "2024-01-08T10:14:07.485Z",
            "34VEL",
            32634,
            74.49823,
            "sentinel-2a",
            22,
        ),
    ),
}
REFERENCES = {"l1c-safe": L1C, "l2a-tileinfo": TILE_INFO}
PSD_14_2_NAMES = {
    "PRODUCT_URI": "PRODUCT_URI_2A",
    "IMAGE_FILE": "IMAGE_FILE_2A",
    "BOA_QUANTIFICATION_VALUE": "L2A_BOA_QUANTIFICATION_VALUE",
}
# Tile ids that the grid does not know: well formed, or not even that (there is no latitude band A).
FAKE_TILES = {"32XAA": "tile 32XAA is not in the Sentinel-2 grid", "00AAA": "'00AAA' is not a Sentinel-2 tile id"}


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def read_one(path: Path) -> dict[str, Any]:
    reader = detect(path)
    assert reader is not None, path
    items = reader.read(path)
    assert len(items) == 1
    return items[0]


def writable_copy(source: Path, target: Path) -> Path:
    """A copy that the test may edit (the fixtures are read-only)."""
    for file in source.rglob("*"):
        if file.is_file():
            copy = target / file.relative_to(source)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, copy)
    return target


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, count if count else -1))


@pytest.mark.parametrize("case", PRODUCTS)
def test_fixture_products_become_valid_items(case: str) -> None:
    path, expected = PRODUCTS[case]
    found = detect(path)
    assert found is not None and found.name == expected.reader
    item = read_one(path)
    assert item_errors(item) == []
    props = item["properties"]
    assert (item["id"], item["collection"]) == (expected.item_id, expected.collection)
    assert when(props["datetime"]) == when(expected.datetime)
    assert (props["grid:code"], props["proj:code"]) == (f"MGRS-{expected.tile}", f"EPSG:{expected.epsg}")
    assert props["eo:cloud_cover"] == pytest.approx(expected.cloud_cover)
    assert (props["platform"], props["sat:relative_orbit"]) == (expected.platform, expected.relative_orbit)
    assert props["processing:level"] == expected.collection.split("-")[2].upper()
    assert re.fullmatch(r"\d{2}\.\d{2}", props["processing:version"])
    geometry = shape(item["geometry"])
    assert geometry.is_valid and not geometry.is_empty
    assert tile(expected.tile).footprint().buffer(1e-6).contains(geometry)


def test_l1c_safe_details() -> None:
    item = read_one(L1C)
    props = item["properties"]
    assert props["sat:orbit_state"] == "descending" and props["sat:absolute_orbit"] == 32448
    assert props["processing:software"] == {"esa-ipf": "03.01"}
    assert props["view:sun_elevation"] == pytest.approx(90 - 26.4931642669439)
    assert props["view:sun_azimuth"] == pytest.approx(142.987598836457)
    assert 10.4 < props["view:incidence_angle"] < 10.7 and 286 < props["view:azimuth"] < 291
    keys = [*(f"B{n:02d}" for n in range(1, 13)), "B8A", "TCI", "product-metadata", "granule-metadata"]
    assert set(item["assets"]) == {*keys, "safe-manifest"}
    blue = item["assets"]["B02"]
    assert blue["href"] == str(
        L1C.resolve() / "GRANULE/L1C_T46RER_A032448_20210908T043714/IMG_DATA/T46RER_20210908T042701_B02.jp2"
    )
    assert blue["gsd"] == 10 and blue["bands"][0]["eo:common_name"] == "blue"
    assert blue["bands"][0]["raster:scale"] == pytest.approx(1e-4) and "raster:offset" not in blue["bands"][0]
    assert blue["proj:shape"] == [10980, 10980]
    assert blue["proj:transform"] == [10, 0, 499980, 0, -10, 3100020]
    assert item["assets"]["B01"]["proj:shape"] == [1830, 1830]
    assert item["assets"]["product-metadata"]["file:size"] == (L1C / "MTD_MSIL1C.xml").stat().st_size


def test_l2a_safe_keeps_native_resolutions() -> None:
    """The product lists B02 at 10, 20 and 60 m: the asset is the native one; no tile metadata, no grids."""
    item = read_one(L2A)
    assets = item["assets"]
    assert item["properties"]["processing:software"] == {"sen2cor": "02.14"}
    assert "B10" not in assets and {"SCL", "AOT", "WVP", "TCI", "product-metadata"} <= set(assets)
    assert assets["B02"]["href"].endswith("/R10m/T22HBD_20210122T133229_B02_10m.jp2")
    assert assets["B01"]["href"].endswith("/R60m/T22HBD_20210122T133229_B01_60m.jp2")
    assert assets["SCL"]["href"].endswith("/R20m/T22HBD_20210122T133229_SCL_20m.jp2")
    assert "proj:shape" not in assets["B02"] and "view:sun_azimuth" not in item["properties"]


def test_tileinfo_assets_follow_the_bucket_layout() -> None:
    """The level, hence the collection, comes from the tile's own metadata."""
    assert reader("esa-tileinfo").collection is None
    item = read_one(TILE_INFO)
    assets = item["assets"]
    assert assets["B02"]["href"] == str(TILE_INFO.resolve() / "R10m" / "B02.jp2")
    assert assets["SCL"]["href"] == str(TILE_INFO.resolve() / "R20m" / "SCL.jp2")
    assert assets["B02"]["bands"][0]["raster:offset"] == pytest.approx(-0.1)  # baseline 05.10
    assert assets["B02"]["proj:transform"] == [10, 0, 499980, 0, -10, 6600000]
    assert "view:incidence_angle" not in item["properties"]  # NaN in metadata.xml: no data seen


@pytest.mark.parametrize("case", REFERENCES)
def test_items_agree_with_the_stactools_reference(case: str) -> None:
    path = REFERENCES[case]
    item = read_one(path)
    reference = json.loads((path / "expected_output.json").read_text())
    assert when(item["properties"]["datetime"]) == when(reference["properties"]["datetime"])
    assert item["properties"]["eo:cloud_cover"] == pytest.approx(reference["properties"]["eo:cloud_cover"])
    ours, theirs = shape(item["geometry"]), shape(reference["geometry"])
    assert ours.symmetric_difference(theirs).area / theirs.area < 0.01


def test_baseline_04_offsets_come_from_the_metadata(tmp_path: Path) -> None:
    """From baseline 04.00 the product metadata lists a radiometric offset per band (RADIO_ADD_OFFSET)."""
    product = writable_copy(L1C, tmp_path / L1C_ID.replace("N0301", "N0509"))
    offsets = "".join(f'<RADIO_ADD_OFFSET band_id="{band}">-1000</RADIO_ADD_OFFSET>' for band in range(13))
    metadata = product / "MTD_MSIL1C.xml"
    edit(
        metadata,
        "</QUANTIFICATION_VALUE>",
        f"</QUANTIFICATION_VALUE><Radiometric_Offset_List>{offsets}</Radiometric_Offset_List>",
    )
    edit(metadata, "<PROCESSING_BASELINE>03.01", "<PROCESSING_BASELINE>05.09")
    item = read_one(product)
    assert item_errors(item) == []
    assert item["properties"]["processing:version"] == "05.09"
    assert item["assets"]["B8A"]["bands"][0]["raster:offset"] == pytest.approx(-0.1)
    assert "raster:offset" not in item["assets"]["TCI"]["bands"][0]


def test_psd_14_2_level_2a_names(tmp_path: Path) -> None:
    """Sen2Cor products of baselines 02.04 to 02.06 name some L2A elements differently (IMAGE_FILE_2A...)."""
    product = writable_copy(L2A, tmp_path / "renamed.SAFE")
    metadata = product / "MTD_MSIL2A.xml"
    text = metadata.read_text()
    for name, alias in PSD_14_2_NAMES.items():
        text = re.sub(rf"(</?){name}\b", rf"\g<1>{alias}", text)
        assert f"<{alias}" in text and f"<{name}>" not in text
    metadata.write_text(text)
    item = read_one(product)
    assert item["id"] == PRODUCTS["l2a-safe"][1].item_id
    assert item["assets"]["B02"]["href"].endswith("_B02_10m.jp2")
    assert item["assets"]["B02"]["bands"][0]["raster:scale"] == pytest.approx(1e-4)


# Broken products: each must give a ReaderError naming the file and the problem.


@pytest.fixture
def l1c_copy(tmp_path: Path) -> Path:
    return writable_copy(L1C, tmp_path / L1C.name)


@pytest.fixture
def tileinfo_copy(tmp_path: Path) -> Path:
    return writable_copy(TILE_INFO, tmp_path / TILE_INFO.name)


def reading_fails(path: Path) -> str:
    found = detect(path)
    assert found is not None, path
    with pytest.raises(ReaderError) as failure:
        found.read(path)
    return str(failure.value)


@pytest.mark.parametrize("file", ["MTD_MSIL1C.xml", "GRANULE/L1C_T46RER_A032448_20210908T043714/MTD_TL.xml"])
def test_truncated_xml(l1c_copy: Path, file: str) -> None:
    target = l1c_copy / file
    target.write_bytes(target.read_bytes()[:5000])
    message = reading_fails(l1c_copy)
    assert str(target) in message and "malformed XML" in message


def test_garbage_xml(tmp_path: Path) -> None:
    product = writable_copy(L2A, tmp_path / L2A.name)
    (product / "MTD_MSIL2A.xml").write_bytes(b"\x00\xffnot <xml at all")
    message = reading_fails(product)
    assert str(product / "MTD_MSIL2A.xml") in message and "malformed XML" in message


@pytest.mark.parametrize("element", ["Cloud_Coverage_Assessment", "SENSING_ORBIT_NUMBER", "EXT_POS_LIST"])
def test_missing_mandatory_element(l1c_copy: Path, element: str) -> None:
    metadata = l1c_copy / "MTD_MSIL1C.xml"
    metadata.write_text(re.sub(rf"<{element}>[^<]*</{element}>", "", metadata.read_text()))
    message = reading_fails(l1c_copy)
    assert str(metadata) in message and f"missing element {element}" in message


def test_not_a_number(l1c_copy: Path) -> None:
    edit(l1c_copy / "MTD_MSIL1C.xml", "<Cloud_Coverage_Assessment>88.2972", "<Cloud_Coverage_Assessment>lots")
    assert "Cloud_Coverage_Assessment 'lots' is not a number" in reading_fails(l1c_copy)


@pytest.mark.parametrize("fake", FAKE_TILES)
def test_safe_tile_not_in_grid(tmp_path: Path, fake: str) -> None:
    product = writable_copy(L1C, tmp_path / L1C.name.replace("46RER", fake))
    for file in (product / "MTD_MSIL1C.xml", *product.glob("GRANULE/*/MTD_TL.xml")):
        edit(file, "46RER", fake, count=0)
    message = reading_fails(product)
    assert str(product / "MTD_MSIL1C.xml") in message and FAKE_TILES[fake] in message


@pytest.mark.parametrize("fake", FAKE_TILES)
def test_tileinfo_tile_not_in_grid(tileinfo_copy: Path, fake: str) -> None:
    info = tileinfo_copy / "tileInfo.json"
    document = json.loads(info.read_text())
    document.update(utmZone=int(fake[:2]), latitudeBand=fake[2], gridSquare=fake[3:])
    info.write_text(json.dumps(document))
    message = reading_fails(tileinfo_copy)
    assert str(info) in message and FAKE_TILES[fake] in message


def test_tileinfo_broken_files(tileinfo_copy: Path) -> None:
    info, metadata = tileinfo_copy / "tileInfo.json", tileinfo_copy / "metadata.xml"
    original = info.read_bytes()
    info.write_bytes(original[:300])
    assert f"{info}: malformed JSON" in reading_fails(tileinfo_copy)
    info.write_text(json.dumps({key: value for key, value in json.loads(original).items() if key != "timestamp"}))
    assert f"{info}: missing field timestamp" in reading_fails(tileinfo_copy)
    info.write_bytes(original)
    metadata.write_bytes(metadata.read_bytes()[:2000])
    assert f"{metadata}: malformed XML" in reading_fails(tileinfo_copy)


def test_unrecognised_folders(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a product")
    (tmp_path / "MTD_MSIL1C.xml.bak").write_text("<x/>")
    assert detect(tmp_path) is None
    assert detect(tmp_path / "notes.txt") is None
    only_info = tmp_path / "tile"
    only_info.mkdir()
    (only_info / "tileInfo.json").write_text("{}")  # without metadata.xml
    assert detect(only_info) is None
