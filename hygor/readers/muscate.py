"""THEIA/MUSCATE products: MAJA surface reflectances (L2A), WASP monthly syntheses (L3A) and the legacy snow
products (L2B-SNOW, made by LIS before 1.7 and published by MUSCATE).

A product is a folder ``<id>/`` (``SENTINEL2A_20230615-105856-463_L2A_T31TCJ_C_V3-1``) holding ``<id>_MTD_ALL.xml``,
a Muscate_Metadata_Document that lists every image and mask file by nature and by band or resolution group
(``R1`` 10 m, ``R2`` 20 m), relative to the folder. The folder or that file is read. Files are keyed by their
name after ``<id>_`` (``MASKS/<id>_CLM_R1.tif`` -> ``CLM_R1``), the keys of the collections' item_assets.

Validity: above 90 % of clouds MAJA issues no reflectance, only the metadata. An L2A is valid when its cloud
percentage is at most 90, its metadata lists reflectance images and its job report (``DATA/<id>_JPI_ALL.xml``),
when there, does not flag it L2NOTV. An invalid item keeps only its metadata and quicklook assets.

An L3A gives its central date and, in recent versions, its synthesis period; WASP writes the central date only,
and the period is then the calendar month of that date.

An L2B-SNOW (``SENTINEL2A_20160912-103551-370_L2B-SNOW_T32TLS_D_V1-0``, the name LIS's own snow_product_parser
reads) holds ``<id>_SNW_R2.tif``, the 20 m snow mask (0 no snow, 100 snow, 205 cloud, 254 no data, THEIA's
product page), its polygons (``<id>_SNW_R2.shp`` ...), the quicklook and ``<id>_MTD_ALL.xml``, a
Muscate_Metadata_Document as for L2A (PRODUCT_LEVEL L2B-SNOW; the input L2A in Inputs_List). Its items go to
``lis-snow`` beside LIS 1.7+ products, with the same properties: level L2B, the version that made it
(PRODUCT_VERSION) as ``processing:version``, the 20 m grid. It is valid when its metadata lists the snow mask.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from hygor.grid import Tile, fix_antimeridian
from hygor.items import VALID, stac_datetime, tiled_item
from hygor.readers.base import Reader, ReaderError, parse_xml, product_tile, register
from hygor.readers.outputs import (
    MUSCATE_ID,
    Valid,
    asset,
    parse_datetime,
    parse_number,
    parse_percentage,
    quality_index,
    read_raster,
    required_text,
    sentinel_platform,
    xml_text,
)

METADATA_SUFFIX = "_MTD_ALL.xml"
SNOW = "L2B-SNOW"
SNOW_NO_DATA = 254


@dataclass(frozen=True)
class Level:
    collection: str
    software: str
    stac_level: str
    """``processing:level`` of the items: the collection's (``lis-snow`` says L2B for every snow product)."""
    data_masks: tuple[str, ...]
    """Masks giving the valid-data footprint (20 m first: fewer pixels)."""
    valid_data: Valid
    """Which values of those masks are valid data."""


LEVELS = {
    "L2A": Level("maja-l2a", "maja", "L2A", ("EDG_R2", "EDG_R1"), lambda edge: edge == 0),
    "L3A": Level("maja-l3a-monthly", "wasp", "L3A", ("FLG_R2", "FLG_R1"), lambda flag: flag != 0),
    SNOW: Level("lis-snow", "lis", "L2B", ("SNW_R2",), lambda snow: snow != SNOW_NO_DATA),
}
MAX_CLOUD_COVER = 90.0
CHARACTERISTICS = "./Product_Characteristics"
ORGANISATION = "./Product_Organisation/Muscate_Product"
GEOPOSITIONING = "./Geoposition_Informations/Geopositioning"
MEAN_ANGLES = "./Geometric_Informations/Mean_Value_List"
CORNERS = ("upperLeft", "upperRight", "lowerRight", "lowerLeft")
GROUP = re.compile(r"_(R\d+)\b")


@dataclass(frozen=True)
class ListedFile:
    """An image or mask file that the metadata lists."""

    key: str
    path: Path
    nature: str
    is_mask: bool


@register
class TheiaMuscate(Reader):
    name: ClassVar[str] = "theia-muscate"
    collection: ClassVar[str | None] = None

    def detect(self, path: Path) -> bool:
        return _metadata_file(path) is not None

    def read(self, path: Path) -> list[dict[str, Any]]:
        metadata = _metadata_file(path)
        if metadata is None:
            raise ReaderError(f"{path}: not a THEIA/MUSCATE product (no <id>{METADATA_SUFFIX})")
        root = parse_xml(metadata)
        if root.tag != "Muscate_Metadata_Document":
            raise ReaderError(f"{metadata}: root element is {root.tag}, not Muscate_Metadata_Document")
        return [_item(metadata, root)]


