"""What a portal needs of a product before it is stored: checksums of its files and a thumbnail.

Every asset of an output item gets ``file:size`` and ``file:checksum`` (SHA2-256 as a multihash in hex, the
form ``hymotep.staging`` checks when a product is fetched again), so that a copy can be checked anywhere.

Every output item with a raster gets a ``thumbnail`` asset, a PNG of at most ``THUMBNAIL_SIDE`` pixels on its
long side written beside the product's files (so it is stored and published with them), unless the chain
wrote one under that key. It is read from the overview level of the product's COG nearest above that size, not
from the full raster: red, green and blue when the item's assets name them (``eo:common_name`` of their one
band, the first keys in order: FRE before SRE for MAJA), else the first data COG its collection declares (the
order of its item_assets: LIS's FSC-TOC, Surfwater's WATER, S1Tiling's VV); one linear stretch between
the 2nd and 98th percentiles of the valid pixels (between their extremes when those are equal, as for a mask
of a few classes), no data transparent. A chain's own quicklooks (MUSCATE's
``QKL_ALL``, LIS's and Surfwater's ``quicklook``) stay as they are, larger views of the product.

A product that is legitimately empty (``hesp:valid`` false: no raster) gets no thumbnail rather than a
placeholder: a portal shows it has no picture, it does not pretend it has one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from numpy.typing import NDArray
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.io import MemoryFile
from rasterio.transform import Affine

from hygor.caching import shared_cache
from hygor.items import EXTENSIONS, VALID, MediaType, file_asset
from hygor.readers.outputs import item_assets
from hymotep.errors import HymotepError
from hymotep.staging import sha256_multihash

THUMBNAIL = "thumbnail"
THUMBNAIL_SIDE = 256
STRETCH_PERCENTILES = (2, 98)
RGB = ("red", "green", "blue")
FILE_EXTENSION = EXTENSIONS["file"]


class PublicationError(HymotepError):
    """An output cannot be described for publication (a file gone, a raster that does not read)."""


def annotate_outputs(output_dir: Path, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``items`` with a thumbnail (written in ``output_dir``) and the size and checksum of every asset's file."""
    return [_annotated(output_dir, item) for item in items]


def _annotated(output_dir: Path, item: dict[str, Any]) -> dict[str, Any]:
    assets = dict(item.get("assets", {}))
    if THUMBNAIL not in assets and item.get("properties", {}).get(VALID, True) is not False:
        sources = pictured(assets, _declared(str(item.get("collection"))))
        if sources:
            folder = _product_folder(output_dir, assets)
            path = folder / f"{item['id']}_{THUMBNAIL}.png"
            if path.parent != folder:
                raise PublicationError(f"output {item['id']}: its id cannot name a thumbnail file")
            write_thumbnail([Path(_local_path(assets[key])) for key in sources], path)
            title = f"Thumbnail ({', '.join(sources)})"
            assets[THUMBNAIL] = file_asset(path.absolute(), media_type=MediaType.PNG, roles=[THUMBNAIL], title=title)
    for key, asset in assets.items():
        if _is_local(asset):
            assets[key] = {**asset, **_file_fields(item["id"], key, asset)}
    extensions = list(item.get("stac_extensions", []))
    if FILE_EXTENSION not in extensions:
        extensions.append(FILE_EXTENSION)
    return {**item, "stac_extensions": extensions, "assets": assets}


def pictured(assets: dict[str, Any], declared: Sequence[str] = ()) -> list[str]:
    """The keys of the assets a thumbnail shows: red, green and blue when the assets tell them, else the first
    data COG in the order of ``declared`` (the collection's item_assets), then of the item; none when the item
    has no raster."""
    rank = {key: index for index, key in enumerate(declared)}
    rasters = sorted(
        (k for k, a in assets.items() if "data" in a.get("roles", []) and _is_tiff(a) and _is_local(a)),
        key=lambda key: rank.get(key, len(rank)),
    )
    colours: dict[str, str] = {}
    for key in sorted(rasters):
        bands = assets[key].get("bands") or assets[key].get("eo:bands") or []
        if len(bands) == 1:
            colour = bands[0].get("eo:common_name") or bands[0].get("common_name")
            if colour in RGB:
                colours.setdefault(colour, key)
    if len(colours) == len(RGB):
        return [colours[colour] for colour in RGB]
    return rasters[:1]


def write_thumbnail(rasters: list[Path], path: Path, side: int = THUMBNAIL_SIDE) -> Path:
    """A PNG of ``rasters`` (one: grey, three: red, green, blue) at most ``side`` pixels on its long side, with
    an alpha band (no data transparent)."""
    try:
        first, transform, crs = _read_small(rasters[0], side, None)
        bands = [first] + [_read_small(raster, side, first.shape)[0] for raster in rasters[1:]]
    except RasterioError as exc:
        raise PublicationError(f"{path.name}: cannot read the product's raster: {str(exc).splitlines()[0]}") from None
    _write_png(path, stretched(bands), transform, crs)
    return path


