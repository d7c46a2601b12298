"""Sentinel-2 tiles as public-cloud buckets lay them out (AWS ``sentinel-s2-l1c`` and ``sentinel-s2-l2a``).

A folder per tile acquisition (``tiles/34/V/EL/2024/1/8/0/``) holds ``tileInfo.json`` (product name, time, data
footprint in UTM), ``metadata.xml`` (the SAFE's tile metadata, ``MTD_TL.xml``) and the band files: ``B01.jp2``...
at the top for L1C, ``R10m/B02.jp2``... per resolution for L2A. The level, the baseline and the generation time
come from the tile metadata; the cloud cover too, as in the SAFE (``tileInfo.json`` computes its own).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from shapely.errors import ShapelyError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from hygor.grid import Tile, utm_to_wgs84
from hygor.readers.base import Reader, ReaderError, product_tile, read_json_object, register
from hygor.readers.esa_safe import (
    IMAGE_KEYS,
    Radiometry,
    absolute_orbit,
    image_asset,
    metadata_asset,
    native_gsd,
    platform_of,
    read_granule,
    sentinel2_item,
)

TILE_INFO = "tileInfo.json"
TILE_METADATA = "metadata.xml"
RELATIVE_ORBIT = re.compile(r"_R(\d{3})_")
# A tile (granule) identifier: ``..._<generation time>_A<absolute orbit>_T<tile>_N<baseline>``.
TILE_ID = re.compile(r"_(\d{8}T\d{6})_A\d{6}_T\d{2}[A-Z]{3}_N(\d{2}\.\d{2})$")


@register
class EsaTileInfo(Reader):
    """A tile folder with ``tileInfo.json`` and ``metadata.xml`` (or its ``tileInfo.json``); L1C or L2A."""

    name: ClassVar[str] = "esa-tileinfo"
    collection: ClassVar[str | None] = None

    def detect(self, path: Path) -> bool:
        folder = path if path.is_dir() else path.parent if path.name == TILE_INFO else None
        return folder is not None and (folder / TILE_INFO).is_file() and (folder / TILE_METADATA).is_file()

    def read(self, path: Path) -> list[dict[str, Any]]:
        folder = (path if path.is_dir() else path.parent).resolve()
        where = folder / TILE_INFO
        info = read_json_object(where)
        granule = read_granule(folder / TILE_METADATA)
        product_name = str(_field(info, where, "productName"))
        level = granule.level or next((level for level in IMAGE_KEYS if f"MSI{level}" in product_name), None)
        if level is None:
            raise ReaderError(f"{granule.path}: neither it nor productName {product_name!r} tells L1C from L2A")
        tile_id = granule.tile_id or ""
        found = TILE_ID.search(tile_id)
        if found is None:
            raise ReaderError(f"{granule.path}: missing element TILE_ID (or not a tile identifier)")
        generated, baseline = datetime.strptime(found[1], "%Y%m%dT%H%M%S"), found[2]
        # On the L2A bucket, productName may name the L1C the tile was made from: then the tile's own identifier.
        item_id = product_name if f"MSI{level}" in product_name else tile_id.rsplit("_N", 1)[0]
        zone, band, square = (_field(info, where, key) for key in ("utmZone", "latitudeBand", "gridSquare"))
        tile = product_tile(f"{zone:0>2}{band}{square}", where)
        properties: dict[str, Any] = {**absolute_orbit([tile_id]), **granule.angles}
        cloud_cover = granule.cloud_cover if granule.cloud_cover is not None else info.get("cloudyPixelPercentage")
        if isinstance(cloud_cover, int | float):
            properties["eo:cloud_cover"] = float(cloud_cover)
        if granule.snow_cover is not None:
            properties["eo:snow_cover"] = granule.snow_cover
        if orbit := RELATIVE_ORBIT.search(product_name):
            properties["sat:relative_orbit"] = int(orbit[1])
        radiometry = Radiometry.of_baseline(baseline)
        assets = {
            key: image_asset(key, folder / _band_file(level, key), radiometry, granule.grids)
            for key in IMAGE_KEYS[level]
        }
        assets["granule-metadata"] = metadata_asset(granule.path, "metadata.xml – tile metadata")
        item = sentinel2_item(
            item_id=item_id,
            level=level,
            tile=tile,
            acquired=_time(info, where),
            platform=platform_of(where, product_name),
            baseline=baseline,
            generated=generated,
            properties=properties,
            assets=assets,
            footprint=_footprint(info, where, tile),
        )
        return [item]


def _field(info: Mapping[str, Any], where: Path, key: str) -> Any:
    if info.get(key) in (None, ""):
        raise ReaderError(f"{where}: missing field {key}")
    return info[key]


def _time(info: Mapping[str, Any], where: Path) -> datetime:
    text = str(_field(info, where, "timestamp"))
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ReaderError(f"{where}: timestamp {text!r} is not a date and time") from None


def _band_file(level: str, key: str) -> str:
    return f"R{native_gsd(key)}m/{key}.jp2" if level == "L2A" else f"{key}.jp2"


def _footprint(info: Mapping[str, Any], where: Path, tile: Tile) -> BaseGeometry | None:
    """``tileDataGeometry`` (UTM, CRS named like ``urn:ogc:def:crs:EPSG:8.8.1:32634``) in WGS84; None if absent."""
    geometry = info.get("tileDataGeometry")
    if geometry is None:
        return None
    try:
        crs = str(geometry.get("crs", {}).get("properties", {}).get("name", tile.epsg))
        epsg = int(crs.rpartition(":")[2])
        return utm_to_wgs84(shape({key: value for key, value in geometry.items() if key != "crs"}), epsg)
    except (AttributeError, KeyError, TypeError, ValueError, ShapelyError) as exc:
        raise ReaderError(f"{where}: tileDataGeometry is not a GeoJSON geometry in UTM: {exc}") from exc