def _metadata_file(path: Path) -> Path | None:
    named = path / f"{path.name}{METADATA_SUFFIX}"
    if _is_metadata(named.name) and named.is_file():  # the usual layout: found without listing the folder
        return named
    if path.is_dir():
        found = [child for child in path.glob(f"*{METADATA_SUFFIX}") if _is_metadata(child.name)]
        return found[0] if len(found) == 1 else None
    return path if path.is_file() and _is_metadata(path.name) else None


def _is_metadata(name: str) -> bool:
    match = MUSCATE_ID.match(name.removesuffix(METADATA_SUFFIX)) if name.endswith(METADATA_SUFFIX) else None
    return match is not None and match["level"] in LEVELS


def _item(metadata: Path, root: ET.Element) -> dict[str, Any]:
    product_id = required_text(root, f"{CHARACTERISTICS}/PRODUCT_ID", metadata)
    level = required_text(root, f"{CHARACTERISTICS}/PRODUCT_LEVEL", metadata)
    if level not in LEVELS:
        raise ReaderError(f"{metadata}: product level {level} is not one of {', '.join(LEVELS)}")
    collection, software = LEVELS[level].collection, LEVELS[level].software
    tile = product_tile(required_text(root, "./Dataset_Identification/GEOGRAPHICAL_ZONE", metadata), metadata)
    _check_crs(root, tile, metadata)
    acquired = parse_datetime(
        required_text(root, f"{CHARACTERISTICS}/ACQUISITION_DATE", metadata), metadata, "ACQUISITION_DATE"
    )
    platform = sentinel_platform(required_text(root, f"{CHARACTERISTICS}/PLATFORM", metadata))
    version = _version(root, product_id, metadata)
    cloud = _percentage(root, "CloudPercent", metadata)
    snow = _percentage(root, "SnowPercent", metadata)
    produced = _datetime(root, f"{CHARACTERISTICS}/PRODUCTION_DATE", metadata)
    folder = metadata.parent
    files = _listed_files(root, product_id, folder)
    valid = _valid(level, cloud, files, root, folder)
    grids = _group_grids(root, metadata)

    properties: dict[str, Any] = {
        **_dates(level, acquired, root, metadata),
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "processing:level": LEVELS[level].stac_level,
        "processing:software": {software: version},
        "processing:version": version,
        **_view_angles(root, metadata),
        **(grids.get("R2", {}) if level == SNOW else {}),  # one grid, on the item as LIS 1.7+ items have it
        VALID: valid,
    }
    optional = {
        "platform": platform,
        "eo:cloud_cover": cloud,
        "eo:snow_cover": snow,
        "sat:absolute_orbit": _orbit(root, metadata),
        "processing:datetime": stac_datetime(produced) if produced else None,
    }
    properties.update({key: value for key, value in optional.items() if value is not None})

    assets = {"MTD_ALL": asset(collection, "MTD_ALL", metadata, roles=("metadata",), title="Product metadata")}
    quicklook = xml_text(root, f"{ORGANISATION}/QUICKLOOK")
    if quicklook is not None and (valid or (folder / quicklook).is_file()):  # invalid: metadata only, if so
        assets["QKL_ALL"] = asset(collection, "QKL_ALL", folder / quicklook, roles=("thumbnail", "overview"))
    if valid:
        groups = _band_groups(root)
        for listed in files.values():
            title = f"{listed.key} – {listed.nature.replace('_', ' ').lower()}"
            roles = ("data-mask",) if listed.is_mask else ("data",)
            grid = grids.get(_group(listed.key, groups), {})
            assets[listed.key] = asset(collection, listed.key, listed.path, roles=roles, title=title, **grid)

    return tiled_item(
        item_id=product_id,
        collection=collection,
        tile=tile,
        properties=properties,
        assets=assets,
        footprint=_footprint(level, valid, files, root, tile, metadata),
        derived_from=_inputs(root, product_id),
    )


def _check_crs(root: ET.Element, tile: Tile, metadata: Path) -> None:
    code = xml_text(root, "./Geoposition_Informations/Coordinate_Reference_System//HORIZONTAL_CS_CODE")
    if code is not None and code != str(tile.epsg):
        raise ReaderError(f"{metadata}: CRS EPSG:{code} is not EPSG:{tile.epsg} of tile {tile.id}")


def _datetime(root: ET.Element, xpath: str, metadata: Path) -> datetime | None:
    text = xml_text(root, xpath)
    return None if text is None else parse_datetime(text, metadata, xpath.rsplit("/", 1)[-1])


