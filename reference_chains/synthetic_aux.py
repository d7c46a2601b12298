"""MAJA's auxiliary inputs for the synthetic world, in the layout of StartMaja's tools (see
``hygor.readers.maja_aux``), with the STAC item its reader makes of each beside it (``<id>.json``): the DEM of a
tile (``S2__TEST_AUX_REFDE2_T31TCJ_0001``: a ``.HDR`` Earth Explorer header and a ``.DBL.DIR`` folder of COGs)
and the CAMS analysis of a day at 00:00 UTC (``S2__OPER_EXO_CAMS_20230115T000000_21000101T000000``: aod550 on a
2-degree global grid in ``CAMS_AOT_20230115UTC000000.nc``).

Each DEM product sits in a folder of its own (``T31TCJ/``); the CAMS products of all days share one folder.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.io import MemoryFile
from rasterio.transform import from_bounds

from hygor.readers import reader
from reference_chains.rasters import write_cog
from reference_chains.synthetic_scene import Landscape

DEM_DATE = datetime(2000, 2, 11, tzinfo=UTC)  # the SRTM flight
VALID_UNTIL = datetime(2100, 1, 1, tzinfo=UTC)  # StartMaja's end of validity of auxiliary products
CAMS_STEP = 2.0  # degrees
EE_NAMESPACE = "http://eop-cfi.esa.int/CFI"


def aod550(day: date, longitude: Any, latitude: Any) -> Any:
    """The synthetic aerosol optical depth at 550 nm: 0.05 to 0.35, drifting from day to day."""
    phase = day.toordinal() * 0.37
    lon, lat = np.radians(longitude), np.radians(latitude)
    return 0.05 + 0.15 * (1 + np.sin(3 * lon + phase)) * (0.6 + 0.4 * np.cos(2 * lat - 0.5 * phase))


def _header(
    path: Path, file_type: str, validity: tuple[datetime, datetime], specific: list[ET.Element], files: list[Path]
) -> None:
    """The Earth Explorer header of an auxiliary product, as StartMaja writes it: its fixed part, then the
    product-specific elements and the packaged files, relative to the header."""
    root = ET.Element("Earth_Explorer_Header", {"xmlns": EE_NAMESPACE, "schema_version": "1.00"})
    fixed = ET.SubElement(root, "Fixed_Header")
    name = path.name.removesuffix(".HDR")
    fields = (
        ("File_Name", name),
        ("File_Description", file_type),
        ("Notes", "Synthetic auxiliary data of the Hespérides reference chains"),
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
    source = ET.SubElement(fixed, "Source")
    for tag, value in (("System", "MAJA"), ("Creator", "reference_chains"), ("Creator_Version", "1.0")):
        ET.SubElement(source, tag).text = value
    ET.SubElement(source, "Creation_Date").text = f"UTC={validity[0]:%Y-%m-%dT%H:%M:%S}"  # deterministic
    variable = ET.SubElement(root, "Variable_Header")
    main = ET.SubElement(variable, "Main_Product_Header")
    ET.SubElement(main, "List_of_Consumers", count="0")
    ET.SubElement(main, "List_of_Extensions", count="0")
    product = ET.SubElement(variable, "Specific_Product_Header")
    product.extend(specific)
    listing = ET.SubElement(ET.SubElement(product, "DBL_Organization"), "List_of_Packaged_DBL_Files")
    listing.set("count", str(len(files)))
    for number, file in enumerate(files, start=1):
        packaged = ET.SubElement(listing, "Packaged_DBL_File", sn=str(number))
        ET.SubElement(packaged, "Relative_File_Path").text = str(file.relative_to(path.parent))
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="UTF-8", xml_declaration=True)


def _element(tag: str, *children: ET.Element, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.Element(tag, attributes)
    element.text = text
    element.extend(children)
    return element


def _write_item(root: Path, header: Path) -> Path:
    """The item the product's reader makes of ``header``, beside the products (``<id>.json``)."""
    (item,) = reader("maja-dem" if "_AUX_REFDE2_" in header.name else "maja-cams").read(header)
    path = root / f"{item['id']}.json"
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
    files: list[Path] = []
    for kind, values in fine.items():
        files += [write_cog(data / f"{name}_{kind}_{group}.TIF", values, tile) for group in ("R1", "R2")]
    for kind, values in fine.items():
        files.append(write_cog(data / f"{name}_{kind[:2]}C.TIF", values[::3, ::3], tile))  # the coarse grid
    files.append(write_cog(data / f"{name}_MSK.TIF", land.water[::3, ::3].astype(np.uint8), tile))
    rows, columns = land.altitude.shape
    step = land.pixel_size
    grid = _element(
        "Cartographic",
        _element("Coordinate_Reference_System", _element("Code", text=f"EPSG:{tile.epsg}")),
        _element("Upper_Left_Corner", _element("X", text=str(tile.xmin)), _element("Y", text=str(tile.ymax))),
        _element("Sampling_Interval", _element("By_Line", text=str(step)), _element("By_Column", text=str(-step))),
        _element("Size", _element("Lines", text=str(rows)), _element("Columns", text=str(columns))),
    )
    specific = [
        _element("Instance_Id", _element("Applicable_Site_Nick_Name", text=f"T{tile.id}")),
        _element("DEM_Information", grid, _element("Nodata_Value", text="-10000")),
    ]
    header = folder / f"{name}.HDR"
    _header(header, "AUX_REFDE2", (DEM_DATE, VALID_UNTIL), specific, files)
    return _write_item(root, header)


def write_cams(root: Path, day: date) -> Path:
    """The CAMS product of ``day``'s analysis at 00:00 UTC and its item; returns the item file. Only the aerosol
    optical depths (``CAMS_AOT_…nc``): the reference MAJA reads nothing else."""
    start = datetime.combine(day, datetime.min.time(), UTC)
    name = f"S2__OPER_EXO_CAMS_{start:%Y%m%dT%H%M%S}_{VALID_UNTIL:%Y%m%dT%H%M%S}"
    data = root / f"{name}.DBL.DIR"
    data.mkdir(parents=True, exist_ok=True)
    rows, columns = int(180 / CAMS_STEP), int(360 / CAMS_STEP)
    latitude = 90 - CAMS_STEP * (np.arange(rows) + 0.5)
    longitude = -180 + CAMS_STEP * (np.arange(columns) + 0.5)
    field = aod550(day, longitude[np.newaxis, :], latitude[:, np.newaxis]).astype(np.float32)
    path = data / f"CAMS_AOT_{start:%Y%m%d}UTC{start:%H%M%S}.nc"
    profile = {"crs": "EPSG:4326", "transform": from_bounds(-180, -90, 180, 90, columns, rows)}
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), MemoryFile() as memory:
        with memory.open(driver="GTiff", count=1, height=rows, width=columns, dtype="float32", **profile) as out:
            out.write(field, 1)
            out.update_tags(1, NETCDF_VARNAME="aod550", long_name="Total Aerosol Optical Depth at 550nm", units="~")
        rasterio.shutil.copy(memory.name, path, driver="netCDF")
    stamp = f"UTC={start:%Y-%m-%dT%H:%M:%S}"
    specific = [_element("Instance_Id", _element("Acquisition_Date_Time", text=stamp))]
    header = root / f"{name}.HDR"
    _header(header, "EXO_CAMS", (start, VALID_UNTIL), specific, [path])
    return _write_item(root, header)
