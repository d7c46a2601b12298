"""The Sentinel-1 GRD SAFE reader on a real IW GRDH slice (tests/fixtures/real/esa-s1/), and on manifests written
from it for the other platforms, modes, resolutions and polarisations, and for a slice across the antimeridian.

No database: items are checked offline against the official STAC schemas and against the manifest; footprints
against the manifest's ``gml:coordinates`` by geodesic area.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from pyproj import Geod
from s1_safe import REAL, REAL_NAME, Slice, write_safe
from shapely.geometry import Polygon, shape
from shapely.geometry.base import BaseGeometry

from hygor.readers.base import ReaderError, detect, reader
from hygor.validation import item_errors

READER = reader("esa-safe-s1-grd")
WGS84 = Geod(ellps="WGS84")


def area(geometry: BaseGeometry) -> float:
    return abs(WGS84.geometry_area_perimeter(geometry)[0])


def manifest_polygon(corners: list[tuple[float, float]]) -> Polygon:
    """The manifest's (lat, lon) corners as one lon/lat polygon, longitudes kept continuous across ±180°."""
    lons = [lon + 360 if lon < 0 and any(other > 90 for _, other in corners) else lon for _, lon in corners]
    return Polygon(zip(lons, [lat for lat, _ in corners], strict=True))


def read(safe: Path) -> dict[str, Any]:
    [item] = READER.read(safe)
    assert item_errors(item) == []
    return item


def test_real_iw_grdh_slice() -> None:
    assert detect(REAL) is READER and detect(REAL / "manifest.safe") is READER
    item = read(REAL)
    props = item["properties"]
    assert (item["id"], item["collection"]) == (REAL_NAME, "sentinel-1-grd")
    assert (props["start_datetime"], props["end_datetime"]) == (
        "2021-08-09T17:39:53.153776Z",
        "2021-08-09T17:40:18.152800Z",
    )
    assert props["datetime"] == props["start_datetime"]
    assert {k: props[k] for k in ("platform", "constellation", "sat:platform_international_designator")} == {
        "platform": "sentinel-1a", "constellation": "sentinel-1", "sat:platform_international_designator": "2014-016A",
    }  # fmt: skip
    # Orbit 39156 of Sentinel-1A is relative orbit (39156 - 73) % 175 + 1 = 59: the manifest says so too.
    assert (props["sat:absolute_orbit"], props["sat:relative_orbit"], props["sat:orbit_state"]) == (
        39156,
        59,
        "ascending",
    )
    assert (props["sat:orbit_cycle"], props["sat:anx_datetime"]) == (238, "2021-08-09T17:27:46.469908Z")
    assert (props["sar:instrument_mode"], props["sar:polarizations"], props["sar:product_type"]) == (
        "IW",
        ["VV", "VH"],
        "GRD",
    )
    assert (props["sar:frequency_band"], props["sar:center_frequency"]) == ("C", 5.405)
    assert (props["sar:resolution_range"], props["sar:resolution_azimuth"], props["sar:pixel_spacing_range"]) == (
        20,
        22,
        10,
    )
    assert (props["product:type"], props["product:timeliness_category"], props["product:timeliness"]) == (
        "IW_GRDH_1S", "NRT-3h", "PT3H",
    )  # fmt: skip
    assert {k: v for k, v in props.items() if k.startswith("s1:")} == {
        "s1:datatake_id": "302867",  # 049F13 in the name
        "s1:instrument_configuration_ID": "7",
        "s1:product_timeliness": "NRT-3h",
        "s1:resolution": "high",
        "s1:slice_number": "7",
        "s1:total_slices": "20",
    }
    assert props["processing:software"] == {"Sentinel-1 IPF": "003.31"}
    assert props["processing:datetime"] == "2021-08-09T20:19:58Z"
    assets = item["assets"]
    assert set(assets) == {"safe-manifest", "thumbnail", "vv", "vh"} | {
        f"{kind}-{p}" for kind in ("annotation", "calibration", "noise") for p in ("vv", "vh")
    }
    vv = assets["vv"]
    assert vv["href"].endswith("/measurement/s1a-iw-grd-vv-20210809t173953-20210809t174018-039156-049f13-001.tiff")
    assert (vv["type"], vv["roles"], vv["sar:polarizations"]) == (
        "image/tiff; application=geotiff",
        ["data", "amplitude"],
        ["VV"],
    )
    assert (vv["file:size"], vv["file:checksum"]) == (872232364, "d50110" + "4f832deaf9d57b5c9bf9a88b4f7af473")
    assert assets["calibration-vh"]["roles"] == ["metadata", "calibration"]
    assert assets["thumbnail"]["type"] == "image/png"


def test_real_footprint_is_the_manifest_footprint() -> None:
    item = read(REAL)
    footprint = shape(item["geometry"])
    corners = [(46.033890, 1.512143), (46.436539, 4.851360), (44.938713, 5.188996), (44.536255, 1.937196)]
    expected = manifest_polygon(corners)
    assert footprint.geom_type == "Polygon" and footprint.is_valid and footprint.exterior.is_ccw
    assert footprint.symmetric_difference(expected).area < 1e-9
    assert abs(area(footprint) - area(expected)) / area(expected) < 0.01
    assert item["bbox"] == [1.512143, 44.536255, 5.188996, 46.436539]  # lon/lat, not lat/lon


