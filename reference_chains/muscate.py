"""Writing THEIA/MUSCATE products (MAJA L2A, WASP L3A): the ``<id>_MTD_ALL.xml`` Muscate_Metadata_Document,
int16 reflectance COGs (reflectance x 10000, -10000 no data) and the quicklook, as the ``theia-muscate`` reader
reads them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pyproj import Transformer

from hygor.grid import Tile
from reference_chains.rasters import write_cog, write_picture

BANDS = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
R1_BANDS = ("B2", "B3", "B4", "B8")
GROUPS = ("R1", "R2")
QUANTIFICATION = 10_000
NODATA = -10_000


def group_of(band: str) -> str:
    return "R1" if band in R1_BANDS else "R2"


def product_id(platform: str, when: datetime, level: str, tile: Tile, version: str) -> str:
    """``SENTINEL2A_20230615-105856-463_L2A_T31TCJ_C_V4-10`` for chain version 4.10.0."""
    major, minor = (version.split(".") + ["0"])[:2]
    stamp = f"{when:%Y%m%d-%H%M%S}-{when.microsecond // 1000:03d}"
    return f"{platform}_{stamp}_{level}_T{tile.id}_C_V{major}-{minor}"


def resize(data: NDArray[Any], shape: tuple[int, int]) -> NDArray[Any]:
    """Nearest-neighbour resampling of a raster of the tile onto another grid of the tile."""
    if data.shape == shape:
        return data
    rows = (np.arange(shape[0]) * data.shape[0] // shape[0]).astype(int)
    columns = (np.arange(shape[1]) * data.shape[1] // shape[1]).astype(int)
    return data[np.ix_(rows, columns)]


@dataclass(frozen=True)
class Listing:
    """Files of one nature in the metadata's Image_List, Mask_List or Data_List: (relative path, attributes)."""

    kind: str  # Image, Mask or Data
    nature: str
    files: Sequence[tuple[str, Mapping[str, str]]]


@dataclass(frozen=True)
class Description:
    """What the metadata document says of a product, beside its file listings."""

    product_id: str
    level: str
    tile: Tile
    platform: str
    acquired: datetime
    version: str
    shapes: Mapping[str, tuple[int, int]]
    cloud_percent: float
    snow_percent: float
    orbit: int = -1
    sun: tuple[float, float] | None = None  # zenith, azimuth (degrees)
    inputs: Sequence[str] = ()
    produced: datetime = field(default_factory=lambda: datetime.now(UTC))


def reflectance_listing(description: Description, kind: str, nature: str) -> Listing:
    files = [(f"{description.product_id}_{kind}_{band}.tif", {"band_id": band}) for band in BANDS]
    return Listing("Image", nature, files)


def mask_listing(description: Description, kind: str, nature: str, groups: Sequence[str] = GROUPS) -> Listing:
    return Listing(
        "Mask", nature, [(f"MASKS/{description.product_id}_{kind}_{g}.tif", {"group_id": g}) for g in groups]
    )


def write_reflectances(folder: Path, description: Description, kind: str, values: Mapping[str, NDArray[Any]]) -> None:
    """``<id>_<kind>_<band>.tif`` for every band: reflectance x 10000 in int16, NaN written as no data."""
    for band in BANDS:
        data = resize(values[band], description.shapes[group_of(band)])
        scaled = np.where(np.isfinite(data), np.clip(np.round(data * QUANTIFICATION), -9999, 32767), NODATA)
        path = folder / f"{description.product_id}_{kind}_{band}.tif"
        write_cog(path, scaled.astype(np.int16), description.tile, nodata=NODATA)


def write_masks(
    folder: Path,
    description: Description,
    kind: str,
    mask: NDArray[Any],
    *,
    groups: Sequence[str] = GROUPS,
    nodata: float | None = None,
) -> None:
    """``MASKS/<id>_<kind>_R1.tif`` and ``_R2.tif`` (or those of ``groups``)."""
    for group in groups:
        path = folder / "MASKS" / f"{description.product_id}_{kind}_{group}.tif"
        write_cog(path, resize(mask, description.shapes[group]), description.tile, nodata=nodata)


def write_quicklook(folder: Path, description: Description, rgb: Sequence[NDArray[Any]]) -> str:
    """``<id>_QKL_ALL.jpg`` from red, green and blue reflectances (0 to 0.3 stretched); returns its name."""
    name = f"{description.product_id}_QKL_ALL.jpg"
    picture = np.stack([np.clip(np.nan_to_num(band) / 0.3 * 255, 0, 255) for band in rgb]).astype(np.uint8)
    write_picture(folder / name, picture)
    return name


def subelement(parent: ET.Element, tag: str, text: object = None, **attributes: str) -> ET.Element:
    """A child element with its text and attributes."""
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = str(text)
    return element


def utc_time(when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}Z"