def stretched(bands: list[np.ma.MaskedArray[Any, Any]]) -> NDArray[np.uint8]:
    """``bands`` as bytes, one linear stretch between the 2nd and 98th percentiles of their valid pixels (their
    extremes when those are equal; mid-grey for a uniform raster), and an alpha band: opaque where every band has
    data."""
    valid = ~np.logical_or.reduce([np.ma.getmaskarray(band) for band in bands])
    values = np.concatenate([np.asarray(band.data, dtype=np.float64)[valid] for band in bands])
    low, high = np.percentile(values, STRETCH_PERCENTILES) if values.size else (0.0, 0.0)
    if high <= low and values.size:  # a few classes, one of them on 96 % of the pixels: the classes all show
        low, high = values.min(), values.max()
    scaled = []
    for band in bands:
        data = np.asarray(band.data, dtype=np.float64)
        level = (data - low) * (255 / (high - low)) if high > low else np.full(data.shape, 128.0)
        scaled.append(np.where(valid, np.clip(np.nan_to_num(level), 0, 255), 0))
    return np.stack([*scaled, valid * 255.0]).round().astype(np.uint8)


def overview_level(width: int, height: int, factors: list[int], side: int) -> int | None:
    """The index of the smallest overview (decimation ``factors``) still at least ``side`` pixels on its long
    side; None: the full resolution (no overview, or all smaller)."""
    fitting = [index for index, factor in enumerate(factors) if max(width, height) / factor >= side]
    return fitting[-1] if fitting else None


def _read_small(
    raster: Path, side: int, shape: tuple[int, ...] | None
) -> tuple[np.ma.MaskedArray[Any, Any], Affine, Any]:
    """Band 1 of ``raster`` read from an overview, at most ``side`` pixels a side (or at ``shape``), masked
    where it has no data or is not finite; with the georeferencing of what was read."""
    with rasterio.open(raster) as dataset:
        level = overview_level(dataset.width, dataset.height, dataset.overviews(1), side)
    with rasterio.open(raster, **({} if level is None else {"overview_level": level})) as dataset:
        scale = min(1.0, side / max(dataset.width, dataset.height))
        height, width = shape or (max(1, round(dataset.height * scale)), max(1, round(dataset.width * scale)))
        data = dataset.read(1, out_shape=(height, width), masked=True, resampling=Resampling.average)
        transform = dataset.transform @ Affine.scale(dataset.width / width, dataset.height / height)
        return np.ma.masked_invalid(data), transform, dataset.crs


def _write_png(path: Path, bands: NDArray[np.uint8], transform: Affine, crs: Any) -> None:
    """PNG is written by copy in GDAL: the bands go to memory first. No .aux.xml beside it."""
    count, height, width = bands.shape
    profile = {"driver": "GTiff", "count": count, "height": height, "width": width, "dtype": "uint8"}
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), MemoryFile() as memory:
        with memory.open(**profile, crs=crs, transform=transform) as out:
            out.write(bands)
        rasterio.shutil.copy(memory.name, path, driver="PNG", ZLEVEL=9)


@shared_cache
def _declared(collection: str) -> tuple[str, ...]:
    """The asset keys ``collection`` declares (its item_assets), in order; none for a collection not installed
    (known once per process, as what a collection declares)."""
    try:
        return tuple(item_assets(collection))
    except (OSError, ValueError):
        return ()


def _file_fields(item_id: str, key: str, asset: dict[str, Any]) -> dict[str, Any]:
    path = Path(_local_path(asset))
    try:
        return {"file:size": path.stat().st_size, "file:checksum": sha256_multihash(path)}
    except OSError as exc:
        raise PublicationError(f"output {item_id}: asset {key} cannot be read ({exc.strerror}): {path}") from None


def _product_folder(output_dir: Path, assets: dict[str, Any]) -> Path:
    """The folder holding the item's files (their common folder), where its thumbnail goes."""
    folders = [os.path.dirname(_local_path(asset)) for asset in assets.values() if _is_local(asset)]
    common = Path(os.path.commonpath(folders)) if folders else output_dir
    return common if common.is_relative_to(output_dir.absolute()) else output_dir.absolute()


def _local_path(asset: dict[str, Any]) -> str:
    return str(asset["href"]).removeprefix("file://")


def _is_local(asset: dict[str, Any]) -> bool:
    href = str(asset.get("href", ""))
    return href.startswith("file://") or "://" not in href


def _is_tiff(asset: dict[str, Any]) -> bool:
    return str(asset.get("type", "")).startswith("image/tiff")
