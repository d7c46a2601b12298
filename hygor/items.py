"""Building STAC items the same way for every product format.

Readers gather facts from product metadata; these helpers turn them into items that carry the common fields
(``grid:code``, ``mgrs:*``, ``proj:code``, footprint, ...) and declare exactly the extensions they use.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import antimeridian
import pystac
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from hygor.grid import Tile

STAC_VERSION = "1.1.0"
# Extension schemas by field prefix (the versions shipped in stac_schemas/).
EXTENSIONS = {
    "eo": "https://stac-extensions.github.io/eo/v2.0.0/schema.json",
    "proj": "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "grid": "https://stac-extensions.github.io/grid/v1.1.0/schema.json",
    "mgrs": "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
    "sat": "https://stac-extensions.github.io/sat/v1.1.0/schema.json",
    "view": "https://stac-extensions.github.io/view/v1.1.0/schema.json",
    "processing": "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
    "file": "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    "raster": "https://stac-extensions.github.io/raster/v2.0.0/schema.json",
    "sar": "https://stac-extensions.github.io/sar/v1.3.0/schema.json",
    "classification": "https://stac-extensions.github.io/classification/v1.1.0/schema.json",
    "product": "https://stac-extensions.github.io/product/v1.0.0/schema.json",
    "s1": "https://stac-extensions.github.io/sentinel-1/v0.2.0/schema.json",
}
API_LINKS = frozenset({"self", "root", "parent", "collection"})
# The project's own properties (documented in schemas/hesp-properties.schema.json).
VALID = "hesp:valid"


class MediaType:
    COG = "image/tiff; application=geotiff; profile=cloud-optimized"
    GEOTIFF = "image/tiff; application=geotiff"
    JP2 = "image/jp2"
    XML = "application/xml"
    JSON = "application/json"
    JPEG = "image/jpeg"
    PNG = "image/png"


def stac_datetime(when: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, microseconds only when there are some."""
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{when.microsecond:06d}" if when.microsecond else "") + "Z"


def file_asset(path: Path, *, media_type: str, roles: Iterable[str], title: str, **fields: Any) -> dict[str, Any]:
    """An asset for a local file; ``file:size`` when the file is there (metadata may come before rasters)."""
    asset: dict[str, Any] = {"href": str(path), "type": media_type, "title": title, "roles": list(roles)}
    try:
        asset["file:size"] = os.stat(path).st_size
    except OSError:
        pass
    asset.update(fields)
    return asset


def tiled_item(
    *,
    item_id: str,
    collection: str,
    tile: Tile,
    properties: Mapping[str, Any],
    assets: Mapping[str, dict[str, Any]],
    footprint: BaseGeometry | None = None,
    derived_from: Iterable[tuple[str, str]] = (),
) -> dict[str, Any]:
    """An item on one Sentinel-2 tile.

    ``footprint`` is the data footprint in WGS84 when the metadata gives one; it is clipped to the tile, whose
    own footprint is used otherwise, so that the geometry always lies in the tile's grid box.
    ``derived_from`` lists the (collection, id) of the input items it was made from.
    """
    geometry = tile.footprint() if footprint is None else _clip_to_tile(footprint, tile)
    props: dict[str, Any] = {
        "grid:code": tile.code,
        "mgrs:utm_zone": tile.utm_zone,
        "mgrs:latitude_band": tile.latitude_band,
        "mgrs:grid_square": tile.grid_square,
        "proj:code": f"EPSG:{tile.epsg}",
        **properties,
    }
    links = [derived_from_link(source_collection, source_id) for source_collection, source_id in derived_from]
    return untiled_item(
        item_id=item_id, collection=collection, footprint=geometry, properties=props, assets=assets, links=links
    )


def derived_from_link(collection: str, item_id: str) -> dict[str, Any]:
    """A lineage link to an input item, relative to the STAC API's root: stac-fastapi-pgstac resolves an item's
    stored links against the root (hygor migration 0010)."""
    return {
        "rel": "derived_from",
        "href": f"collections/{collection}/items/{item_id}",
        "type": "application/geo+json",
        "title": f"input {item_id}",
    }


def adopt(item: dict[str, Any], collection: str | None) -> dict[str, Any]:
    """An item (possibly of another catalogue) as an item of ours: STAC 1.1 (pystac migrates older versions and
    their extensions), in ``collection``, without the links its home API made (ours makes its own)."""
    if item.get("stac_version") != STAC_VERSION:
        try:
            migrated = pystac.Item.from_dict(item, migrate=True, preserve_dict=True)
            item = migrated.to_dict(include_self_link=False, transform_hrefs=False)
        except Exception:  # noqa: BLE001 - an item pystac cannot read is left for validation to reject
            pass
    links = [link for link in item.get("links", []) if link.get("rel") not in API_LINKS]
    return {**item, "collection": collection or item.get("collection"), "links": links}


def declared_extensions(item: Mapping[str, Any]) -> list[str]:
    """The schema URIs of the extensions whose fields the item uses (in properties or assets)."""
    keys: set[str] = set(item.get("properties", {}))
    for asset in item.get("assets", {}).values():
        keys |= set(asset)
        for band in asset.get("bands", []):
            keys |= set(band)
    keys |= {key for band in item.get("properties", {}).get("bands", []) for key in band}
    prefixes = {key.split(":", 1)[0] for key in keys if ":" in key}
    return [uri for prefix, uri in EXTENSIONS.items() if prefix in prefixes]


def _clip_to_tile(footprint: BaseGeometry, tile: Tile) -> BaseGeometry:
    clipped = shapely.make_valid(footprint).intersection(tile.footprint())
    polygons = [g for g in getattr(clipped, "geoms", [clipped]) if g.geom_type == "Polygon" and not g.is_empty]
    if not polygons:
        return tile.footprint()
    return polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)


def lonlat_box(west: float, south: float, east: float, north: float) -> BaseGeometry:
    """A longitude/latitude box as a WGS84 footprint: latitudes clamped to the poles, longitudes (-180..180 or
    0..360, as gridded fields come) brought into -180..180 and split at the antimeridian, never wrapping."""
    south, north = max(south, -90.0), min(north, 90.0)
    if east - west >= 360:
        return shapely.box(-180, south, 180, north)
    shift = 360 * math.floor((west + 180) / 360)  # so that -180 <= west < 180
    west, east = west - shift, east - shift
    if east <= 180:
        return shapely.box(west, south, east, north)
    return shapely.MultiPolygon([shapely.box(west, south, 180, north), shapely.box(-180, south, east - 360, north)])


def untiled_item(
    *, item_id: str, collection: str, footprint: BaseGeometry, properties: Mapping[str, Any],
    assets: Mapping[str, dict[str, Any]], links: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:  # fmt: skip
    """An item with its WGS84 footprint as it is: off the Sentinel-2 grid (a global field, a 1-degree DEM tile),
    or on it once ``tiled_item`` has placed it."""
    geometry = mapping(footprint)
    item = {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": item_id,
        "collection": collection,
        "geometry": geometry,
        "bbox": list(antimeridian.bbox(geometry)),
        "properties": dict(properties),
        "links": list(links),
        "assets": dict(assets),
    }
    item["stac_extensions"] = declared_extensions(item)
    return item