@pytest.mark.parametrize(
    ("product", "expected"),
    [
        (  # Sentinel-1B extra-wide swath, medium resolution, HH+HV, descending, no relative orbit in the manifest
            Slice(unit="B", mode="EW", resolution="M", polarisations=("HH", "HV"), absolute_orbit=30000,
                  relative_orbit=None, direction="DESCENDING", timeliness="Fast-24h"),
            {"platform": "sentinel-1b", "sat:platform_international_designator": "2016-025A",
             "sar:instrument_mode": "EW", "sar:polarizations": ["HH", "HV"], "sar:resolution_range": 93,
             "sar:pixel_spacing_range": 40, "sar:looks_range": 6, "sat:orbit_state": "descending",
             "sat:relative_orbit": (30000 - 27) % 175 + 1, "product:type": "EW_GRDM_1S",
             "product:timeliness": "PT24H", "s1:resolution": "medium"},
        ),
        (  # Sentinel-1C, single polarisation VV, processed off-line (a timeliness without a stated delay)
            Slice(unit="C", polarisations=("VV",), absolute_orbit=1234, relative_orbit=42, timeliness="Off-line"),
            {"platform": "sentinel-1c", "sat:platform_international_designator": "2024-235A",
             "sar:polarizations": ["VV"], "sat:relative_orbit": 42, "s1:product_timeliness": "Off-line"},
        ),
        (  # Sentinel-1A, single polarisation HH, relative orbit computed from the absolute one
            Slice(polarisations=("HH",), absolute_orbit=39157, relative_orbit=None),
            {"sar:polarizations": ["HH"], "sat:relative_orbit": 60, "product:type": "IW_GRDH_1S"},
        ),
    ],
    ids=["S1B-EW-GRDM-1SDH", "S1C-IW-GRDH-1SSV", "S1A-IW-GRDH-1SSH"],
)  # fmt: skip
def test_platforms_modes_and_polarisations(tmp_path: Path, product: Slice, expected: dict[str, Any]) -> None:
    safe = write_safe(tmp_path, product)
    assert detect(safe) is READER
    item = read(safe)
    assert item["id"] == product.name
    assert {key: item["properties"].get(key) for key in expected} == expected
    polarisations = {p.lower() for p in product.polarisations}
    assert {key for key in item["assets"] if key not in ("safe-manifest", "thumbnail")} == polarisations | {
        f"{kind}-{p}" for kind in ("annotation", "calibration", "noise") for p in polarisations
    }


@pytest.mark.parametrize("reverse", [False, True], ids=["real-corner-order", "reversed-corner-order"])
def test_footprint_across_the_antimeridian_is_split(tmp_path: Path, reverse: bool) -> None:
    """A slice over the Chukchi sea: the manifest lists longitudes on both sides of ±180°."""
    corners = [(66.03, 178.51), (66.44, -177.15), (64.94, -176.81), (64.54, 178.94)]
    corners = corners[::-1] if reverse else corners
    item = read(write_safe(tmp_path, Slice(direction="DESCENDING", footprint=corners)))
    footprint = shape(item["geometry"])
    assert footprint.geom_type == "MultiPolygon" and footprint.is_valid
    assert all(-180 <= x <= 180 for x, _ in (c for part in footprint.geoms for c in part.exterior.coords))
    west, east = sorted(footprint.geoms, key=lambda part: part.bounds[0])
    assert (west.bounds[0], west.bounds[2], east.bounds[0], east.bounds[2]) == (-180, -176.81, 178.51, 180)
    expected = manifest_polygon(corners)
    assert abs(area(footprint) - area(expected)) / area(expected) < 0.01
    # The bbox crosses the antimeridian (west > east), as STAC says, rather than spanning the globe.
    assert item["bbox"][0] == 178.51 and item["bbox"][2] == -176.81


def test_datatake_of_consecutive_slices(tmp_path: Path) -> None:
    first = Slice()
    following = first.next([(44.55, 1.90), (44.95, 5.20), (43.45, 5.50), (43.05, 2.30)])
    items = [read(write_safe(tmp_path, s)) for s in (first, following)]
    assert [i["properties"]["s1:slice_number"] for i in items] == ["7", "8"]
    assert {i["properties"]["s1:datatake_id"] for i in items} == {"302867"}
    assert items[0]["properties"]["end_datetime"] == items[1]["properties"]["start_datetime"]


@pytest.fixture
def real_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(REAL, tmp_path / REAL.name))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("<safe:number>A</safe:number>", "<safe:number>B</safe:number>", "sentinel-1b is not the A"),
        ("<s1:pass>ASCENDING</s1:pass>", "", "missing element pass"),
        ("46.033890,1.512143 ", "46.033890;1.512143 ", "are not latitude,longitude pairs"),
        ("46.033890,1.512143", "146.033890,1.512143", "not a ring of latitude,longitude pairs"),
        ("<safe:startTime>2021-08-09T17:39:53.153776", "<safe:startTime>yesterday", "is not a date and time"),
        ("</xfdu:XFDU>", "", "malformed XML"),
    ],
)
def test_broken_manifests_are_rejected_with_a_reason(real_copy: Path, old: str, new: str, message: str) -> None:
    manifest = real_copy / "manifest.safe"
    manifest.write_text(manifest.read_text().replace(old, new))
    with pytest.raises(ReaderError, match=message):
        READER.read(real_copy)


def test_names_and_modes_outside_the_format(tmp_path: Path) -> None:
    s2 = tmp_path / "S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248.SAFE"
    s2.mkdir()
    (s2 / "manifest.safe").write_text("<xfdu:XFDU/>")
    slc = tmp_path / REAL.name.replace("GRDH_1SDV", "SLC__1SDV")
    shutil.copytree(REAL, slc)
    assert READER.detect(s2) is False and READER.detect(slc) is False
    wave = write_safe(tmp_path, Slice(mode="EW", resolution="F"))  # no EW product at full resolution
    with pytest.raises(ReaderError, match="no EW GRDF product exists"):
        READER.read(wave)
