"""What the readers of the chains' outputs (MUSCATE, LIS, Surfwater, S1Tiling) share: metadata parsing that
fails with a ``ReaderError`` naming the file, assets described as their collection declares them, and the
georeferencing and valid-data footprint of a raster.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from numpy.typing import NDArray
from rasterio import features
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.transform import Affine
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from hygor.grid import Tile
from hygor.items import MediaType, file_asset
from hygor.readers.base import ReaderError
from hygor.settings import Settings

# A THEIA/MUSCATE product id: SENTINEL2A_20230615-105856-463_L2A_T31TCJ_C_V3-1 (X: several satellites).
MUSCATE_ID = re.compile(
    r"^(?P<platform>SENTINEL2[A-DX])_(?P<stamp>\d{8}-\d{6}-\d{3})_(?P<level>[A-Z0-9-]+)"
    r"_T(?P<tile>\d{2}[A-Z]{3})_(?P<kind>[A-Z])_V(?P<version>\d+-\d+)$"
)
PLATFORM = re.compile(r"^(?:SENTINEL|S)-?([12])([A-D])$", re.IGNORECASE)
# Asset fields copied from the collection's item_assets; descriptions and class lists stay in the collection.
ASSET_FIELDS = ("gsd", "bands", "sar:polarizations")
MEDIA_TYPES = {".tif": MediaType.GEOTIFF, ".xml": MediaType.XML, ".jpg": MediaType.JPEG, ".png": MediaType.PNG}
# Valid data is polygonised on a grid of at most this many pixels a side (decimated read).
FOOTPRINT_PIXELS = 256

Valid = Callable[[NDArray[Any]], NDArray[np.bool_]]


def xml_text(root: ET.Element, xpath: str) -> str | None:
    """The stripped text of the first element at ``xpath``, None when absent or empty."""
    found = root.find(xpath)
    text = (found.text or "").strip() if found is not None else ""
    return text or None


def required_text(root: ET.Element, xpath: str, path: Path) -> str:
    text = xml_text(root, xpath)
    if text is None:
        raise ReaderError(f"{path}: mandatory element {xpath.removeprefix('./')} is missing or empty")
    return text


def quality_index(root: ET.Element, name: str) -> str | None:
    """A ``<QUALITY_INDEX name="...">`` value, as MUSCATE and LIS metadata write them."""
    return xml_text(root, f".//QUALITY_INDEX[@name='{name}']")


def parse_datetime(value: str, path: Path, what: str) -> datetime:
    """An ISO 8601 date-time (``Z``, offsets and any number of decimals); UTC when no zone is given."""
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ReaderError(f"{path}: {what} {value!r} is not an ISO 8601 date and time") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_number(value: str | float, path: Path, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ReaderError(f"{path}: {what} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ReaderError(f"{path}: {what} {value!r} is not a number")
    return number


def parse_percentage(value: str | float, path: Path, what: str) -> float:
    number = parse_number(value, path, what)
    if not 0 <= number <= 100:
        raise ReaderError(f"{path}: {what} {number} is not a percentage")
    return number


def sentinel_platform(code: str) -> str | None:
    """``SENTINEL2A``, ``S2A`` or ``s1a`` as a STAC platform (``sentinel-2a``); None for ``SENTINEL2X``."""
    match = PLATFORM.match(code)
    return f"sentinel-{match.group(1)}{match.group(2).lower()}" if match else None


@cache
def item_assets(collection: str) -> dict[str, Any]:
    """The item_assets ``collection`` declares, in its order."""
    document = json.loads((Settings().collections_dir / collection / "collection.json").read_text())
    assets: dict[str, Any] = document.get("item_assets", {})
    return assets


def asset(
    collection: str, key: str, path: Path, *, roles: tuple[str, ...] = ("data",), title: str = "", **fields: Any
) -> dict[str, Any]:
    """An asset described as ``collection``'s item_assets declare ``key``; for a file that the collection does
    not declare, described by ``roles`` and ``title`` (the key by default) with a media type from its suffix.
    """
    template = item_assets(collection).get(key)
    if template is None:
        media_type = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return file_asset(path.absolute(), media_type=media_type, roles=roles, title=title or key, **fields)
    declared = {name: template[name] for name in ASSET_FIELDS if name in template}
    return file_asset(
        path.absolute(),
        media_type=template["type"],
        roles=template["roles"],
        title=template["title"],
        **declared,
        **fields,
    )


@dataclass(frozen=True)
class Raster:
    """A raster's georeferencing, tags and (when asked for) the WGS84 footprint of its valid pixels."""

    shape: tuple[int, int]
    transform: tuple[float, ...]
    tags: dict[str, str]
    footprint: BaseGeometry | None = None

    def proj_fields(self) -> dict[str, Any]:
        return {"proj:shape": list(self.shape), "proj:transform": list(self.transform)}


def read_raster(path: Path, tile: Tile, valid: Valid | None = None) -> Raster:
    """Header of the raster at ``path``, which must be in ``tile``'s CRS; with ``valid``, the footprint of the
    pixels it accepts, from a decimated read of band 1 (None when no pixel is valid).
    """
    try:
        with rasterio.open(path) as dataset:
            epsg = dataset.crs.to_epsg() if dataset.crs else None
            if epsg != tile.epsg:
                raise ReaderError(f"{path}: CRS EPSG:{epsg} is not EPSG:{tile.epsg} of tile {tile.id}")
            raster = Raster((dataset.height, dataset.width), tuple(dataset.transform)[:6], dict(dataset.tags()))
            if valid is None:
                return raster
            factor = max(1, math.ceil(max(dataset.width, dataset.height) / FOOTPRINT_PIXELS))
            height, width = math.ceil(dataset.height / factor), math.ceil(dataset.width / factor)
            data = dataset.read(1, out_shape=(height, width), resampling=Resampling.nearest)
            scaled = dataset.transform @ Affine.scale(dataset.width / width, dataset.height / height)
    except RasterioError as exc:
        raise ReaderError(f"{path}: cannot be read as a raster ({str(exc).splitlines()[0]})") from None
    mask = np.asarray(valid(data), dtype=bool)
    parts = [shape(geometry) for geometry, _ in features.shapes(mask.astype(np.uint8), mask=mask, transform=scaled)]
    if not parts:
        return raster
    outline = shapely.union_all(parts).simplify(abs(scaled.a))
    return Raster(raster.shape, raster.transform, raster.tags, tile.to_wgs84(outline))
