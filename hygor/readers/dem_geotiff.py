"""Source DEM tiles of one degree, one file each, as their providers name them:

- SRTM (NASA/USGS): ``N43E001.hgt`` (SRTMGL1/SRTMGL3 inside their zips, ``N43E001.SRTMGL1.hgt`` when kept), or
  converted to ``N43E001.tif``; the cell is named by its south-west corner;
- Copernicus DEM: ``Copernicus_DSM_COG_10_N43_00_E001_00_DEM.tif`` (GLO-30; ``_30_`` for GLO-90; without ``COG_``
  in the DGED distribution).

One item per file, in ``dem-tiles``, with the footprint of the raster's bounds (header only) and no
``grid:code``: a 1-degree cell meets several Sentinel-2 tiles. Production finds the static DEM input of a tile
first among the items of the tile (MAJA's REFDE2), else among these by footprint (see ``static_inputs`` in
hymotep/sql/run.sql): a tile is served when source tiles meet it, so that coastal tiles, whose sea has no DEM
tile, are served too.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import rasterio
from rasterio.errors import RasterioError
from rasterio.warp import transform_bounds

from hygor.items import VALID, MediaType, file_asset, lonlat_box, stac_datetime, untiled_item
from hygor.readers.base import Reader, ReaderError, register

COLLECTION = "dem-tiles"
SRTM = re.compile(r"^(?P<lat>[NS]\d{2})(?P<lon>[EW]\d{3})(?:\.SRTMGL[13])?\.(?P<suffix>hgt|tif|tiff)$", re.I)
COPERNICUS = re.compile(
    r"^Copernicus_DSM_(?P<cog>COG_)?(?:10|30)_(?P<lat>[NS]\d{2})_00_(?P<lon>[EW]\d{3})_00_DEM\.tif$"
)
# The time of the source elevation data: the SRTM flight, the TanDEM-X acquisitions of the Copernicus DEM.
PERIODS = {
    "srtm": (datetime(2000, 2, 11, tzinfo=UTC), datetime(2000, 2, 22, tzinfo=UTC)),
    "copernicus": (datetime(2010, 12, 1, tzinfo=UTC), datetime(2015, 1, 31, tzinfo=UTC)),
}
SRTM_MEDIA_TYPE = "application/octet-stream"  # raw big-endian int16 samples, no registered media type


@register
class DemGeoTiff(Reader):
    name: ClassVar[str] = "dem-geotiff"
    collection: ClassVar[str | None] = COLLECTION

    def detect(self, path: Path) -> bool:
        return path.is_file() and _name(path) is not None

    def read(self, path: Path) -> list[dict[str, Any]]:
        named = _name(path)
        if named is None:
            raise ReaderError(
                f"{path}: not a named DEM tile (N43E001.hgt, Copernicus_DSM_COG_10_N43_00_E001_00_DEM.tif)"
            )
        source, match = named
        try:
            with rasterio.open(path) as dataset:
                if dataset.crs is None:
                    raise ReaderError(f"{path}: the raster has no CRS")
                bounds = transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds)
                epsg = dataset.crs.to_epsg()
                band = {"data_type": dataset.dtypes[0], "unit": "m"}
                if dataset.nodata is not None:
                    band["nodata"] = dataset.nodata
                proj = {"proj:shape": [dataset.height, dataset.width], "proj:transform": list(dataset.transform)[:6]}
        except RasterioError as exc:
            raise ReaderError(f"{path}: cannot be read as a raster ({str(exc).splitlines()[0]})") from None
        west, south = _corner(match["lon"]), _corner(match["lat"])
        centre = ((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
        if not (west <= centre[0] < west + 1 and south <= centre[1] < south + 1):
            raise ReaderError(
                f"{path}: the raster's bounds {bounds} are not those of its cell {match['lat']}{match['lon']}"
            )
        if path.suffix.lower() == ".hgt":
            media_type = SRTM_MEDIA_TYPE
        else:
            media_type = MediaType.COG if source == "copernicus" and match["cog"] else MediaType.GEOTIFF
        start, end = PERIODS[source]
        properties = {
            "datetime": stac_datetime(start),
            "start_datetime": stac_datetime(start),
            "end_datetime": stac_datetime(end),
            **({"proj:code": f"EPSG:{epsg}"} if epsg else {}),
            **proj,
            VALID: True,
        }
        elevation = file_asset(
            path.absolute(), media_type=media_type, roles=("data", "elevation"), title="Elevation", bands=[band]
        )
        item_id = path.name.split(".")[0] if source == "copernicus" else f"SRTM_{match['lat']}{match['lon']}".upper()
        return [
            untiled_item(
                item_id=item_id,
                collection=COLLECTION,
                footprint=lonlat_box(*bounds),
                properties=properties,
                assets={"elevation": elevation},
            )
        ]


def _name(path: Path) -> tuple[str, re.Match[str]] | None:
    for source, pattern in (("srtm", SRTM), ("copernicus", COPERNICUS)):
        match = pattern.match(path.name)
        if match is not None:
            return source, match
    return None


def _corner(code: str) -> int:
    """N43 -> 43, W001 -> -1: the south or west edge of the named cell."""
    value = int(code[1:])
    return -value if code[0].upper() in "SW" else value
