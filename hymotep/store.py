"""Production requests in the database: stored with their zone resolved to tiles, listed, removed."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from hygor.db import translate_errors
from hygor.regions import bbox_geometry, region
from hygor.tiles import select_tiles
from hymotep.requests import ProductionRequest, RequestError, Zone
from hymotep.sql import query

Connection = psycopg.Connection[dict[str, Any]]


class StoredRequest(BaseModel):
    name: str
    title: str | None
    requester: dict[str, Any]
    zone: dict[str, Any]
    chains: list[str]
    start: date
    end: date | None
    priority: int
    notes: str | None
    created_at: datetime
    tiles: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StoredRequest:
        return cls(**{**row, "start": row["start_date"], "end": row["end_date"]})


def zone_tiles(conn: Connection, zone: Zone) -> list[str]:
    """The tiles of a request's zone: listed ones, or those of the grid touching its area."""
    if zone.kind == "tiles":
        return sorted(str(t) for t in zone.value)
    return [t.id for t in select_tiles(conn, zone=zone_geometry(zone))]


def zone_geometry(zone: Zone) -> BaseGeometry:
    if zone.kind == "region":
        return region(str(zone.value))
    if zone.kind == "bbox":
        west, south, east, north = (float(v) for v in zone.value)
        if west > east:  # across the antimeridian
            return box(west, south, 180, north).union(box(-180, south, east, north))
        return bbox_geometry(west, south, east, north)
    return shape(zone.value)


def add_request(conn: Connection, request: ProductionRequest, *, replace: bool = False) -> StoredRequest:
    """Store ``request`` and its tiles in one transaction; refuse an existing name unless ``replace``."""
    tiles = zone_tiles(conn, request.zone)
    if not tiles:
        raise RequestError(f"{request.name}: its zone ({request.zone.describe()}) covers no tile of the grid")
    with conn.transaction(), translate_errors():
        if replace:
            conn.execute(query("delete_request"), {"name": request.name})
        try:
            conn.execute(query("insert_request"), _row(request))
        except psycopg.errors.UniqueViolation:
            raise RequestError(f"a request named {request.name!r} exists already: use --replace") from None
        conn.execute(query("insert_request_tiles"), {"name": request.name, "tiles": tiles})
    return get_request(conn, request.name)


def list_requests(conn: Connection) -> list[StoredRequest]:
    with translate_errors():
        return [StoredRequest.from_row(row) for row in conn.execute(query("list_requests"), {"name": None})]


def get_request(conn: Connection, name: str) -> StoredRequest:
    with translate_errors():
        row = conn.execute(query("list_requests"), {"name": name}).fetchone()
    if row is None:
        raise RequestError(f"no request named {name!r}")
    return StoredRequest.from_row(row)


def remove_request(conn: Connection, name: str) -> None:
    with translate_errors():
        if conn.execute(query("delete_request"), {"name": name}).rowcount == 0:
            raise RequestError(f"no request named {name!r}")


def request_tiles(conn: Connection, names: list[str]) -> dict[str, list[tuple[str, float]]]:
    """(tile, latitude of its centre) of each request."""
    found: dict[str, list[tuple[str, float]]] = defaultdict(list)
    with translate_errors():
        for row in conn.execute(query("request_tiles"), {"names": names}):
            found[row["request"]].append((row["tile"], row["latitude"]))
    return dict(found)


def requested_tiles(conn: Connection) -> list[str]:
    """Every tile some request asks for."""
    with translate_errors():
        return [row["tile"] for row in conn.execute(query("requested_tiles"))]


def requested_footprints(conn: Connection) -> str:
    """The footprints of every requested tile, simplified for a map, as a GeoJSON FeatureCollection (``id``: the
    tile)."""
    with translate_errors():
        row = conn.execute(query("requested_footprints")).fetchone()
    assert row is not None
    return str(row["document"])


def observed_acquisitions(conn: Connection, collection: str, tiles: list[str]) -> dict[str, float]:
    """Acquisitions a year of ``collection`` per tile, measured in the inventory (tiles with enough history)."""
    codes = [f"MGRS-{tile}" for tile in tiles]
    with translate_errors():
        rows = conn.execute(query("observed_acquisitions"), {"collection": collection, "codes": codes})
        return {row["tile"]: float(row["per_year"]) for row in rows}


def _row(request: ProductionRequest) -> dict[str, Any]:
    return {
        "name": request.name,
        "title": request.title,
        "requester": Jsonb(request.requester.model_dump(exclude_none=True)),
        "zone": Jsonb(request.zone.model_dump(mode="json")),
        "chains": list(request.chains),
        "start": request.start,
        "end": request.end,
        "priority": request.priority,
        "notes": request.notes,
    }
