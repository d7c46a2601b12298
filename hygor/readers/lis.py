"""LIS (let-it-snow) fractional snow cover of one Sentinel-2 date.

LIS writes into its output folder, named ``_T<tile>_<acquisition YYYYMMDDThhmmss>_<chain version>_<counter>``::

    LIS_S2-SNOW-FSC_T31TCH_20180101T105435_1.7.0_1.tif          snow on ground (with a tree cover density map only)
    LIS_S2-SNOW-FSC-TOC_T31TCH_20180101T105435_1.7.0_1.tif      snow at the top of the canopy
    LIS_S2-SNOW-FSC-QCFLAGS_T31TCH_20180101T105435_1.7.0_1.tif  quality flags
    LIS_METADATA.XML                                            input L2A (PRODUCT_ID), snow and cloud percentages

and, when the centre renders one, a quicklook ``LIS_S2-SNOW-FSC-QKL_<same>.png``. The item id is the name
without variant nor suffix (``LIS_S2-SNOW-FSC_T31TCH_20180101T105435_1.7.0_1``). The folder, or one of its
rasters, is read: one product per folder, since LIS_METADATA.XML has a fixed name.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from hygor.items import VALID, stac_datetime, tiled_item
from hygor.readers.base import Reader, ReaderError, parse_xml, product_tile, register
from hygor.readers.outputs import (
    MUSCATE_ID,
    asset,
    parse_percentage,
    quality_index,
    read_raster,
    sentinel_platform,
    xml_text,
)

NAME = re.compile(
    r"^LIS_(?P<mission>S2)-SNOW-FSC(?:-(?P<variant>[A-Z]+))?_T(?P<tile>\d{2}[A-Z]{3})"
    r"_(?P<stamp>\d{8}(?:T\d{6})?)_(?P<version>\d+(?:\.\d+)*)_(?P<counter>\d+)\.(?P<suffix>tif|png)$"
)
# (variant, suffix) -> asset key of the lis-snow item_assets.
KEYS = {(None, "tif"): "FSC-OG", ("TOC", "tif"): "FSC-TOC", ("QCFLAGS", "tif"): "QCFLAGS", ("QKL", "png"): "quicklook"}
METADATA = "LIS_METADATA.XML"
COLLECTION = "lis-snow"
NO_DATA = 255


@register
class TheiaLis(Reader):
    name: ClassVar[str] = "theia-lis"
    collection: ClassVar[str | None] = COLLECTION

    def detect(self, path: Path) -> bool:
        if path.is_file():
            return _parse(path.name) is not None and (path.parent / METADATA).is_file()
        return path.is_dir() and (path / METADATA).is_file() and any(_parse(c.name) for c in path.iterdir())

    def read(self, path: Path) -> list[dict[str, Any]]:
        folder = path.parent if path.is_file() else path
        files: dict[str, Path] = {}
        products: dict[str, re.Match[str]] = {}
        for child in sorted(folder.iterdir()):
            parsed = _parse(child.name)
            if parsed is not None:
                files[parsed[1]] = child
                products.setdefault(parsed[0], parsed[2])
        if len(products) != 1:
            found = ", ".join(sorted(products)) or "none"
            raise ReaderError(f"{folder}: a LIS product folder holds one LIS_S2-SNOW-FSC product (found: {found})")
        ((item_id, name),) = products.items()
        return [_item(folder, item_id, name, files)]


def _parse(name: str) -> tuple[str, str, re.Match[str]] | None:
    """(product id, asset key, name match) of a LIS output file name."""
    match = NAME.match(name)
    key = KEYS.get((match["variant"], match["suffix"])) if match else None
    if match is None or key is None:
        return None
    product_id = (
        f"LIS_{match['mission']}-SNOW-FSC_T{match['tile']}_{match['stamp']}_{match['version']}_{match['counter']}"
    )
    return product_id, key, match


def _item(folder: Path, item_id: str, name: re.Match[str], files: dict[str, Path]) -> dict[str, Any]:
    metadata = folder / METADATA
    if not metadata.is_file():
        raise ReaderError(f"{metadata}: missing: a LIS product has its metadata file")
    root = parse_xml(metadata)
    tile = product_tile(name["tile"], folder / name.string)
    snow_cover = files.get("FSC-TOC") or files.get("FSC-OG")
    if snow_cover is None:
        raise ReaderError(f"{folder}: {item_id} has no snow cover raster (-FSC-TOC or on ground)")
    raster = read_raster(snow_cover, tile, lambda fsc: fsc != NO_DATA)
    for key in ("FSC-OG", "FSC-TOC", "QCFLAGS"):
        if key in files and files[key] != snow_cover:
            read_raster(files[key], tile)  # every raster must open, in the tile's CRS

    stamp = name["stamp"]
    acquired = datetime.strptime(stamp, "%Y%m%dT%H%M%S" if "T" in stamp else "%Y%m%d").replace(tzinfo=UTC)
    properties: dict[str, Any] = {
        "datetime": stac_datetime(acquired),
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "processing:level": "L2B",
        "processing:software": {"lis": name["version"]},
        "processing:version": name["version"],
        **raster.proj_fields(),
        VALID: True,
    }
    for field, index in (("eo:cloud_cover", "CloudPercent"), ("eo:snow_cover", "SnowPercent")):
        value = quality_index(root, index)
        if value is not None:
            properties[field] = parse_percentage(value, metadata, index)

    derived_from = []
    source = xml_text(root, ".//PRODUCT_ID")
    source_name = MUSCATE_ID.match(source) if source else None
    if source is not None and source_name is not None and source_name["level"] == "L2A":
        if source_name["tile"] != tile.id:
            raise ReaderError(f"{metadata}: input {source} is not on tile {tile.id}")
        derived_from.append(("maja-l2a", source))
        platform = sentinel_platform(source_name["platform"])
        if platform is not None:
            properties["platform"] = platform

    assets = {"metadata": asset(COLLECTION, "metadata", metadata)}
    assets.update({key: asset(COLLECTION, key, path) for key, path in files.items()})
    return tiled_item(
        item_id=item_id,
        collection=COLLECTION,
        tile=tile,
        properties=properties,
        assets=assets,
        footprint=raster.footprint,
        derived_from=derived_from,
    )
