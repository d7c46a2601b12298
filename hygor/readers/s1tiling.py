"""S1Tiling backscatter on the Sentinel-2 grid: one item per pass of a satellite over a tile.

S1Tiling writes into ``<output>/<tile>/`` files named
``<unit>_<tile>_<polarisation>_<orbit direction>_<relative orbit>_<acquisition stamp>[_NormLim][_BorderMask].tif``
(``s1a_33NWB_vh_DES_007_20200108t044150.tif``; the time reads ``xxxxxx`` when slices of the pass were
concatenated), and per orbit the sine of the local incidence angle ``sin_LIA_<unit>_<tile>[_<direction>]_<orbit>.tif``.
The files of one unit, tile, orbit direction, relative orbit and day make one item, with id
``s1a_33NWB_DES_007_20200108t044150`` and assets ``vv``, ``vh``, ``vv-normlim``, ``vv-border-mask``, ... and
``sin-lia`` when that file lies beside them. The acquisition time comes from the GeoTIFF tag ACQUISITION_DATETIME
(else from the name; a concatenated pass without the tag is dated by its day), the chain version from
TIFFTAG_SOFTWARE (``S1 Tiling v1.1.0``). Other files (``_filtered``, ``_GammaNaughtRTC``) are not read.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from hygor.items import VALID, stac_datetime, tiled_item
from hygor.readers.base import Reader, ReaderError, product_tile, register
from hygor.readers.outputs import Raster, asset, read_raster

NAME = re.compile(
    r"^(?P<unit>s1[a-d])_(?P<tile>\d{2}[A-Z]{3})_(?P<polarisation>vv|vh|hh|hv)_(?P<direction>ASC|DES)_(?P<orbit>\d{3})"
    r"_(?P<stamp>(?P<day>\d{8})t(?:\d{6}|x{6}))(?P<normlim>_NormLim)?(?P<mask>_BorderMask)?\.tif$"
)
SIN_LIA = re.compile(
    r"^sin_LIA_(?P<unit>s1[a-d])_(?P<tile>\d{2}[A-Z]{3})_(?:(?P<direction>ASC|DES)_)?(?P<orbit>\d{3})\.tif$"
)
SOFTWARE = re.compile(r"S1 ?Tiling v?(?P<version>\S+)", re.IGNORECASE)
COLLECTION = "s1tiling-backscatter"
ORBIT_STATES = {"ASC": "ascending", "DES": "descending"}
POLARISATIONS = ("vv", "vh", "hh", "hv")
SAR = {
    "sar:instrument_mode": "IW",
    "sar:frequency_band": "C",
    "sar:center_frequency": 5.405,
    "sar:product_type": "GRD",
    "sar:observation_direction": "right",
}

Pass = tuple[str, str, str, str, str]
"""(unit, tile, orbit direction, relative orbit, day): the files of one item."""


@register
class S1Tiling(Reader):
    name: ClassVar[str] = "s1tiling"
    collection: ClassVar[str | None] = COLLECTION

    def detect(self, path: Path) -> bool:
        if path.is_file():
            return NAME.match(path.name) is not None
        return path.is_dir() and any(NAME.match(child.name) for child in path.iterdir())

    def read(self, path: Path) -> list[dict[str, Any]]:
        """The items of the folder at ``path``; for a file, the item it belongs to (with its siblings)."""
        folder = path.parent if path.is_file() else path
        wanted = None
        if path.is_file():
            match = NAME.match(path.name)
            if match is None:
                raise ReaderError(f"{path}: not an S1Tiling output name (s1a_33NWB_vv_DES_007_20200108t044150.tif)")
            wanted = _pass(match)
        passes: dict[Pass, dict[str, Path]] = {}
        stamps: dict[Pass, str] = {}
        incidence: dict[tuple[str, str, str | None, str], Path] = {}
        for child in sorted(folder.iterdir()):
            if match := NAME.match(child.name):
                key = _pass(match)
                passes.setdefault(key, {}).setdefault(_asset_key(match), child)
                stamps[key] = min(stamps.get(key, match["stamp"]), match["stamp"])  # a real time before xxxxxx
            elif match := SIN_LIA.match(child.name):
                incidence[(match["unit"], match["tile"], match["direction"], match["orbit"])] = child
        if not passes:
            raise ReaderError(f"{path}: no S1Tiling output file")
        items = []
        for key, files in sorted(passes.items()):
            if wanted in (None, key):
                unit, tile, direction, orbit, _ = key
                lia = incidence.get((unit, tile, direction, orbit)) or incidence.get((unit, tile, None, orbit))
                items.append(_item(key, stamps[key], files | ({"sin-lia": lia} if lia else {})))
        return items


def _pass(match: re.Match[str]) -> Pass:
    return match["unit"], match["tile"], match["direction"], match["orbit"], match["day"]


def _asset_key(match: re.Match[str]) -> str:
    """``vv``, ``vv-normlim`` or ``vv-border-mask`` (the mask of the NormLim image too)."""
    if match["mask"]:
        return f"{match['polarisation']}-border-mask"
    return match["polarisation"] + ("-normlim" if match["normlim"] else "")


def _backscatter(data: NDArray[Any]) -> NDArray[np.bool_]:
    valid: NDArray[np.bool_] = np.isfinite(data) & (data != 0)
    return valid


def _border_mask(data: NDArray[Any]) -> NDArray[np.bool_]:
    valid: NDArray[np.bool_] = data == 1
    return valid


def _item(key: Pass, stamp: str, files: dict[str, Path]) -> dict[str, Any]:
    unit, tile_id, direction, orbit, day = key
    item_id = f"{unit}_{tile_id}_{direction}_{orbit}_{stamp}"
    tile = product_tile(tile_id, next(iter(files.values())))
    # The footprint comes from a backscatter image (keys without '-') first, else from a border mask.
    main = min((name for name in files if name != "sin-lia"), key=lambda name: (name.count("-"), name))
    rasters = {
        name: read_raster(path, tile, (_border_mask if "mask" in name else _backscatter) if name == main else None)
        for name, path in files.items()
    }
    raster = rasters[main]
    properties: dict[str, Any] = {
        **_acquired(raster, stamp, day),
        "platform": f"sentinel-{unit[1:]}",
        "constellation": "sentinel-1",
        "instruments": ["c-sar"],
        **SAR,
        "sar:polarizations": [p.upper() for p in POLARISATIONS if any(n.split("-")[0] == p for n in files)],
        "sat:orbit_state": ORBIT_STATES[direction],
        "sat:relative_orbit": int(orbit),
        "processing:level": "L2",
        **raster.proj_fields(),
        VALID: raster.footprint is not None,
    }
    software = SOFTWARE.search(raster.tags.get("TIFFTAG_SOFTWARE", ""))
    if software is not None:
        properties["processing:software"] = {"s1tiling": software["version"]}
        properties["processing:version"] = software["version"]
    assets = {
        name: asset(COLLECTION, name, path, roles=("data-mask",) if "mask" in name else ("data", "backscatter"))
        for name, path in sorted(files.items())
    }
    return tiled_item(
        item_id=item_id,
        collection=COLLECTION,
        tile=tile,
        properties=properties,
        assets=assets,
        footprint=raster.footprint,
    )


def _acquired(raster: Raster, stamp: str, day: str) -> dict[str, str]:
    """The acquisition date-time: from the ACQUISITION_DATETIME tag, the name, or the whole day."""
    tag = raster.tags.get("ACQUISITION_DATETIME", "")
    for parse in (datetime.fromisoformat, lambda text: datetime.strptime(text, "%Y:%m:%d %H:%M:%S")):
        try:
            when = parse(tag)
        except ValueError:
            continue
        return {"datetime": stac_datetime(when)}
    if not stamp.endswith("xxxxxx"):
        return {"datetime": stac_datetime(datetime.strptime(stamp, "%Y%m%dt%H%M%S").replace(tzinfo=UTC))}
    start = datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC)
    end = start + timedelta(days=1) - timedelta(microseconds=1)
    return {
        "datetime": stac_datetime(start),
        "start_datetime": stac_datetime(start),
        "end_datetime": stac_datetime(end),
    }
