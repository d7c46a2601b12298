"""Production request files: the examples parse; every fault is refused with one line naming it."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from hygor.settings import default_collections_dir
from hymotep.requests import (
    ProductionRequest,
    RequestError,
    Zone,
    load_request_file,
    parse_request,
    produced_chains,
)

KNOWN = {"maja-l2a", "lis-snow", "surfwater-water", "s1tiling-backscatter", "maja-l3a-monthly", "lis-snow-yearly"}
VALID = """\
name: test-request
requester: {name: A. Tester}
zone:
  tiles: [31TCJ]
chains: [maja-l2a]
period: {start: 2020-01-01}
"""
SQUARE = [[[1.0, 43.0], [2.0, 43.0], [2.0, 44.0], [1.0, 44.0], [1.0, 43.0]]]


def parse(text: str, base_dir: Path | None = None) -> ProductionRequest:
    return parse_request(text, source="req.yaml", known_chains=KNOWN, base_dir=base_dir)


def with_changes(**changes: object) -> str:
    document = yaml.safe_load(VALID)
    document.update(changes)
    return yaml.safe_dump(document, sort_keys=False)


def refused(text: str, base_dir: Path | None = None) -> str:
    with pytest.raises(RequestError) as caught:
        parse(text, base_dir)
    message = str(caught.value)
    assert message.startswith("req.yaml: ") and "\n" not in message
    return message


def test_the_collections_give_the_known_chains() -> None:
    assert produced_chains(default_collections_dir()) == KNOWN


def test_the_example_requests_parse_and_overlap() -> None:
    snow = load_request_file(REPO / "hymotep" / "examples" / "pyrenees-snow.yaml", KNOWN)
    water = load_request_file(REPO / "hymotep" / "examples" / "occitanie-water.yaml", KNOWN)
    assert snow.name == "pyrenees-snow" and snow.chains == ("maja-l2a", "lis-snow")
    assert snow.zone.kind == "tiles" and "31TCJ" in snow.zone.value
    assert snow.start == date(2017, 9, 1) and snow.open_ended and snow.priority == 1
    assert water.zone == Zone(kind="bbox", value=(-0.5, 42.3, 4.9, 45.1))
    assert (water.start, water.end, water.priority) == (date(2018, 1, 1), date(2025, 12, 31), 2)
    west, south, east, north = water.zone.value
    assert west <= 1.0 <= east and south <= 43.8 <= north  # 31TCJ (Toulouse) is in both


def test_defaults_and_tile_normalisation() -> None:
    request = parse(with_changes(zone={"tiles": ["t31tcj", "MGRS-31TCJ", "31TDJ"]}))
    assert request.zone.value == ("31TCJ", "31TDJ")
    assert request.priority == 3 and request.end is None and request.title is None


def test_a_request_is_frozen() -> None:
    request = parse(VALID)
    with pytest.raises(ValueError, match="frozen"):
        request.priority = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"chains": ["maja-l2a", "ndvi"]}, r"chains: unknown chain ndvi \(known chains: lis-snow, lis-snow-yearly"),
        ({"chains": ["sentinel-2-l1c"]}, "unknown chain sentinel-2-l1c"),
        ({"period": {"start": "2024-01-01", "end": "2023-01-01"}}, r"period ends \(2023-01-01\) before it starts"),
        ({"period": {"start": "2023-02-30"}}, r"period/start: .*is not a \"date\""),
        ({"zone": {"tiles": []}}, r"zone/tiles: \[\] has less than 1 item"),
        ({"zone": {"bbox": [1.0, 42.0, 1.0, 43.0]}}, r"zone: bbox \[1.0, 42.0, 1.0, 43.0\] is empty"),
        ({"zone": {"bbox": [0, 44, 1, 43]}}, "south must be below north"),
        ({"zone": {"bbox": [0, 43, 1, 95]}}, "zone/bbox/3: 95 is greater than the maximum of 90"),
        ({"zone": {"tiles": ["31TCJ"], "bbox": [0, 43, 1, 44]}}, r"zone: give exactly one of .*\(found tiles, bbox\)"),
        ({"zone": {}}, r"zone: give exactly one of tiles, bbox, region, geojson \(found nothing\)"),
        ({"zone": {"tiles": ["32XAA"]}}, "zone: tile 32XAA is not in the Sentinel-2 grid"),
        ({"zone": {"tiles": ["Toulouse"]}}, "zone: 'Toulouse' is not a Sentinel-2 tile id"),
        ({"zone": {"geojson": {"type": "Point", "coordinates": [1, 43]}}}, r"zone/geojson/type: \"Point\" is not one"),
        ({"priority": 0}, "priority: 0 is less than the minimum of 1"),
        ({"priority": 6}, "priority: 6 is greater than the maximum of 5"),
        ({"name": "Bad Name"}, 'name: "Bad Name" does not match'),
        ({"colour": "blue"}, r"'colour' was unexpected"),
    ],
)
def test_a_faulty_request_is_refused_naming_the_fault(changes: dict[str, object], expected: str) -> None:
    message = refused(with_changes(**changes))
    assert re.search(expected, message), message


def test_a_missing_field_is_named() -> None:
    assert refused(VALID.replace("chains: [maja-l2a]\n", "")) == "req.yaml: (top level): missing chains"


def test_several_schema_faults_are_joined_on_one_line() -> None:
    message = refused("name: X\nrequester: {}\nzone: {tiles: []}\nchains: []\n")
    assert message.startswith("req.yaml: (top level): missing period; name: ")
    assert message.count(";") == 2 and message.endswith("(and 2 more)")


def test_malformed_yaml_gives_the_line() -> None:
    message = refused(VALID.replace("chains: [maja-l2a]", "chains: [maja-l2a, lis-snow\nnotes: x"))
    assert "malformed YAML" in message and "line 5, column 9" in message


@pytest.mark.parametrize(("text", "expected"), [("", "is empty"), ("- a\n- b\n", "must be a YAML mapping")])
def test_a_request_must_be_a_mapping(text: str, expected: str) -> None:
    assert expected in refused(text)


def test_a_missing_geojson_file_is_named(tmp_path: Path) -> None:
    message = refused(with_changes(zone={"geojson": "zones/aoi.geojson"}), base_dir=tmp_path)
    assert f"zone: GeoJSON file {tmp_path / 'zones' / 'aoi.geojson'} not found" in message


def test_a_geojson_file_is_read_from_the_request_folder(tmp_path: Path) -> None:
    (tmp_path / "aoi.geojson").write_text(
        json.dumps({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": SQUARE}})
    )
    (tmp_path / "request.yaml").write_text(with_changes(zone={"geojson": "aoi.geojson"}))
    request = load_request_file(tmp_path / "request.yaml", KNOWN)
    assert request.zone.kind == "geojson" and request.zone.value["type"] == "Polygon"


def test_a_faulty_geojson_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "aoi.geojson").write_text(json.dumps({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}))
    message = refused(with_changes(zone={"geojson": "aoi.geojson"}), base_dir=tmp_path)
    assert "aoi.geojson: type:" in message


def test_a_feature_collection_is_unioned() -> None:
    east = [[[x + 1.0, y] for x, y in SQUARE[0]]]  # touches the first square along lon 2
    far = [[[x + 5.0, y] for x, y in SQUARE[0]]]
    features = [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": c}} for c in (SQUARE, east)
    ]
    zone = parse(with_changes(zone={"geojson": {"type": "FeatureCollection", "features": features}})).zone
    assert zone.value["type"] == "Polygon"
    features.append({"type": "Feature", "geometry": {"type": "MultiPolygon", "coordinates": [far]}})
    zone = parse(with_changes(zone={"geojson": {"type": "FeatureCollection", "features": features}})).zone
    assert zone.value["type"] == "MultiPolygon" and len(zone.value["coordinates"]) == 2


@pytest.mark.parametrize(
    ("geojson", "expected"),
    [
        ({"type": "FeatureCollection", "features": []}, "zone: the GeoJSON zone: the geometry is empty"),
        ({"type": "MultiPolygon", "coordinates": []}, "zone: the GeoJSON zone: the geometry is empty"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}, "invalid (Self-intersection"),
        ({"type": "Polygon", "coordinates": [[[5e5, 4.8e6], [6e5, 4.8e6], [6e5, 4.9e6], [5e5, 4.8e6]]]}, "WGS84"),
    ],
)
def test_an_empty_or_unusable_geometry_is_refused(geojson: dict[str, object], expected: str) -> None:
    assert expected in refused(with_changes(zone={"geojson": geojson}))


def test_a_zone_value_must_fit_its_kind() -> None:
    assert Zone(kind="bbox", value=[0, 43, 1, 44]).describe() == "bbox [0.0, 43.0, 1.0, 44.0]"
    assert Zone(kind="tiles", value=["31TCJ"]).describe() == "1 tile"
    with pytest.raises(ValueError, match="a region zone cannot hold"):
        Zone(kind="region", value=("31TCJ",))
