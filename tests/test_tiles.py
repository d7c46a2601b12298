"""The grid in the database, zones to tiles, and tile counts per continent."""

from __future__ import annotations

import json
import re

import psycopg
import pytest
from conftest import FIXTURES, hesp

# Tile counts per continent, ESA footprints x Natural Earth 1:110m, worked out when the grid was derived
# (tests/fixtures/SOURCES.md).
EXPECTED = {
    "asia": 5_758,
    "north-america": 3_496,
    "africa": 3_451,
    "south-america": 2_093,
    "antarctica": 1_709,
    "europe": 1_457,  # Russia west of 60 E included
    "oceania": 1_165,
}


def test_the_grid_is_in_the_database_and_valid(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        total, land, invalid = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE land), count(*) FILTER (WHERE NOT ST_IsValid(footprint))"
            " FROM hesp.tiles"
        ).fetchone()  # type: ignore[misc]
        assert (total, land, invalid) == (56_686, 18_952, 0)
        for tile_id in ("01KAB", "60CWS"):
            parts, ratio, widest = conn.execute(
                """SELECT ST_NumGeometries(footprint),
                          ST_Area(footprint::geography) / ((utm_xmax - utm_xmin) * (utm_ymax - utm_ymin)),
                          (SELECT max(ST_XMax(d.geom) - ST_XMin(d.geom)) FROM ST_Dump(footprint) d)
                   FROM hesp.tiles WHERE id = %s""",
                [tile_id],
            ).fetchone()  # type: ignore[misc]
            assert parts == 2 and abs(ratio - 1) < 0.01 and widest < 10, tile_id
        distance = conn.execute(
            """SELECT ST_HausdorffDistance(
                   ST_Segmentize(ST_Transform(footprint, epsg), 100),
                   ST_Segmentize(ST_MakeEnvelope(utm_xmin, utm_ymin, utm_xmax, utm_ymax, epsg), 100))
               FROM hesp.tiles WHERE id = '31TCJ'"""
        ).fetchone()[0]  # type: ignore[index]
        assert distance < 1.0


def test_metropolitan_france(db_url: str) -> None:
    result = hesp("tiles", "--region", "france", "--format", "list", env={"HESP_DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    found = set(result.stdout.split())
    reference = set((FIXTURES / "data" / "grid" / "france_metropolitan_tiles_ne110m.txt").read_text().split())
    assert "31TCJ" in found and abs(len(found) - 95) <= 5
    assert len(found & reference) >= 0.95 * len(reference)


def test_counts_by_continent_match_the_documentation(db_url: str) -> None:
    result = hesp("tiles", "count", "--by", "continent", env={"HESP_DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"([a-z-]+)\s+│\s+(\d+)", result.stdout)}
    assert set(counts) == set(EXPECTED)
    for continent, expected in EXPECTED.items():
        assert counts[continent] == pytest.approx(expected, rel=0.05), continent
    as_json = hesp("tiles", "count", "--format", "json", env={"HESP_DATABASE_URL": db_url})
    assert json.loads(as_json.stdout) == {"by": "continent", "land_only": False, "tiles": counts}


def test_zones_as_bbox_geojson_and_ids(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"HESP_DATABASE_URL": db_url}
    by_bbox = hesp("tiles", "--bbox", "1.2,43.5,1.6,43.7", "--format", "list", env=env).stdout.split()
    assert by_bbox == ["31TCJ"]
    zone = tmp_path / "zone.geojson"
    square = {"type": "Polygon", "coordinates": [[[1.2, 43.5], [1.6, 43.5], [1.6, 43.7], [1.2, 43.7], [1.2, 43.5]]]}
    zone.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": square}]}))
    assert hesp("tiles", "--geojson", str(zone), "--format", "list", env=env).stdout.split() == ["31TCJ"]
    collection = json.loads(hesp("tiles", "--ids", "t31tcj", "--ids", "01KAB", "--format", "geojson", env=env).stdout)
    assert [f["id"] for f in collection["features"]] == ["01KAB", "31TCJ"]
    listed = hesp("tiles", "--ids", "31TCJ, 31TDJ", "--ids", "31TCH", "--format", "list", env=env).stdout.split()
    assert listed == ["31TCH", "31TCJ", "31TDJ"]
    assert collection["features"][0]["geometry"]["type"] == "MultiPolygon"
    ocean = hesp("tiles", "--bbox", "-30,30,-29,31", "--land-only", "--format", "list", env=env)
    assert ocean.returncode == 0 and ocean.stdout.strip() == ""


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--region", "atlantis"], "no region named 'atlantis'"),
        (["--bbox", "3,4,1,2"], "not a bbox"),
        (["--ids", "32XAA"], "not in the Sentinel-2 grid"),
        (["--region", "france", "--bbox", "1,2,3,4"], "one of --geojson, --bbox, --region"),
    ],
)
def test_bad_zones_are_refused(db_url: str, arguments: list[str], message: str) -> None:
    result = hesp("tiles", *arguments, env={"HESP_DATABASE_URL": db_url})
    assert result.returncode != 0 and message in result.stderr
