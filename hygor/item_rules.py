"""What every item must be before it reaches pgSTAC, beyond what the STAC JSON Schemas say.

The schemas accept an id such as ``../x`` or one holding a newline, a self-intersecting polygon, a latitude
of 95, a polygon wrapping the globe the long way, a date such as 2024-02-30, a NUL character (which
PostgreSQL's jsonb refuses, failing a whole batch) or a ``grid:code`` naming no tile (which the inventory cannot
place). Ingest and the STAC API's writes both refuse such items here, one reason each, before any write.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
import shapely
from shapely.errors import GEOSException
from shapely.geometry import shape

from hygor.grid import UnknownTile
from hygor.grid import tile as grid_tile

MAX_ID_LENGTH = 256
MAX_ITEM_BYTES = 4 * 1024 * 1024
# An id names a product, a folder and a URL path segment: no separators, no control characters, not . or ..
UNSAFE_ID = re.compile(r"[/\\\x00-\x1f\x7f]")
CACHED_GEOMETRIES = 512  # verdicts on geometries kept, of at most CACHED_GEOMETRY_CHARS of JSON each
CACHED_GEOMETRY_CHARS = 20_000
DATETIME_FIELDS = ("datetime", "start_datetime", "end_datetime", "created", "updated")


def item_rule_problems(item: dict[str, Any]) -> list[str]:
    """The first problem of each kind, in the order a reader would fix them; empty when the item may be stored."""
    problem = id_problem(item.get("id"))
    if problem:
        return [problem]
    problems = [p for p in (_content_problem(item), geometry_problem(item.get("geometry"))) if p]
    properties = item.get("properties")
    if isinstance(properties, dict):
        problems += [p for p in (_datetime_problem(properties), _grid_problem(properties)) if p]
    return problems


def id_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return f"id must be a non-empty string, not {_shown(value)}"
    if len(value) > MAX_ID_LENGTH:
        return f"id is {len(value)} characters long (at most {MAX_ID_LENGTH})"
    if value in (".", "..") or UNSAFE_ID.search(value):
        return f"id {value!r} holds a path separator, a control character or is . or .."
    return None


def geometry_problem(geometry: Any) -> str | None:
    """A GeoJSON geometry in longitude/latitude, valid, never crossing the antimeridian the long way."""
    if geometry is None:
        return "geometry is null (pgSTAC needs a footprint)"
    try:
        serialised = orjson.dumps(geometry)
    except (TypeError, orjson.JSONEncodeError):
        return _geometry_problem(geometry)
    if len(serialised) > CACHED_GEOMETRY_CHARS:
        return _geometry_problem(geometry)
    return _known_geometry_problem(serialised)


@lru_cache(maxsize=CACHED_GEOMETRIES)
def _known_geometry_problem(serialised: bytes) -> str | None:
    """The verdict on a geometry seen before: the products of a tile share its footprint."""
    return _geometry_problem(orjson.loads(serialised))


def _geometry_problem(geometry: Any) -> str | None:
    try:
        parsed = shape(geometry)
    except (GEOSException, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        return f"geometry cannot be read: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    if parsed.is_empty:
        return "geometry is empty"
    coordinates = shapely.get_coordinates(parsed)
    if not all(-180 <= lon <= 180 and -90 <= lat <= 90 for lon, lat in coordinates):
        return "geometry lies outside longitudes -180..180 and latitudes -90..90"
    if not parsed.is_valid:
        return f"geometry is not valid ({shapely.is_valid_reason(parsed)})"
    if _wraps(parsed):
        return "geometry crosses the antimeridian the long way (split it at 180°, RFC 7946 section 3.1.9)"
    return None


def _wraps(geometry: Any) -> bool:
    """Whether an edge spans more than 180° of longitude off the poles (a polygon drawn across the antimeridian
    without being split); a global box, whose long edges run along the poles, is fine."""
    for ring in shapely.get_rings(shapely.get_parts(geometry)):
        points = shapely.get_coordinates(ring)
        for (lon0, lat0), (lon1, lat1) in zip(points[:-1], points[1:], strict=True):
            if abs(lon1 - lon0) > 180 and not (abs(lat0) == abs(lat1) == 90):
                return True
    return False


def _content_problem(item: dict[str, Any]) -> str | None:
    try:
        json.dumps(item, allow_nan=False)  # the C encoder finds a NaN faster than a walk in Python
    except ValueError:
        return "a number is not finite (NaN or infinity), which JSON cannot hold"
    except TypeError:
        pass  # not JSON at all: orjson says what below
    serialised = orjson.dumps(item)
    if len(serialised) > MAX_ITEM_BYTES:
        return f"the item is {len(serialised):,} bytes of JSON (at most {MAX_ITEM_BYTES:,})"
    if b"\\u0000" in serialised:
        return "a NUL character, which PostgreSQL cannot store"
    return None


def _datetime_problem(properties: dict[str, Any]) -> str | None:
    for field in DATETIME_FIELDS:
        value = properties.get(field)
        if isinstance(value, str):
            try:
                datetime.fromisoformat(value)
            except ValueError:
                return f"properties/{field}: {value!r} is not a date and time (RFC 3339)"
    return None


def _grid_problem(properties: dict[str, Any]) -> str | None:
    code = properties.get("grid:code")
    if isinstance(code, str) and code.startswith("MGRS-"):
        try:
            grid_tile(code.removeprefix("MGRS-"))
        except UnknownTile as exc:
            return f"properties/grid:code: {exc}"
    return None


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str | int | float | bool) or value is None else type(value).__name__