def _version(root: ET.Element, product_id: str, metadata: Path) -> str:
    """The product version (``3.1``), from PRODUCT_VERSION or else from the id (``_V3-1``)."""
    version = xml_text(root, f"{CHARACTERISTICS}/PRODUCT_VERSION")
    if version is None:
        match = MUSCATE_ID.match(product_id)
        if match is None:
            raise ReaderError(f"{metadata}: no PRODUCT_VERSION, and product id {product_id} gives none")
        version = match["version"].replace("-", ".")
    return version


def _percentage(root: ET.Element, name: str, metadata: Path) -> float | None:
    value = quality_index(root, name)
    return None if value is None else parse_percentage(value, metadata, name)


def _orbit(root: ET.Element, metadata: Path) -> int | None:
    """The absolute orbit; syntheses write -1."""
    value = xml_text(root, f"{CHARACTERISTICS}/ORBIT_NUMBER[@type='Orbit']")
    orbit = None if value is None else int(parse_number(value, metadata, "ORBIT_NUMBER"))
    return orbit if orbit is not None and orbit > 0 else None


def _listed_files(root: ET.Element, product_id: str, folder: Path) -> dict[str, ListedFile]:
    """The image and mask files by key; a file listed several times (one band or bit each) once."""
    listed: dict[str, ListedFile] = {}
    for kind, tag in (("Image_List", "IMAGE_FILE"), ("Mask_List", "MASK_FILE")):
        for entry in root.iterfind(f"{ORGANISATION}/{kind}/*"):
            nature = xml_text(entry, ".//NATURE") or ""
            for element in entry.iter(tag):
                relative = (element.text or "").strip()
                if relative:
                    key = Path(relative).stem.removeprefix(f"{product_id}_")
                    listed.setdefault(key, ListedFile(key, folder / relative, nature, kind == "Mask_List"))
    return listed


def _valid(level: str, cloud: float | None, files: dict[str, ListedFile], root: ET.Element, folder: Path) -> bool:
    if level == SNOW:
        return any(key in files for key in LEVELS[SNOW].data_masks)
    if not any("Reflectance" in listed.nature for listed in files.values() if not listed.is_mask):
        return False
    if level == "L2A" and cloud is not None and cloud > MAX_CLOUD_COVER:
        return False
    return not _flagged_not_valid(root, folder)


def _flagged_not_valid(root: ET.Element, folder: Path) -> bool:
    """Whether MAJA's job processing report, when the product has it, sets Validity_Flag to L2NOTV."""
    for data in root.iterfind(f"{ORGANISATION}/Data_List/Data"):
        report = xml_text(data, ".//DATA_FILE")
        if xml_text(data, ".//NATURE") != "Job_Processing_Informations_File" or report is None:
            continue
        if (folder / report).is_file():
            for flag in parse_xml(folder / report).iterfind(".//Processing_Flags_And_Modes"):
                if xml_text(flag, "Key") == "Validity_Flag" and "NOTV" in (xml_text(flag, "Value") or ""):
                    return True
    return False


def _dates(level: str, acquired: datetime, root: ET.Element, metadata: Path) -> dict[str, str]:
    if level != "L3A":
        return {"datetime": stac_datetime(acquired)}
    acquisition_range = f"{CHARACTERISTICS}/UTC_Acquisition_Range"
    central = _datetime(root, f"{acquisition_range}/SYNTHESIS_DATE", metadata) or acquired
    begin = _datetime(root, f"{acquisition_range}/SYNTHESIS_PERIOD_BEGIN", metadata)
    end = _datetime(root, f"{acquisition_range}/SYNTHESIS_PERIOD_END", metadata)
    if begin is None or end is None:
        begin = central.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (begin + timedelta(days=32)).replace(day=1) - timedelta(microseconds=1)
    return {
        "datetime": stac_datetime(central),
        "start_datetime": stac_datetime(begin),
        "end_datetime": stac_datetime(end),
    }


