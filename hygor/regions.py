"""Named regions, offline: metropolitan France, the continents and every country of Natural Earth 1:110m.

Continents follow Natural Earth, except that Russia is cut at 60° E: its west belongs to Europe, its east to
Asia (as the tile counts of the grid's documentation do). A tile on a border belongs to both sides.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import shapely
import shapely.errors
from shapely.geometry import MultiPolygon, Polygon, box, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from hygor.errors import HygorError

RUSSIA_SPLIT_LON = 60.0
# Metropolitan France and Corsica: Natural Earth's France also holds French Guiana.
METROPOLITAN_FRANCE = box(-6.0, 41.0, 10.0, 52.0)


class UnknownRegion(HygorError):
    """No region of that name."""


class InvalidZone(HygorError):
    """A zone is not a usable area."""


def slug(name: str) -> str:
    return name.strip().lower().replace(" ", "-")


@cache
def _countries() -> dict[str, tuple[str, BaseGeometry, str]]:
    """slug -> (name, geometry, continent slug), also under the ISO A3 code in lower case."""
    raw = resources.files("hygor").joinpath("data", "ne_110m_countries.geojson").read_text()
    found: dict[str, tuple[str, BaseGeometry, str]] = {}
    for feature in json.loads(raw)["features"]:
        props = feature["properties"]
        entry = (props["name"], shape(feature["geometry"]), slug(props["continent"]))
        found[slug(props["name"])] = entry
        if props.get("iso_a3") and props["iso_a3"] != "-99":
            found[props["iso_a3"].lower()] = entry
    return found


@cache
def continents() -> dict[str, BaseGeometry]:
    """Continent slug (``europe``, ``north-america``, ...) -> its land, Russia cut at 60° E."""
    parts: dict[str, list[BaseGeometry]] = {}
    seen: set[str] = set()
    for name, geometry, continent in _countries().values():
        if name in seen:
            continue
        seen.add(name)
        if name == "Russia":
            west = box(-180, -90, RUSSIA_SPLIT_LON, 90)
            parts.setdefault("europe", []).append(geometry.intersection(west))
            parts.setdefault("asia", []).append(geometry.difference(west))
        elif continent != "seven-seas-(open-ocean)":
            parts.setdefault(continent, []).append(geometry)
    return {continent: shapely.union_all(geometries) for continent, geometries in sorted(parts.items())}


def geojson_geometry(document: dict[str, Any], source: str = "GeoJSON") -> BaseGeometry:
    """One Polygon or MultiPolygon in WGS84 from a GeoJSON geometry, Feature or FeatureCollection (unioned);
    ``InvalidZone`` saying why when it is not a usable zone."""
    kind = document.get("type")
    if kind == "FeatureCollection":
        geometries = [feature.get("geometry") or {} for feature in document.get("features", [])]
    else:
        geometries = [(document.get("geometry") or {}) if kind == "Feature" else document]
    try:
        parts = [shape(g) for g in geometries]
    except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.GEOSException) as exc:
        raise InvalidZone(f"{source}: not a GeoJSON geometry ({exc})") from None
    for part in parts:
        if not part.is_valid:
            raise InvalidZone(f"{source}: the geometry is invalid ({explain_validity(part)})")
    geometry = shapely.union_all(parts) if parts else Polygon()
    if geometry.is_empty or geometry.area == 0:
        raise InvalidZone(f"{source}: the geometry is empty")
    west, south, east, north = geometry.bounds
    if west < -180 or east > 180 or south < -90 or north > 90:
        raise InvalidZone(f"{source}: coordinates must be WGS84 longitudes and latitudes (RFC 7946)")
    if not isinstance(geometry, Polygon | MultiPolygon):
        raise InvalidZone(f"{source}: the geometry is a {geometry.geom_type}, not a Polygon or MultiPolygon")
    return geometry


def bbox_geometry(west: float, south: float, east: float, north: float) -> BaseGeometry:
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InvalidZone(f"bbox {west},{south},{east},{north} is not W,S,E,N in degrees with W < E and S < N")
    return box(west, south, east, north)


def region(name: str) -> BaseGeometry:
    """The WGS84 geometry of a named region: ``france`` (metropolitan), a continent, or a country (name or ISO
    A3 code, e.g. ``spain`` or ``esp``)."""
    key = slug(name)
    if key in ("france", "metropolitan-france"):
        return _countries()["france"][1].intersection(METROPOLITAN_FRANCE)
    if key in continents():
        return continents()[key]
    if key in _countries():
        return _countries()[key][1]
    raise UnknownRegion(f"no region named {name!r}: a continent ({', '.join(continents())}), 'france' or a country")
