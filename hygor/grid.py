"""The Sentinel-2 tiling grid (56,686 tiles of the ESA grid, shipped as package data).

A tile is a 109,800 m square in its UTM zone. Its WGS84 footprint is the UTM box with densified edges,
reprojected, and split at the antimeridian where it crosses it, so that no footprint wraps the globe.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import antimeridian
import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from hygor.caching import shared_cache
from hygor.errors import HygorError

TILE_ID = re.compile(r"^(?:T)?(\d{2})([C-HJ-NP-X])([A-HJ-NP-Z])([A-HJ-NP-V])$")
# Edge vertices every ~2 km before reprojection, then the vertices that do not bend the outline by more than
# ~0.2 m dropped: a tile's footprint keeps 100 to 400 vertices (most near the poles) and stays within a metre
# of the UTM box.
DENSIFY_M = 2_000.0
SIMPLIFY_DEG = 2e-6


class UnknownTile(HygorError):
    """Not a tile of the Sentinel-2 grid."""


@dataclass(frozen=True)
class Tile:
    """One tile of the grid: its id (``31TCJ``), EPSG code and UTM box."""

    id: str
    epsg: int
    xmin: float
    ymin: float
    xmax: float
    ymax: float

    @property
    def code(self) -> str:
        """The grid extension's code, ``MGRS-31TCJ``."""
        return f"MGRS-{self.id}"

    @property
    def utm_zone(self) -> int:
        return int(self.id[:2])

    @property
    def latitude_band(self) -> str:
        return self.id[2]

    @property
    def grid_square(self) -> str:
        return self.id[3:]

    @property
    def utm_box(self) -> Polygon:
        return box(self.xmin, self.ymin, self.xmax, self.ymax)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (self.xmin, self.ymin, self.xmax, self.ymax)

    def footprint(self) -> BaseGeometry:
        """The tile's WGS84 footprint (a MultiPolygon split at the antimeridian where it crosses it)."""
        return _footprint(self)

    def to_wgs84(self, geometry: BaseGeometry) -> BaseGeometry:
        """A geometry in this tile's UTM coordinates, in WGS84, split at the antimeridian if needed."""
        return utm_to_wgs84(geometry, self.epsg)


@cache
def _footprint(tile: Tile) -> BaseGeometry:
    return tile.to_wgs84(tile.utm_box)


def utm_to_wgs84(geometry: BaseGeometry, epsg: int) -> BaseGeometry:
    found: BaseGeometry = utm_to_wgs84_many(np.array([geometry]), epsg)[0]
    return found


def utm_to_wgs84_many(geometries: NDArray[np.object_], epsg: int) -> NDArray[np.object_]:
    """Geometries of one UTM zone in WGS84, reprojected in one pass (the whole grid takes seconds)."""
    dense = shapely.segmentize(geometries, DENSIFY_M)
    xy = shapely.get_coordinates(dense)
    lon, lat = _to_wgs84(epsg).transform(xy[:, 0], xy[:, 1])
    lonlat = shapely.set_coordinates(dense, np.column_stack([lon, lat]))
    bounds = shapely.bounds(lonlat)
    crossing = bounds[:, 2] - bounds[:, 0] >= 180
    result = np.empty(len(lonlat), dtype=object)
    # Douglas-Peucker where nothing crosses ±180° (outlines are convex: the topology-preserving variant would
    # cost 20 times more for nothing); the few crossing outlines are split first, then simplified.
    result[~crossing] = shapely.simplify(lonlat[~crossing], SIMPLIFY_DEG, preserve_topology=False)
    result[crossing] = [shapely.simplify(fix_antimeridian(g), SIMPLIFY_DEG) for g in lonlat[crossing]]
    invalid = ~shapely.is_valid(result)
    result[invalid] = shapely.make_valid(result[invalid])
    return result


def footprints(tiles: list[Tile]) -> list[BaseGeometry]:
    """The footprints of many tiles at once, in the order given."""
    result: list[BaseGeometry | None] = [None] * len(tiles)
    by_zone: dict[int, list[int]] = {}
    for index, grid_tile in enumerate(tiles):
        by_zone.setdefault(grid_tile.epsg, []).append(index)
    for epsg, indices in by_zone.items():
        boxes = shapely.box(*np.array([tiles[i].bounds for i in indices]).T)
        for index, geometry in zip(indices, utm_to_wgs84_many(boxes, epsg), strict=True):
            result[index] = geometry
    return [g for g in result if g is not None]


def fix_antimeridian(geometry: BaseGeometry) -> BaseGeometry:
    """Split a lon/lat (Multi)Polygon whose longitudes jump across ±180° into valid parts."""
    xmin, _, xmax, _ = geometry.bounds
    if xmax - xmin < 180:  # no jump across ±180°: nothing to split
        return geometry if shapely.is_valid(geometry) else shapely.make_valid(geometry)
    # Edges are densified already: crossings are interpolated linearly between close vertices. A ring is read as
    # the small polygon it outlines whichever way it is wound (product metadata lists corners either way).
    if isinstance(geometry, Polygon):
        fixed = antimeridian.fix_polygon(geometry, great_circle=False, fix_winding=True)
    elif isinstance(geometry, MultiPolygon):
        fixed = antimeridian.fix_multi_polygon(geometry, great_circle=False, fix_winding=True)
    else:
        return geometry
    return fixed if fixed.is_valid else shapely.make_valid(fixed)


@cache
def _to_wgs84(epsg: int) -> Transformer:
    return Transformer.from_crs(epsg, 4326, always_xy=True)


def normalise_tile_id(value: str) -> str:
    """``T31TCJ``, ``31tcj`` and ``MGRS-31TCJ`` all name tile ``31TCJ``."""
    candidate = value.strip().upper().removeprefix("MGRS-")
    match = TILE_ID.match(candidate)
    if not match:
        raise UnknownTile(f"{value!r} is not a Sentinel-2 tile id (like 31TCJ)")
    return "".join(match.groups())


def tile(value: str) -> Tile:
    """The tile named ``value``; ``UnknownTile`` when the grid has no such tile."""
    tile_id = normalise_tile_id(value)
    found = all_tiles().get(tile_id)
    if found is None:
        raise UnknownTile(f"tile {tile_id} is not in the Sentinel-2 grid")
    return found


@shared_cache
def all_tiles() -> dict[str, Tile]:
    raw = resources.files("hygor").joinpath("data", "s2_tiles_utm_from_esa_kml.csv.gz").read_bytes()
    rows = csv.DictReader(io.StringIO(gzip.decompress(raw).decode()))
    return {
        row["tile_id"]: Tile(
            row["tile_id"],
            int(row["epsg"]),
            float(row["xmin"]),
            float(row["ymin"]),
            float(row["xmax"]),
            float(row["ymax"]),
        )
        for row in rows
    }


@cache
def land_tiles() -> frozenset[str]:
    text = resources.files("hygor").joinpath("data", "HLS.land.tiles.txt").read_text()
    return frozenset(line.strip() for line in text.splitlines() if line.strip())
