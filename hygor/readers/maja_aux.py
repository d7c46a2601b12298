"""MAJA's auxiliary products in the Earth Explorer layout: a ``.HDR`` XML header beside a ``.DBL.DIR`` folder.

As StartMaja writes them (``prepare_mnt/mnt/MNTBase.py`` and ``cams_download/convert_to_exo.py`` in CNES/MAJA):

- the DEM of a tile, ``S2__TEST_AUX_REFDE2_T31TCJ_0001``: ``File_Type`` AUX_REFDE2, ``<tile>`` in
  ``Instance_Id/Applicable_Site_Nick_Name``, the R1 grid in ``DEM_Information/Cartographic``, and the rasters
  ``<name>_ALT_R1.TIF``, ``_ALT_R2``, ``_SLP_R*``, ``_ASP_R*`` (no ``_R<n>`` with a single resolution) and at the
  coarse resolution ``_ALC``, ``_SLC``, ``_ASC`` and the water mask ``_MSK``;
- the CAMS fields of one analysis time, ``S2__OPER_EXO_CAMS_20240115T030000_21000101T000000``: ``File_Type``
  EXO_CAMS, ``Instance_Id/Acquisition_Date_Time``, and the files ``CAMS_AOT_20240115UTC030000.nc``,
  ``CAMS_RH_…``, ``CAMS_MR_…``.

Both list their files in ``DBL_Organization`` relative to the header. The header is the product: the reader
makes the item from it, and recognises the ``.DBL.DIR`` beside it only so that a folder walk does not take its
files one by one (it yields nothing for it). MAJA also accepts a ``.DBL`` archive in place of the folder.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import shapely

from hygor.items import VALID, lonlat_box, stac_datetime, tiled_item, untiled_item
from hygor.readers.base import Reader, ReaderError, parse_xml, product_tile, register
from hygor.readers.outputs import asset, parse_datetime, parse_number, required_text, xml_text

HEADER = ".HDR"
DATA = (".DBL.DIR", ".DBL")
DEM_COLLECTION = "dem-tiles"
CAMS_COLLECTION = "cams-aerosol"
# The part of a packaged file's name that says what it holds: <name>_ALT_R1.TIF, CAMS_AOT_20240115UTC030000.nc.
DEM_FILE = re.compile(r"_(?P<key>(?:ALT|SLP|ASP)(?:_R\d)?|ALC|SLC|ASC|MSK)\.TIF$", re.IGNORECASE)
CAMS_FILE = re.compile(r"^CAMS_(?P<key>AOT|MR|RH)_\d{8}UTC\d{6}\.nc$")
GRIB = (".grib", ".grb", ".grib2", ".grb2")


@dataclass(frozen=True)
class Header:
    """An Earth Explorer header: its fixed part, its product-specific part and the files it packages."""

    path: Path
    name: str
    file_type: str
    validity: tuple[datetime, datetime]
    software: dict[str, str]  # {Creator: Creator_Version}
    created: datetime | None
    specific: ET.Element
    files: tuple[Path, ...]

    def packaged(self, key_of: Callable[[str], str | None], expected: str) -> list[tuple[str, Path]]:
        """(asset key, file) of each packaged file, keyed by ``key_of`` its name; it must know them all."""
        keyed = [(key_of(file.name), file) for file in self.files]
        unknown = next((file.name for key, file in keyed if key is None), None)
        if unknown is not None:
            raise ReaderError(f"{self.path}: packaged file {unknown} is not {expected}")
        return [(key, file) for key, file in keyed if key is not None]

    def processing(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"processing:level": "L4"}
        if self.software:
            fields["processing:software"] = self.software
        if self.created is not None:
            fields["processing:datetime"] = stac_datetime(self.created)
        return fields


def read_header(path: Path, file_type: str) -> Header:
    """The header at ``path``, which must be of ``file_type``; ``ReaderError`` naming what is wrong."""
    root = _without_namespaces(parse_xml(path))
    if root.tag != "Earth_Explorer_Header":
        raise ReaderError(f"{path}: not an Earth Explorer header (root element {root.tag})")
    found = required_text(root, "./Fixed_Header/File_Type", path)
    if found != file_type:
        raise ReaderError(f"{path}: File_Type is {found}, not {file_type}")
    name = required_text(root, "./Fixed_Header/File_Name", path)
    if name != path.name.removesuffix(HEADER):
        raise ReaderError(f"{path}: File_Name {name} differs from the header's file name")
    validity = tuple(
        _utc(required_text(root, f"./Fixed_Header/Validity_Period/{bound}", path), path, bound)
        for bound in ("Validity_Start", "Validity_Stop")
    )
    creator = xml_text(root, "./Fixed_Header/Source/Creator")
    created = xml_text(root, "./Fixed_Header/Source/Creation_Date")
    specific = root.find("./Variable_Header/Specific_Product_Header")
    if specific is None:
        raise ReaderError(f"{path}: mandatory element Variable_Header/Specific_Product_Header is missing")
    listed = [(e.text or "").strip() for e in specific.iterfind("./DBL_Organization//Relative_File_Path")]
    if not any(listed):
        raise ReaderError(f"{path}: DBL_Organization lists no packaged file")
    return Header(
        path=path,
        name=name,
        file_type=file_type,
        validity=(validity[0], validity[1]),
        software={creator: xml_text(root, "./Fixed_Header/Source/Creator_Version") or "unknown"} if creator else {},
        created=_utc(created, path, "Creation_Date") if created else None,
        specific=specific,
        files=tuple(path.parent / relative for relative in listed if relative),
    )


def _without_namespaces(root: ET.Element) -> ET.Element:
    """StartMaja's headers are in the ``http://eop-cfi.esa.int/CFI`` namespace, hand-made ones often in none."""
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]
    return root


