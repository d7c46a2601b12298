"""Rasters of the reference chains: Cloud Optimized GeoTIFFs on a tile's grid, written with rio-cogeo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from numpy.typing import NDArray
from rasterio.enums import Resampling
from rasterio.io import MemoryFile
from rasterio.transform import from_bounds
from rasterio.warp import reproject
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles

from hygor.grid import Tile

DEFLATE = cog_profiles["deflate"]


def write_cog(
    path: Path,
    data: NDArray[Any],
    tile: Tile,
    *,
    nodata: float | None = None,
    tags: dict[str, str] | None = None,
) -> Path:
    """A deflate COG of ``data`` (rows x columns, or bands x rows x columns) covering ``tile``'s UTM box."""
    bands = data if data.ndim == 3 else data[np.newaxis]
    count, height, width = bands.shape
    profile = {
        "driver": "GTiff",
        "count": count,
        "height": height,
        "width": width,
        "dtype": bands.dtype.name,
        "crs": f"EPSG:{tile.epsg}",
        "transform": from_bounds(*tile.bounds, width, height),
        "nodata": nodata,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with MemoryFile() as memory:
        with memory.open(**profile) as dataset:
            dataset.write(bands)
            dataset.update_tags(**(tags or {}))
        with memory.open() as source:
            cog_translate(source, path, DEFLATE, in_memory=True, quiet=True)
    return path


def write_picture(path: Path, rgb: NDArray[np.uint8], driver: str = "JPEG") -> Path:
    """A quicklook (3 x rows x columns bytes) in a format that GDAL writes only by copy (JPEG, PNG)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _, height, width = rgb.shape
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), MemoryFile() as memory:
        georeferenced = {"crs": "EPSG:4326", "transform": from_bounds(0, 0, 1, 1, width, height)}  # or GDAL warns
        with memory.open(driver="GTiff", count=3, height=height, width=width, dtype="uint8", **georeferenced) as out:
            out.write(rgb)
        rasterio.shutil.copy(memory.name, path, driver=driver)
    return path


def read_band(path: Path) -> tuple[NDArray[Any], dict[str, Any]]:
    """Band 1 of a raster and its profile."""
    with rasterio.open(path) as dataset:
        return dataset.read(1), dict(dataset.profile)


def read_on_tile(
    path: Path, tile: Tile, shape: tuple[int, int], resampling: Resampling | None = None
) -> NDArray[np.float32]:
    """Band 1 of any raster warped onto ``tile``'s UTM box at ``shape`` (rows, columns), no data as NaN.

    By default pixels are averaged onto a coarser grid and interpolated (bilinear) onto a finer one.
    """
    target = np.full(shape, np.nan, dtype=np.float32)
    transform = from_bounds(*tile.bounds, shape[1], shape[0])
    with rasterio.open(path) as dataset:
        if resampling is None:
            coarser = abs(transform.a) > abs(dataset.transform.a)
            resampling = Resampling.average if coarser else Resampling.bilinear
        reproject(
            rasterio.band(dataset, 1),
            target,
            src_nodata=dataset.nodata,
            dst_transform=transform,
            dst_crs=f"EPSG:{tile.epsg}",
            dst_nodata=np.nan,
            resampling=resampling,
        )
    return target


def palette(colours: dict[int, str], default: str = "000000") -> NDArray[np.uint8]:
    """A 256 x 3 colour table from hexadecimal colours by value (``{1: "0000ff"}``)."""
    table = np.tile(np.frombuffer(bytes.fromhex(default), dtype=np.uint8), (256, 1))
    for value, colour in colours.items():
        table[value] = np.frombuffer(bytes.fromhex(colour), dtype=np.uint8)
    return table


def coloured(data: NDArray[np.uint8], table: NDArray[np.uint8], max_side: int = 1000) -> NDArray[np.uint8]:
    """A quicklook (3 x rows x columns) of a byte raster through a 256 x 3 colour table, decimated to
    at most ``max_side`` pixels a side."""
    step = max(1, -(-max(data.shape) // max_side))
    rgb: NDArray[np.uint8] = np.moveaxis(table[data[::step, ::step]], -1, 0)
    return np.ascontiguousarray(rgb)
