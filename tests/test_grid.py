"""The Sentinel-2 grid shipped with hygor and the WGS84 footprints of its tiles."""

from __future__ import annotations

import random

import numpy as np
import pytest
import shapely
from pyproj import Geod, Transformer

from hygor.grid import Tile, UnknownTile, all_tiles, land_tiles, normalise_tile_id, tile

GEOD = Geod(ellps="WGS84")
TILES = all_tiles()
# Tiles whose box straddles the antimeridian (zone 1 west edge / zone 60 east edge), the polar bands, and a sample.
CROSSING = sorted(t for t in TILES if t.startswith(("01", "60")) and TILES[t].footprint().geom_type == "MultiPolygon")
SAMPLE = sorted(random.Random(7).sample(sorted(TILES), 300)) + [t for t in TILES if t[2] in "CX"][:200]


def geodesic_area(geometry: shapely.Geometry) -> float:
    return abs(GEOD.geometry_area_perimeter(geometry)[0])


def test_the_whole_grid_is_there() -> None:
    assert len(TILES) == 56_686
    assert len(land_tiles()) == 18_952
    assert TILES["31TCJ"] == Tile("31TCJ", 32631, 300000.0, 4790220.0, 409800.0, 4900020.0)


@pytest.mark.parametrize("tile_id", ["01KAB", "60CWS", *CROSSING[:20]])
def test_antimeridian_tiles_are_split_not_wrapped(tile_id: str) -> None:
    footprint = tile(tile_id).footprint()
    assert footprint.is_valid and footprint.geom_type == "MultiPolygon"
    for part in footprint.geoms:
        west, _, east, _ = part.bounds
        assert east - west < 10, "a part spans the globe"
    assert geodesic_area(footprint) == pytest.approx(tile(tile_id).utm_box.area, rel=0.01)


def test_footprints_are_valid_and_keep_their_area() -> None:
    for tile_id in SAMPLE:
        footprint = tile(tile_id).footprint()
        assert footprint.is_valid, tile_id
        assert geodesic_area(footprint) == pytest.approx(TILES[tile_id].utm_box.area, rel=0.01), tile_id


def test_31tcj_back_in_utm_is_its_box_within_a_metre() -> None:
    t = tile("31TCJ")
    to_utm = Transformer.from_crs(4326, t.epsg, always_xy=True)
    back = shapely.transform(t.footprint(), lambda xy: np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1])))
    assert back.hausdorff_distance(t.utm_box) < 1.0
    assert shapely.segmentize(t.utm_box, 100).hausdorff_distance(shapely.segmentize(back, 100)) < 1.0


@pytest.mark.parametrize("spelling", ["31TCJ", "T31TCJ", "31tcj", "MGRS-31TCJ", " 31TCJ "])
def test_tile_ids_are_normalised(spelling: str) -> None:
    assert normalise_tile_id(spelling) == "31TCJ"


@pytest.mark.parametrize(
    ("value", "message"), [("32XAA", "not in the Sentinel-2 grid"), ("ABCDE", "not a Sentinel-2 tile id")]
)
def test_unknown_tiles_are_refused(value: str, message: str) -> None:
    with pytest.raises(UnknownTile, match=message):
        tile(value)
