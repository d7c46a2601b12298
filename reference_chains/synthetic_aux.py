"""MAJA's auxiliary inputs for the synthetic world, with the STAC item of each beside it (``<id>.json``, read by
the ``stac-json`` reader): the DEM of a tile in MAJA's Earth Explorer layout (``S2__TEST_AUX_REFDE2_T31TCJ_0001``:
a ``.HDR`` header and a ``.DBL.DIR`` folder of COGs) and the CAMS aerosol analysis of a day
(``S2__TEST_EXO_CAMS_20230115T000000_20230116T000000``: aod550 on a 2-degree global grid in netCDF).

Each DEM product sits in a folder of its own (``T31TCJ/``), so that the folder holding all its asset files is
the product alone.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.io import MemoryFile
from rasterio.transform import from_bounds

from hygor.items import VALID, declared_extensions, stac_datetime, tiled_item
from hygor.readers.outputs import asset
from reference_chains.rasters import write_cog
from reference_chains.synthetic_scene import Landscape

DEM_DATE = datetime(2000, 2, 11, tzinfo=UTC)  # the SRTM flight
CAMS_STEP = 2.0  # degrees
WORLD = {"type": "Polygon", "coordinates": [[[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]]}


def aod550(day: date, longitude: Any, latitude: Any) -> Any:
    """The synthetic aerosol optical depth at 550 nm: 0.05 to 0.35, drifting from day to day."""
    phase = day.toordinal() * 0.37
    lon, lat = np.radians(longitude), np.radians(latitude)
    return 0.05 + 0.15 * (1 + np.sin(3 * lon + phase)) * (0.6 + 0.4 * np.cos(2 * lat - 0.5 * phase))


def _header(path: Path, name: str, file_type: str, validity: tuple[datetime, datetime]) -> None:
    """The Earth Explorer header of an auxiliary product."""
    root = ET.Element("Earth_Explorer_Header")
    fixed = ET.SubElement(root, "Fixed_Header")
    fields = (
        ("File_Name", name),
        ("File_Description", file_type),
        ("Mission", "SENTINEL-2_"),
        ("File_Class", "TEST"),
        ("File_Type", file_type),
    )
    for tag, value in fields:
        ET.SubElement(fixed, tag).text = value
    period = ET.SubElement(fixed, "Validity_Period")
    ET.SubElement(period, "Validity_Start").text = f"UTC={validity[0]:%Y-%m-%dT%H:%M:%S}"
    ET.SubElement(period, "Validity_Stop").text = f"UTC={validity[1]:%Y-%m-%dT%H:%M:%S}"
    ET.SubElement(fixed, "File_Version").text = "0001"
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="UTF-8", xml_declaration=True)


def _write_item(folder: Path, item: dict[str, Any]) -> Path:
    path = folder / f"{item['id']}.json"
    path.write_text(json.dumps(item, indent=2))
    return path


def write_dem(root: Path, land: Landscape) -> Path:
    """The DEM product of ``land``'s tile and its item; returns the item file."""
    tile = land.tile
    name = f"S2__TEST_AUX_REFDE2_T{tile.id}_0001"
    folder = root / f"T{tile.id}"
    data = folder / f"{name}.DBL.DIR"
    centi = 100  # slopes and aspects in hundredths of radian
    fine = {
        "ALT": np.round(land.altitude).astype(np.int16),
        "SLP": np.round(land.slope * centi).astype(np.int16),
        "ASP": np.round(land.aspect * centi).astype(np.int16),
    }
    files: dict[str, Path] = {}
    for kind, values in fine.items():
        for group in ("R1", "R2"):
            files[f"{kind}_{group}"] = write_cog(data / f"{name}_{kind}_{group}.TIF", values, tile)
        coarse = values[::3, ::3]  # MAJA's coarse grid for the atmosphere
        files[f"{kind[:2]}C"] = write_cog(data / f"{name}_{kind[:2]}C.TIF", coarse, tile)
    files["MSK"] = write_cog(data / f"{name}_MSK.TIF", land.water.astype(np.uint8), tile)
    files["HDR"] = folder / f"{name}.HDR"
    _header(files["HDR"], name, "AUX_REFDE2", (DEM_DATE, datetime(2100, 1, 1, tzinfo=UTC)))
    item = tiled_item(
        item_id=name,
        collection="dem-tiles",
        tile=tile,
        properties={"datetime": stac_datetime(DEM_DATE), VALID: True},
        assets={key: asset("dem-tiles", key, path) for key, path in files.items()},
    )
    return _write_item(root, item)


def write_cams(root: Path, day: date) -> Path:
    """The CAMS product of ``day`` and its item; returns the item file."""
    start = datetime.combine(day, datetime.min.time(), UTC)
    name = f"S2__TEST_EXO_CAMS_{start:%Y%m%dT%H%M%S}_{start + timedelta(days=1):%Y%m%dT%H%M%S}"
    data = root / f"{name}.DBL.DIR"
    data.mkdir(parents=True, exist_ok=True)
    rows, columns = int(180 / CAMS_STEP), int(360 / CAMS_STEP)
    latitude = 90 - CAMS_STEP * (np.arange(rows) + 0.5)
    longitude = -180 + CAMS_STEP * (np.arange(columns) + 0.5)
    field = aod550(day, longitude[np.newaxis, :], latitude[:, np.newaxis]).astype(np.float32)
    path = data / f"{name}_AOT.nc"
    profile = {"crs": "EPSG:4326", "transform": from_bounds(-180, -90, 180, 90, columns, rows)}
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), MemoryFile() as memory:
        with memory.open(driver="GTiff", count=1, height=rows, width=columns, dtype="float32", **profile) as out:
            out.write(field, 1)
            out.update_tags(1, NETCDF_VARNAME="aod550", long_name="Total Aerosol Optical Depth at 550nm", units="~")
        rasterio.shutil.copy(memory.name, path, driver="netCDF")
    _header(root / f"{name}.HDR", name, "EXO_CAMS", (start, start + timedelta(days=1)))
    item = {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": [],
        "id": name,
        "collection": "cams-aerosol",
        "geometry": WORLD,
        "bbox": [-180, -90, 180, 90],
        "properties": {"datetime": stac_datetime(start), VALID: True},
        "links": [],
        "assets": {"AOT": asset("cams-aerosol", "AOT", path)},
    }
    item["stac_extensions"] = declared_extensions(item)
    return _write_item(root, item)
