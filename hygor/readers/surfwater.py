"""Surfwater open water surfaces of one Sentinel-2 acquisition, in the format that the centre defines (Surfwater
has no public product format; this one follows the MUSCATE and LIS products).

A product is a folder ``SURFWATER_<platform>_<YYYYMMDD-HHMMSS>_T<tile>_V<version>/`` (platform ``S2A``, ``S2B``
or ``S2C``; acquisition date and time in UTC; chain version with ``-`` for ``.``), for example
``SURFWATER_S2A_20230615-105856_T31TCJ_V1-0``, whose name is the product and item id. It holds:

- ``<id>_WATER.tif``: uint8 COG on the tile's 10 m grid: 0 not water, 1 water, 2 cloud or cloud shadow (no
  decision), 255 no data;
- ``<id>_PROBA.tif``: uint8 COG, probability of water 0 to 100 (%), 255 no data;
- ``<id>_MTD.json``: the metadata, one JSON object::

      {"product_id": "<id>", "tile": "31TCJ", "acquisition_datetime": "2023-06-15T10:58:56Z",
       "platform": "sentinel-2a", "source_product_id": "SENTINEL2A_20230615-105856-463_L2A_T31TCJ_C_V3-1",
       "chain_version": "1.0", "water_percentage": 3.1, "cloud_percentage": 12.5, "valid": true}

  ``source_product_id`` (the MAJA L2A it was made from) and the percentages (of the tile's pixels with data)
  are optional, the other fields mandatory;
- ``<id>_QKL.png``: a quicklook, optional.

A product that is not valid (its L2A too cloudy for a decision) has ``"valid": false`` and no raster: only its
metadata and quicklook. The folder or its ``<id>_MTD.json`` is read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from hygor.items import VALID, MediaType, stac_datetime, tiled_item
from hygor.readers.base import Reader, ReaderError, product_tile, read_json_object, register
from hygor.readers.outputs import (
    MUSCATE_ID,
    asset,
    parse_datetime,
    parse_percentage,
    read_raster,
    sentinel_platform,
)

NAME = re.compile(
    r"^SURFWATER_(?P<platform>S2[A-D])_(?P<stamp>\d{8}-\d{6})_T(?P<tile>\d{2}[A-Z]{3})_V(?P<version>[\d-]+)$"
)
COLLECTION = "surfwater-water"
METADATA_SUFFIX = "_MTD.json"
# Metadata fields: name -> (types, mandatory).
FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "product_id": ((str,), True),
    "tile": ((str,), True),
    "acquisition_datetime": ((str,), True),
    "platform": ((str,), True),
    "chain_version": ((str,), True),
    "valid": ((bool,), True),
    "source_product_id": ((str,), False),
    "water_percentage": ((int, float), False),
    "cloud_percentage": ((int, float), False),
}
RASTERS = {"WATER": "_WATER.tif", "PROBA": "_PROBA.tif"}
NO_DATA = 255


@register
class Surfwater(Reader):
    name: ClassVar[str] = "surfwater"
    collection: ClassVar[str | None] = COLLECTION

    def detect(self, path: Path) -> bool:
        folder = path.parent if path.is_file() else path
        if NAME.match(folder.name) is None or (path.is_file() and path.name != folder.name + METADATA_SUFFIX):
            return False
        return (folder / (folder.name + METADATA_SUFFIX)).is_file()

    def read(self, path: Path) -> list[dict[str, Any]]:
        folder = path.parent if path.is_file() else path
        name = NAME.match(folder.name)
        if name is None:
            raise ReaderError(f"{folder}: not a Surfwater product folder (SURFWATER_<S2x>_<date>_T<tile>_V<version>)")
        return [_item(folder, name)]


def _metadata(path: Path) -> dict[str, Any]:
    document = read_json_object(path)
    for field, (types, mandatory) in FIELDS.items():
        value = document.get(field)
        if value is None:
            if mandatory:
                raise ReaderError(f"{path}: mandatory field {field} is missing")
        elif not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            kind = " or ".join(t.__name__ for t in types)
            raise ReaderError(f"{path}: field {field} must be a {kind}, not {type(value).__name__}")
    return document


def _item(folder: Path, name: re.Match[str]) -> dict[str, Any]:
    path = folder / (folder.name + METADATA_SUFFIX)
    metadata = _metadata(path)
    tile = product_tile(metadata["tile"], path)
    platform = sentinel_platform(metadata["platform"])
    expected = {"product_id": folder.name, "tile": name["tile"], "platform": sentinel_platform(name["platform"])}
    for field, value in {"product_id": metadata["product_id"], "tile": tile.id, "platform": platform}.items():
        if value != expected[field]:
            raise ReaderError(f"{path}: {field} {metadata[field]} differs from the product name {folder.name}")
    valid: bool = metadata["valid"]
    properties: dict[str, Any] = {
        "datetime": stac_datetime(parse_datetime(metadata["acquisition_datetime"], path, "acquisition_datetime")),
        "platform": platform,
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "processing:level": "L2B",
        "processing:software": {"surfwater": metadata["chain_version"]},
        "processing:version": metadata["chain_version"],
        VALID: valid,
    }
    if metadata.get("cloud_percentage") is not None:
        properties["eo:cloud_cover"] = parse_percentage(metadata["cloud_percentage"], path, "cloud_percentage")
    if metadata.get("water_percentage") is not None:
        parse_percentage(metadata["water_percentage"], path, "water_percentage")  # no STAC field: checked only

    # The metadata is JSON, whatever media type the collection's item_assets declare for it.
    assets = {"metadata": {**asset(COLLECTION, "metadata", path), "type": MediaType.JSON}}
    quicklook = folder / f"{folder.name}_QKL.png"
    if quicklook.is_file():
        assets["quicklook"] = asset(COLLECTION, "quicklook", quicklook)
    rasters = {key: folder / (folder.name + suffix) for key, suffix in RASTERS.items()} if valid else {}
    assets.update({key: asset(COLLECTION, key, raster) for key, raster in rasters.items()})
    present = {key: raster for key, raster in rasters.items() if raster.is_file()}
    water = read_raster(present["WATER"], tile, lambda data: data != NO_DATA) if "WATER" in present else None
    if "PROBA" in present:
        read_raster(present["PROBA"], tile)  # it must open, in the tile's CRS
    if water is not None:
        properties.update(water.proj_fields())

    source = metadata.get("source_product_id")
    source_name = MUSCATE_ID.match(source) if source else None
    if source is not None and (source_name is None or source_name["level"] != "L2A"):
        raise ReaderError(f"{path}: source_product_id {source} is not a THEIA L2A product id")
    return tiled_item(
        item_id=folder.name,
        collection=COLLECTION,
        tile=tile,
        properties=properties,
        assets=assets,
        footprint=water.footprint if water else None,
        derived_from=[("maja-l2a", source)] if source else [],
    )