def write_metadata(folder: Path, description: Description, listings: Sequence[Listing], quicklook: str) -> Path:
    """``<id>_MTD_ALL.xml``."""
    d = description
    root = ET.Element("Muscate_Metadata_Document")
    identification = subelement(root, "Metadata_Identification")
    subelement(identification, "METADATA_FORMAT", "METADATA_MUSCATE", version="1.16")
    subelement(identification, "METADATA_PROFILE", "USER")
    dataset = subelement(root, "Dataset_Identification")
    subelement(dataset, "IDENTIFIER", d.product_id.rsplit("_V", 1)[0])
    for tag, value in (("AUTHORITY", "THEIA"), ("PRODUCER", "MUSCATE"), ("PROJECT", "SENTINEL2")):
        subelement(dataset, tag, value)
    subelement(dataset, "GEOGRAPHICAL_ZONE", f"T{d.tile.id}", type="Tile")
    characteristics = subelement(root, "Product_Characteristics")
    for tag, value in (
        ("PRODUCT_ID", d.product_id),
        ("ACQUISITION_DATE", utc_time(d.acquired)),
        ("PRODUCTION_DATE", utc_time(d.produced)),
        ("PRODUCT_VERSION", d.version),
        ("PRODUCT_LEVEL", d.level),
        ("PLATFORM", d.platform),
    ):
        subelement(characteristics, tag, value)
    subelement(characteristics, "ORBIT_NUMBER", d.orbit, type="Orbit")
    acquisition_range = subelement(characteristics, "UTC_Acquisition_Range")
    # A synthesis gives its date only, as WASP writes it: its product is the month's.
    subelement(acquisition_range, "SYNTHESIS_DATE" if d.level == "L3A" else "MEAN", utc_time(d.acquired))
    groups = subelement(characteristics, "Band_Group_List")
    for group in GROUPS:
        bands = [band for band in BANDS if group_of(band) == group]
        band_list = subelement(subelement(groups, "Group", group_id=group), "Band_List", count=str(len(bands)))
        for band in bands:
            subelement(band_list, "BAND_ID", band)
    product = subelement(subelement(root, "Product_Organisation"), "Muscate_Product")
    subelement(product, "QUICKLOOK", quicklook, bands_id="B4,B3,B2")
    for kind in ("Image", "Mask", "Data"):
        container = subelement(product, f"{kind}_List")
        for listing in (listing for listing in listings if listing.kind == kind):
            entry = subelement(container, kind)
            properties = subelement(entry, f"{kind}_Properties")
            subelement(properties, "NATURE", listing.nature)
            subelement(properties, "FORMAT", "application/xml" if kind == "Data" else "image/tiff")
            files = subelement(entry, f"{kind}_File_List")
            for relative, attributes in listing.files:
                subelement(files, f"{kind.upper()}_FILE", relative, **attributes)
    _geoposition(root, d)
    if d.sun is not None:
        sun = subelement(subelement(subelement(root, "Geometric_Informations"), "Mean_Value_List"), "Sun_Angles")
        subelement(sun, "ZENITH_ANGLE", f"{d.sun[0]:.4f}", unit="deg")
        subelement(sun, "AZIMUTH_ANGLE", f"{d.sun[1]:.4f}", unit="deg")
    radiometry = subelement(root, "Radiometric_Informations")
    subelement(radiometry, "REFLECTANCE_QUANTIFICATION_VALUE", QUANTIFICATION)
    subelement(subelement(radiometry, "Special_Values_List"), "SPECIAL_VALUE", NODATA, name="nodata")
    _quality(root, d)
    path = folder / f"{d.product_id}_MTD_ALL.xml"
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def _geoposition(root: ET.Element, d: Description) -> None:
    tile = d.tile
    informations = subelement(root, "Geoposition_Informations")
    system = subelement(subelement(informations, "Coordinate_Reference_System"), "Horizontal_Coordinate_System")
    subelement(system, "HORIZONTAL_CS_TYPE", "PROJECTED")
    subelement(system, "HORIZONTAL_CS_NAME", f"WGS 84 / UTM zone {tile.utm_zone}{'N' if tile.epsg < 32700 else 'S'}")
    subelement(system, "HORIZONTAL_CS_CODE", tile.epsg)
    positioning = subelement(informations, "Geopositioning")
    corners = {
        "upperLeft": (tile.xmin, tile.ymax),
        "upperRight": (tile.xmax, tile.ymax),
        "lowerRight": (tile.xmax, tile.ymin),
        "lowerLeft": (tile.xmin, tile.ymin),
        "center": ((tile.xmin + tile.xmax) / 2, (tile.ymin + tile.ymax) / 2),
    }
    to_wgs84 = Transformer.from_crs(tile.epsg, 4326, always_xy=True)
    points = subelement(positioning, "Global_Geopositioning")
    for name, (x, y) in corners.items():
        lon, lat = to_wgs84.transform(x, y)
        point = subelement(points, "Point", name=name)
        for tag, value in (("LAT", f"{lat:.4f}"), ("LON", f"{lon:.4f}"), ("X", f"{x:g}"), ("Y", f"{y:g}")):
            subelement(point, tag, value)
    groups = subelement(positioning, "Group_Geopositioning_List")
    for group, (rows, columns) in d.shapes.items():
        entry = subelement(groups, "Group_Geopositioning", group_id=group)
        values = (tile.xmin, tile.ymax, (tile.xmax - tile.xmin) / columns, -(tile.ymax - tile.ymin) / rows)
        for tag, number in zip(("ULX", "ULY", "XDIM", "YDIM"), values, strict=True):
            subelement(entry, tag, f"{number:g}")
        subelement(entry, "NROWS", rows)
        subelement(entry, "NCOLS", columns)


def _quality(root: ET.Element, d: Description) -> None:
    quality = subelement(
        subelement(subelement(root, "Quality_Informations"), "Current_Product"), "Product_Quality_List", level="N2"
    )
    indexes = subelement(subelement(quality, "Product_Quality"), "Global_Index_List")
    subelement(indexes, "QUALITY_INDEX", f"{d.cloud_percent:.2f}", name="CloudPercent")
    subelement(indexes, "QUALITY_INDEX", f"{d.snow_percent:.2f}", name="SnowPercent")
    job = subelement(subelement(subelement(root, "Production_Informations"), "Processing_Jobs_List"), "Job")
    subelement(job, "PRODUCER_NAME", "MUSCATE")
    subelement(job, "START_PRODUCTION_DATE", utc_time(d.produced))
    inputs = subelement(subelement(job, "Products_List"), "Inputs_List")
    for input_id in d.inputs:
        subelement(subelement(inputs, "PRODUCT"), "PRODUCT_ID", input_id)
