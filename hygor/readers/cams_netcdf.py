"""CAMS global aerosol fields in netCDF as ECMWF delivers them (the Atmosphere Data Store, MARS): aerosol
optical depths at 550 nm (``aod550``, ``duaod550``, ``ssaod550``, ``omaod550``, ``bcaod550``, ``suaod550``…) on a
regular latitude/longitude grid, over a time axis: ``time`` (MARS and the former ADS, CF units such as ``hours
since 1900-01-01``), ``valid_time`` (the ADS since 2024), or ``forecast_reference_time`` and
``forecast_period`` (forecasts: each valid time is a reference time plus a lead time); one file per day or per
month.

One item per valid time, in ``cams-aerosol``, all pointing at the file: id ``<file stem>_<YYYYMMDDThhmmss>``,
footprint the grid's extent (global for ``area: G``, split at the antimeridian for a region across it).
Metadata only, through GDAL's netCDF driver. The ``.nc`` files of MAJA's EXO_CAMS products (inside a
``.DBL.DIR``) are read through their header instead (``maja_aux``).
"""

from __future__ import annotations

import re
import warnings
from datetime import datetime, timedelta
from itertools import product
from pathlib import Path
from typing import Any, ClassVar

import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError

from hygor.items import VALID, lonlat_box, stac_datetime, untiled_item
from hygor.readers.base import Reader, ReaderError, register
from hygor.readers.outputs import asset, parse_datetime

COLLECTION = "cams-aerosol"
SUFFIXES = (".nc", ".nc4", ".netcdf")
AEROSOL = re.compile(r"^[a-z0-9]*aod\d+$")  # aod550, duaod550, aod469...
TIME_AXES = ("valid_time", "time")
FORECAST_AXES = ("forecast_reference_time", "forecast_period")
UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


@register
class CamsNetcdf(Reader):
    name: ClassVar[str] = "cams-netcdf"
    collection: ClassVar[str | None] = COLLECTION

    def detect(self, path: Path) -> bool:
        if not (path.is_file() and path.suffix.lower() in SUFFIXES) or path.parent.name.endswith(".DBL.DIR"):
            return False
        try:
            return any(AEROSOL.match(name) for name in _variables(path))
        except ReaderError:
            return False

    def read(self, path: Path) -> list[dict[str, Any]]:
        variables = _variables(path)
        aerosols = [name for name in variables if AEROSOL.match(name)]
        if not aerosols:
            raise ReaderError(f"{path}: no aerosol optical depth variable (aod550, ...) among {', '.join(variables)}")
        bands = []
        try:
            for name in aerosols:
                with rasterio.open(f'NETCDF:"{path}":{name}') as dataset:
                    tags = dataset.tags()
                    bands.append(_band(name, tags))
                    if name == aerosols[0]:
                        times, box = _times(tags, path), _extent(dataset)
        except RasterioError as exc:
            raise ReaderError(f"{path}: cannot be read as netCDF ({str(exc).splitlines()[0]})") from None
        footprint = lonlat_box(*box)
        return [
            untiled_item(
                item_id=f"{path.name.split('.')[0]}_{when:%Y%m%dT%H%M%S}",
                collection=COLLECTION,
                footprint=footprint,
                properties={"datetime": stac_datetime(when), "processing:level": "L4", VALID: True},
                assets={"AOT": asset(COLLECTION, "AOT", path, bands=bands)},
            )
            for when in times
        ]


def _variables(path: Path) -> list[str]:
    """The names of the file's gridded variables (GDAL's subdatasets)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # the container has no grid of its own
            with rasterio.open(path, driver="netCDF") as container:
                return [name.rpartition(":")[2] for name in container.subdatasets]
    except RasterioError as exc:
        raise ReaderError(f"{path}: cannot be read as netCDF ({str(exc).splitlines()[0]})") from None


def _band(name: str, tags: dict[str, str]) -> dict[str, Any]:
    band: dict[str, Any] = {"name": name}
    if tags.get(f"{name}#long_name"):
        band["description"] = tags[f"{name}#long_name"]
    return band


def _times(tags: dict[str, str], path: Path) -> list[datetime]:
    """The valid times of the variable's time axis (or of its forecast reference times and lead times)."""
    axes = tags.get("NETCDF_DIM_EXTRA", "").strip("{}").split(",")
    for axis in TIME_AXES:
        if axis in axes:
            return sorted(set(_dates(tags, axis, path)))
    if all(axis in axes for axis in FORECAST_AXES):
        references, (_, periods) = _dates(tags, FORECAST_AXES[0], path), _axis(tags, FORECAST_AXES[1], path)
        return sorted({reference + period for reference, period in product(references, periods)})
    raise ReaderError(f"{path}: no time axis ({', '.join(TIME_AXES)}, or forecast reference and lead times)")


def _dates(tags: dict[str, str], axis: str, path: Path) -> list[datetime]:
    origin, offsets = _axis(tags, axis, path)
    if origin is None:
        raise ReaderError(f"{path}: {axis} has units {tags.get(f'{axis}#units')!r}, not '<unit> since <date>'")
    return [origin + offset for offset in offsets]


def _axis(tags: dict[str, str], axis: str, path: Path) -> tuple[datetime | None, list[timedelta]]:
    """The origin and offsets of a CF time axis: ``<unit> since <origin>``, or a bare unit for lead times."""
    units = tags.get(f"{axis}#units", "")
    unit, _, origin = units.partition(" since ")
    if unit not in UNITS:
        raise ReaderError(f"{path}: {axis} has units {units!r}, not '<seconds|minutes|hours|days> [since <date>]'")
    values = tags.get(f"NETCDF_DIM_{axis}_VALUES", "").strip("{}")
    try:
        offsets = [timedelta(seconds=float(value) * UNITS[unit]) for value in values.split(",") if value]
    except ValueError:
        raise ReaderError(f"{path}: {axis} values {values!r} are not numbers") from None
    return (parse_datetime(origin, path, f"{axis} origin") if origin else None), offsets


def _extent(dataset: Any) -> tuple[float, float, float, float]:
    """(west, south, east, north) of the grid's cells."""
    if dataset.transform.is_identity:
        raise ReaderError(f"{dataset.name}: no latitude/longitude grid")
    left, bottom, right, top = dataset.bounds
    return min(left, right), min(bottom, top), max(left, right), max(bottom, top)
