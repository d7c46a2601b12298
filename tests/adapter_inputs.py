"""What the chain adapter tests start from: Sentinel-1 GRD slices (tiny ``.SAFE`` folders: a ``manifest.safe`` in
the real layout, written by ``s1_safe``, giving pass, relative orbit and footprint as S1Tiling reads them, and the
measurements it lists) with their items, the DEM of a tile in MAJA's Earth Explorer layout with its item, and a
copy of the collections with one chain.yaml edited.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.transform import from_bounds
from s1_safe import Slice, write_safe
from shapely.geometry import Polygon, mapping

from hygor import grid
from hygor.items import VALID, declared_extensions, stac_datetime
from hygor.readers import reader
from hygor.readers.outputs import asset
from hygor.settings import default_collections_dir
from reference_chains.synthetic_aux import write_dem
from reference_chains.synthetic_scene import landscape

SLICE_SECONDS = 25
ORBIT_OFFSET_S1A = 73  # relative orbit = (absolute - 73) % 175 + 1 for Sentinel-1A


def write_grd(
    root: Path, start: datetime, *, relative_orbit: int, direction: str, footprint: Polygon
) -> dict[str, Any]:
    """A Sentinel-1A IW GRDH dual-polarisation slice starting at ``start`` (``direction``: ASCENDING or
    DESCENDING; ``footprint`` in lon/lat) under ``root``, and its sentinel-1-grd item."""
    absolute = ORBIT_OFFSET_S1A + relative_orbit - 1 + 175 * 266
    corners = [(lat, lon) for lon, lat in footprint.exterior.coords[:-1]]
    product = Slice(start=start, seconds=SLICE_SECONDS, absolute_orbit=absolute, relative_orbit=relative_orbit,
                    direction=direction, datatake=0x05A1B2, footprint=corners)  # fmt: skip
    safe = write_safe(root, product)
    [listed] = reader("esa-safe-s1-grd").read(safe)  # where the manifest says the measurements are
    name, stop = product.name, product.stop
    assets = {"safe-manifest": asset("sentinel-1-grd", "safe-manifest", safe / "manifest.safe")}
    for polarisation in ("vv", "vh"):
        measurement = Path(listed["assets"][polarisation]["href"])
        measurement.parent.mkdir(exist_ok=True)
        _write_amplitude(measurement, footprint)
        assets[polarisation] = asset("sentinel-1-grd", polarisation, measurement)
    item = {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": [],
        "id": name,
        "collection": "sentinel-1-grd",
        "geometry": mapping(footprint),
        "bbox": list(footprint.bounds),
        "properties": {
            "datetime": stac_datetime(start),
            "start_datetime": stac_datetime(start),
            "end_datetime": stac_datetime(stop),
            "platform": "sentinel-1a",
            "constellation": "sentinel-1",
            "sar:instrument_mode": "IW",
            "sar:product_type": "GRD",
            "sar:polarizations": ["VV", "VH"],
            "sat:orbit_state": direction.lower(),
            "sat:relative_orbit": relative_orbit,
            "sat:absolute_orbit": absolute,
            VALID: True,
        },
        "links": [],
        "assets": assets,
    }
    item["stac_extensions"] = declared_extensions(item)
    return item


def _write_amplitude(path: Path, footprint: Polygon, size: int = 8) -> None:
    """A tiny GRD measurement: uint16 amplitude in radar geometry, placed by ground control points at the corners
    of the footprint (no map projection)."""
    pixels = [(0, 0), (0, size), (size, size), (size, 0)]
    corners = zip(pixels, footprint.exterior.coords[:4], strict=True)
    gcps = [GroundControlPoint(row, col, lon, lat) for (row, col), (lon, lat) in corners]
    profile = {"driver": "GTiff", "height": size, "width": size, "count": 1, "dtype": "uint16", "nodata": 0}
    with rasterio.open(path, "w", **profile, gcps=gcps, crs="EPSG:4326") as out:
        out.write(np.full((size, size), 120, dtype=np.uint16), 1)


def write_tile_dem(root: Path, tile_id: str, pixel_size: float = 600.0) -> dict[str, Any]:
    """The DEM of ``tile_id`` as the synthetic inputs have it (``<root>/T<tile>/``: .HDR and .DBL.DIR), its item."""
    tile = grid.tile(tile_id)
    item_file = write_dem(root, landscape(tile, round((tile.xmax - tile.xmin) / pixel_size), seed=0))
    item: dict[str, Any] = json.loads(item_file.read_text())
    return item


def write_dem_tiles(root: Path, *, west: int, south: int, east: int, north: int, size: int = 60) -> Path:
    """DEM tiles as S1Tiling's dem_dir holds them: one GeoTIFF per 1-degree cell (lon/lat, EPSG:4326) named after
    its south-west corner as SRTM's are (``N43E001.tif``), altitudes rising to the south (towards the Pyrenees);
    returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for lon in range(west, east):
        for lat in range(south, north):
            name = f"{'N' if lat >= 0 else 'S'}{abs(lat):02d}{'E' if lon >= 0 else 'W'}{abs(lon):03d}.tif"
            latitudes = lat + 1 - (np.arange(size) + 0.5) / size
            altitude = np.repeat((200 + 2000 * np.clip(44 - latitudes, 0, 1))[:, np.newaxis], size, axis=1)
            transform = from_bounds(lon, lat, lon + 1, lat + 1, size, size)
            profile = {"driver": "GTiff", "height": size, "width": size, "count": 1, "dtype": "int16",
                       "crs": "EPSG:4326", "transform": transform}  # fmt: skip
            with rasterio.open(root / name, "w", **profile) as out:
                out.write(altitude.astype(np.int16), 1)
    return root


S1TILING_SHIPPED = (
    '    dem_dir: /data/dem/srtm-1arcsec\n    dem_format: "{id}.hgt"\n    polarisation: VV-VH\n'
    '    calibration: sigma\n    output_spatial_resolution: "10."\n'
)


def s1tiling_collections(tmp_path: Path, dem_dir: Path) -> Path:
    """The collections, S1Tiling reading the 1-degree DEM tiles of ``dem_dir`` and writing 600 m pixels (fast)."""
    settings = S1TILING_SHIPPED.replace("/data/dem/srtm-1arcsec", str(dem_dir)).replace("{id}.hgt", "{id}.tif")
    return collections_with(tmp_path, "s1tiling-backscatter", S1TILING_SHIPPED, settings.replace('"10."', '"600."'))


def collections_with(tmp_path: Path, collection: str, old: str, new: str) -> Path:
    """A copy of the collections folder in which ``collection``'s chain.yaml says ``new`` instead of ``old``."""
    collections = tmp_path / "collections"
    shutil.copytree(default_collections_dir(), collections)
    chain_file = collections / collection / "chain.yaml"
    text = chain_file.read_text()
    assert old in text, f"{chain_file} has no {old!r}"
    chain_file.write_text(text.replace(old, new))
    return collections