def _view_angles(root: ET.Element, metadata: Path) -> dict[str, float]:
    """Mean sun angles, and viewing angles averaged over the bands (the azimuth as a circular mean)."""
    angles: dict[str, float] = {}
    sun_zenith = xml_text(root, f"{MEAN_ANGLES}/Sun_Angles/ZENITH_ANGLE")
    sun_azimuth = xml_text(root, f"{MEAN_ANGLES}/Sun_Angles/AZIMUTH_ANGLE")
    if sun_zenith is not None and sun_azimuth is not None:
        angles["view:sun_elevation"] = round(90 - parse_number(sun_zenith, metadata, "sun zenith angle"), 4)
        angles["view:sun_azimuth"] = round(parse_number(sun_azimuth, metadata, "sun azimuth angle") % 360, 4)
    zeniths, azimuths = [], []
    for band in root.iterfind(f"{MEAN_ANGLES}/Mean_Viewing_Incidence_Angle_List/Mean_Viewing_Incidence_Angle"):
        zenith, azimuth = xml_text(band, "ZENITH_ANGLE"), xml_text(band, "AZIMUTH_ANGLE")
        if zenith is not None and azimuth is not None:
            zeniths.append(parse_number(zenith, metadata, "viewing zenith angle"))
            azimuths.append(math.radians(parse_number(azimuth, metadata, "viewing azimuth angle")))
    if zeniths:
        angles["view:incidence_angle"] = round(sum(zeniths) / len(zeniths), 4)
        mean = math.atan2(sum(map(math.sin, azimuths)), sum(map(math.cos, azimuths)))
        angles["view:azimuth"] = round(math.degrees(mean) % 360, 4)
    return angles


def _band_groups(root: ET.Element) -> dict[str, str]:
    """Band -> resolution group (``B2`` -> ``R1``)."""
    return {
        band.text.strip(): group.get("group_id", "")
        for group in root.iterfind(f"{CHARACTERISTICS}/Band_Group_List/Group")
        for band in group.iter("BAND_ID")
        if band.text
    }


def _group(key: str, groups: dict[str, str]) -> str:
    """The resolution group of a file key: ``CLM_R1`` -> R1, ``SRE_B5`` -> the group of band B5."""
    match = GROUP.search(key)
    return match.group(1) if match else groups.get(key.rsplit("_", 1)[-1], "")


def _group_grids(root: ET.Element, metadata: Path) -> dict[str, dict[str, list[Any]]]:
    """Resolution group -> the ``proj:shape`` and ``proj:transform`` of its rasters."""
    grids: dict[str, dict[str, list[Any]]] = {}
    for group in root.iterfind(f"{GEOPOSITIONING}/Group_Geopositioning_List/Group_Geopositioning"):
        values = {name: xml_text(group, name) for name in ("ULX", "ULY", "XDIM", "YDIM", "NROWS", "NCOLS")}
        if any(value is None for value in values.values()):
            continue
        number = {name: parse_number(str(value), metadata, name) for name, value in values.items()}
        grids[group.get("group_id", "")] = {
            "proj:shape": [int(number["NROWS"]), int(number["NCOLS"])],
            "proj:transform": [number["XDIM"], 0.0, number["ULX"], 0.0, number["YDIM"], number["ULY"]],
        }
    return grids


def _footprint(
    level: str, valid: bool, files: dict[str, ListedFile], root: ET.Element, tile: Tile, metadata: Path
) -> BaseGeometry | None:
    """The valid data of the product's data mask when it is on disk, else the corners that the metadata gives."""
    keys = LEVELS[level].data_masks
    mask = next((files[key].path for key in keys if valid and key in files and files[key].path.is_file()), None)
    if mask is not None:
        return read_raster(mask, tile, LEVELS[level].valid_data).footprint
    points = {point.get("name"): point for point in root.iterfind(f"{GEOPOSITIONING}/Global_Geopositioning/Point")}
    if not all(name in points for name in CORNERS):
        return None
    corners = [points[name] for name in CORNERS]
    if all(xml_text(point, "X") is not None and xml_text(point, "Y") is not None for point in corners):
        xy = [(_coordinate(point, "X", metadata), _coordinate(point, "Y", metadata)) for point in corners]
        if Polygon(xy).equals(tile.utm_box):
            return None  # the whole tile (the usual case): its footprint, computed once per tile
        return tile.to_wgs84(Polygon(xy))
    lonlat = [(_coordinate(point, "LON", metadata), _coordinate(point, "LAT", metadata)) for point in corners]
    return fix_antimeridian(Polygon(lonlat))


def _coordinate(point: ET.Element, name: str, metadata: Path) -> float:
    return parse_number(xml_text(point, name) or "", metadata, f"{point.get('name')} {name}")


def _inputs(root: ET.Element, product_id: str) -> list[tuple[str, str]]:
    """The L2A products listed as inputs (the previous L2A of a nominal run, the L2As of a synthesis)."""
    ids = {xml_text(product, "PRODUCT_ID") for product in root.iterfind("./Production_Informations//Inputs_List/*")}
    return [
        ("maja-l2a", input_id)
        for input_id in sorted(i for i in ids if i is not None and i != product_id)
        if (match := MUSCATE_ID.match(input_id)) and match["level"] == "L2A"
    ]
