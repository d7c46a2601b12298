"""The Sentinel-2 grid in the database (``hesp.tiles``), where zones become tile lists with PostGIS."""

from __future__ import annotations

from typing import Any

import orjson
import psycopg
import shapely
from pydantic import BaseModel
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry

from hygor.db import execute, fetch_all, fetch_one
from hygor.grid import all_tiles, footprints, land_tiles
from hygor.sql import query

WGS84 = 4326


def sync_grid(conn: psycopg.Connection[dict[str, Any]]) -> int:
    """Load the whole grid when the table does not hold it yet; the number of tiles loaded (0: up to date)."""
    tiles = list(all_tiles().values())
    if fetch_one(conn, "tile_count")["tiles"] == len(tiles):
        return 0
    land = land_tiles()
    execute(conn, "create_tiles_load")
    with conn.cursor().copy(query("copy_tiles_load")) as copy:
        for grid_tile, footprint in zip(tiles, footprints(tiles), strict=True):
            multi = footprint if isinstance(footprint, MultiPolygon) else MultiPolygon([footprint])
            ewkb = shapely.to_wkb(shapely.set_srid(multi, WGS84), hex=True, include_srid=True)
            copy.write_row((grid_tile.id, grid_tile.epsg, *grid_tile.bounds, ewkb, grid_tile.id in land))
    execute(conn, "upsert_tiles")
    return len(tiles)


class TileInfo(BaseModel):
    id: str
    epsg: int
    land: bool
    footprint: dict[str, Any] | None = None


def select_tiles(
    conn: psycopg.Connection[dict[str, Any]],
    *,
    zone: BaseGeometry | None = None,
    ids: list[str] | None = None,
    land_only: bool = False,
    with_footprint: bool = False,
) -> list[TileInfo]:
    """The tiles touching ``zone`` and/or named in ``ids`` (every tile when neither is given)."""
    rows = fetch_all(
        conn,
        "tiles_in_zone",
        zone=shapely.to_wkb(zone) if zone is not None else None,
        ids=ids,
        land_only=land_only,
        with_footprint=with_footprint,
    )
    return [
        TileInfo(
            id=row["id"],
            epsg=row["epsg"],
            land=row["land"],
            footprint=orjson.loads(row["footprint"]) if row["footprint"] else None,
        )
        for row in rows
    ]


def count_per_region(
    conn: psycopg.Connection[dict[str, Any]], regions: dict[str, BaseGeometry], land_only: bool = False
) -> dict[str, int]:
    names = list(regions)
    wkbs = [shapely.to_wkb(regions[name]) for name in names]
    rows = fetch_all(conn, "tiles_per_region", names=names, wkbs=wkbs, land_only=land_only)
    return {row["name"]: row["tiles"] for row in rows}