def _utc(value: str, path: Path, what: str) -> datetime:
    return parse_datetime(value.removeprefix("UTC="), path, what)


class EarthExplorerReader(Reader):
    """A reader of one ``File_Type``, recognised by the ``_<file type>_`` in the header's name."""

    file_type: ClassVar[str]

    def detect(self, path: Path) -> bool:
        header = _header_of(path)
        return f"_{self.file_type}_" in path.name and header is not None and header.is_file()

    def read(self, path: Path) -> list[dict[str, Any]]:
        if path.name.endswith(DATA):
            return []  # read through its header
        return [self.item(read_header(path, self.file_type))]

    @abstractmethod
    def item(self, header: Header) -> dict[str, Any]:
        """The item of the product whose header is ``header``."""


def _dem_key(name: str) -> str | None:
    match = DEM_FILE.search(name)
    return match["key"].upper() if match else None


def _cams_key(name: str) -> str | None:
    match = CAMS_FILE.match(name)
    return match["key"] if match else "grib" if name.lower().endswith(GRIB) else None


def _header_of(path: Path) -> Path | None:
    """The header of a product: ``path`` itself, or the one beside its data folder."""
    if path.name.endswith(HEADER):
        return path
    for suffix in DATA:
        if path.name.endswith(suffix):
            return path.with_name(path.name.removesuffix(suffix) + HEADER)
    return None


@register
class MajaDem(EarthExplorerReader):
    name: ClassVar[str] = "maja-dem"
    collection: ClassVar[str | None] = DEM_COLLECTION
    file_type: ClassVar[str] = "AUX_REFDE2"

    def item(self, header: Header) -> dict[str, Any]:
        path, spec = header.path, header.specific
        site = required_text(spec, "./Instance_Id/Applicable_Site_Nick_Name", path)
        tile = product_tile(site.removeprefix("T"), path)
        grid = spec.find("./DEM_Information/Cartographic")
        if grid is None:
            raise ReaderError(f"{path}: mandatory element DEM_Information/Cartographic is missing")
        code = required_text(grid, "./Coordinate_Reference_System/Code", path)
        if code.upper().removeprefix("EPSG:") != str(tile.epsg):
            raise ReaderError(f"{path}: the DEM's CRS {code} is not EPSG:{tile.epsg} of tile {tile.id}")

        def number(xpath: str) -> float:
            return parse_number(required_text(grid, xpath, path), path, xpath.removeprefix("./"))

        left, top = number("./Upper_Left_Corner/X"), number("./Upper_Left_Corner/Y")
        step_x, step_y = number("./Sampling_Interval/By_Line"), number("./Sampling_Interval/By_Column")
        lines, columns = int(number("./Size/Lines")), int(number("./Size/Columns"))
        corners = shapely.box(left, top + lines * step_y, left + columns * step_x, top)
        footprint = tile.to_wgs84(corners)
        r1: dict[str, Any] = {"proj:shape": [lines, columns], "proj:transform": [step_x, 0.0, left, 0.0, step_y, top]}

        files = header.packaged(_dem_key, "a REFDE2 raster (_ALT_R1.TIF, _MSK.TIF…)")
        assets = {"HDR": asset(DEM_COLLECTION, "HDR", path, roles=("metadata",))}
        assets |= {key: asset(DEM_COLLECTION, key, file, **(r1 if key.endswith("_R1") else {})) for key, file in files}
        properties = {
            "datetime": stac_datetime(header.validity[0]),
            "start_datetime": stac_datetime(header.validity[0]),
            "end_datetime": stac_datetime(header.validity[1]),
            **header.processing(),
            VALID: True,
        }
        return tiled_item(
            item_id=header.name,
            collection=DEM_COLLECTION,
            tile=tile,
            properties=properties,
            assets=assets,
            footprint=footprint,
        )


@register
class MajaCams(EarthExplorerReader):
    name: ClassVar[str] = "maja-cams"
    collection: ClassVar[str | None] = CAMS_COLLECTION
    file_type: ClassVar[str] = "EXO_CAMS"

    def item(self, header: Header) -> dict[str, Any]:
        path = header.path
        acquired = xml_text(header.specific, "./Instance_Id/Acquisition_Date_Time")
        when = _utc(acquired, path, "Acquisition_Date_Time") if acquired else header.validity[0]
        files = header.packaged(_cams_key, "a CAMS field (CAMS_AOT_…nc, …)")
        assets = {"HDR": asset(CAMS_COLLECTION, "HDR", path, roles=("metadata",))}
        assets |= {key: asset(CAMS_COLLECTION, key, file) for key, file in files}
        properties = {"datetime": stac_datetime(when), **header.processing(), VALID: True}
        return untiled_item(
            item_id=header.name,
            collection=CAMS_COLLECTION,
            footprint=lonlat_box(-180, -90, 180, 90),
            properties=properties,
            assets=assets,
        )
