"""Production requests in the database: stored with their zone resolved to tiles, listed, removed; every change
recorded in the request's history (``hymotep.decisions``) in the transaction that makes it."""

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
from hymotep.decisions import Decision, record
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
    decision: Decision = "accepted"
    decision_reason: str | None = None
    decided_at: datetime | None = None  # None: accepted when added, not decided since
    decided_by: str | None = None

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


def add_request(conn: Connection, request: ProductionRequest, *, by: str, replace: bool = False) -> StoredRequest:
    """Store ``request`` and its tiles in one transaction, recorded as ``added`` (or ``replaced``, with the fields
    changed) by ``by``; refuse an existing name unless ``replace``. A replaced request keeps its decision."""
    tiles = zone_tiles(conn, request.zone)
    if not tiles:
        raise RequestError(f"{request.name}: its zone ({request.zone.describe()}) covers no tile of the grid")
    with conn.transaction(), translate_errors():
        before = find_request(conn, request.name) if replace else None
        if before is not None:
            conn.execute(query("delete_request"), {"name": request.name})
        try:
            conn.execute(query("insert_request"), _row(request, before))
        except psycopg.errors.UniqueViolation:
            raise RequestError(f"a request named {request.name!r} exists already: use --replace") from None
        conn.execute(query("insert_request_tiles"), {"name": request.name, "tiles": tiles})
        stored = get_request(conn, request.name)
        if before is None:
            record(conn, request.name, "added", by, _described(stored))
        else:
            record(conn, request.name, "replaced", by, {"changed": _changes(before, stored)})
    return stored


def list_requests(conn: Connection) -> list[StoredRequest]:
    with translate_errors():
        return [StoredRequest.from_row(row) for row in conn.execute(query("list_requests"), {"name": None})]


def get_request(conn: Connection, name: str) -> StoredRequest:
    found = find_request(conn, name)
    if found is None:
        raise RequestError(f"no request named {name!r}")
    return found


def find_request(conn: Connection, name: str) -> StoredRequest | None:
    with translate_errors():
        row = conn.execute(query("list_requests"), {"name": name}).fetchone()
    return None if row is None else StoredRequest.from_row(row)


def remove_request(conn: Connection, name: str, *, by: str) -> None:
    """Remove the request, recorded in its history (which stays)."""
    with conn.transaction(), translate_errors():
        if conn.execute(query("delete_request"), {"name": name}).rowcount == 0:
            raise RequestError(f"no request named {name!r}")
        record(conn, name, "removed", by)


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


def _row(request: ProductionRequest, before: StoredRequest | None) -> dict[str, Any]:
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
        "decision": before.decision if before else None,
        "decision_reason": before.decision_reason if before else None,
        "decided_at": before.decided_at if before else None,
        "decided_by": before.decided_by if before else None,
    }


DESCRIBED = ("title", "requester", "zone", "chains", "start", "end", "priority", "notes", "tiles")


def _described(request: StoredRequest) -> dict[str, Any]:
    """What the history keeps of a request added: its fields (the zone as given, and its number of tiles)."""
    return request.model_dump(mode="json", include=set(DESCRIBED))


def _changes(before: StoredRequest, after: StoredRequest) -> dict[str, list[Any]]:
    """The fields a replacement changed: ``{field: [before, after]}``."""
    old, new = _described(before), _described(after)
    return {field: [old[field], new[field]] for field in DESCRIBED if old[field] != new[field]}
