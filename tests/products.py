"""Real products of the centre's chains written on disk for tests: MAJA L2A and WASP L3A (THEIA/MUSCATE), the
legacy MUSCATE snow products (L2B-SNOW), LIS,
Surfwater and S1Tiling, named and laid out as the chains do, with tiny Cloud Optimized GeoTIFFs (rio-cogeo)
georeferenced on their tile. The MUSCATE metadata is the real MTD_ALL.xml fixture with this product's values.

Rasters have no data on the western quarter of the tile, so that footprints from valid data are checkable.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
from conftest import FIXTURES
from numpy.typing import NDArray
from pyproj import Transformer

from hygor import grid
from hygor.grid import Tile
from reference_chains import rasters as reference_rasters
from reference_chains.rasters import write_cog

MUSCATE_FIXTURE = FIXTURES / "real/theia/SENTINEL2A_20170203-071245-541_L2A_T38KPD_C_V1-0_MTD_ALL.xml"
FIXTURE_STAMP = "SENTINEL2A_20170203-071245-541"
PIXELS = 64  # a side, for 10 m rasters; 20 m rasters have half
R2_BANDS = {"B5", "B6", "B7", "B8A", "B11", "B12"}
BANDS = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")


def no_data_west(shape: tuple[int, int]) -> NDArray[np.bool_]:
    """True on the western quarter of a raster: where test products have no data."""
    columns = np.arange(shape[1])[np.newaxis, :].repeat(shape[0], axis=0)
    empty: NDArray[np.bool_] = columns < shape[1] // 4
    return empty


def write_picture(path: Path, driver: str = "JPEG") -> Path:
    """A small grey quicklook."""
    return reference_rasters.write_picture(path, np.full((3, 16, 16), 128, dtype=np.uint8), driver)


def muscate_id(platform: str, when: datetime, level: str, tile_id: str, version: str) -> str:
    return f"{platform}_{when:%Y%m%d-%H%M%S}-{when.microsecond // 1000:03d}_{level}_T{tile_id}_C_V{version}"


def write_muscate_l2a(
    root: Path,
    *,
    tile: str = "31TCJ",
    when: datetime = datetime(2023, 6, 15, 10, 58, 56, 463000, tzinfo=UTC),
    cloud_cover: float = 12.0,
    snow_cover: float = 0.0,
    valid: bool = True,
    with_rasters: bool = True,
    platform: str = "SENTINEL2A",
    version: str = "3-1",
    previous: str | None = None,
) -> Path:
    """A MAJA L2A product folder. Not ``valid``: its metadata lists no image and it holds no raster (MAJA's
    output for a too cloudy date), only the metadata and quicklook. ``previous``: the L2A id of a nominal run's
    previous product, listed among the inputs.
    """
    product_id = muscate_id(platform, when, "L2A", tile, version)
    document = muscate_document(product_id, when, cloud_cover, snow_cover, version)
    organisation = _find(document, "./Product_Organisation/Muscate_Product")
    if not valid:
        for listing in ("Image_List", "Mask_List"):
            _find(organisation, listing).clear()
    if previous is not None:
        inputs = _find(document, "./Production_Informations//Inputs_List")
        ET.SubElement(ET.SubElement(inputs, "PRODUCT"), "PRODUCT_ID").text = previous
    return _write_muscate(root, product_id, document, with_rasters)


def write_wasp_l3a(
    root: Path,
    *,
    tile: str = "31TCJ",
    month: date = date(2023, 6, 1),
    cloud_cover: float = 4.0,
    with_period: bool = True,
    with_rasters: bool = True,
    version: str = "1-1",
) -> Path:
    """A WASP monthly synthesis (L3A) folder: central date the 15th. ``with_period``: the metadata gives the
    synthesis period (MUSCATE's SYNTHESIS_PERIOD_BEGIN/END), else only the central date, as WASP writes it.
    """
    central = datetime(month.year, month.month, 15, tzinfo=UTC)
    product_id = muscate_id("SENTINEL2X", central, "L3A", tile, version)
    document = wasp_document(product_id, month, cloud_cover, with_period, version)
    return _write_muscate(root, product_id, document, with_rasters)


def write_muscate_snow(
    root: Path,
    *,
    tile: str = "32TLS",
    when: datetime = datetime(2016, 9, 12, 10, 35, 51, 370000, tzinfo=UTC),
    version: str = "1-0",
    cloud_cover: float = 8.5,
    snow_cover: float = 31.0,
    with_rasters: bool = True,
    valid: bool = True,
) -> Path:
    """A legacy THEIA snow product (MUSCATE L2B-SNOW, LIS before 1.7), ``<id>_SNW_R2.tif`` and its metadata;
    its input is the SENTINEL2A L2A of the same tile and date. Not ``valid``: the metadata lists no snow mask.
    """
    made_as = muscate_id("SENTINEL2A", when, "L2B-SNOW", tile, version)
    product_id = made_as.replace("_C_V", "_D_V")  # the kind of the archive's snow products
    source = muscate_id("SENTINEL2A", when, "L2A", tile, "1-0")
    text = ET.tostring(muscate_document(made_as, when, cloud_cover, snow_cover, version), encoding="unicode")
    document = snow_document(ET.fromstring(text.replace(made_as, product_id)), source)
    if not valid:
        _find(document, "./Product_Organisation/Muscate_Product/Image_List").clear()
    folder = _write_muscate(root, product_id, document, with_rasters=False)
    if with_rasters:
        write_picture(folder / f"{product_id}_QKL_ALL.jpg")
        shape = (PIXELS // 2, PIXELS // 2)
        snow = np.where(no_data_west(shape), 254, 100).astype(np.uint8)
        write_cog(folder / f"{product_id}_SNW_R2.tif", snow, grid.tile(tile), nodata=254)
    return folder


def snow_document(l2a_document: ET.Element, source: str) -> ET.Element:
    """An L2B-SNOW Muscate_Metadata_Document from an L2A one (same identification, geoposition and quality
    indexes): level L2B-SNOW, the snow mask as its one image, no angles nor radiometry, ``source`` as input.
    """
    document = l2a_document
    product_id = _find(document, "./Product_Characteristics/PRODUCT_ID").text or ""
    characteristics = _find(document, "./Product_Characteristics")
    _find(characteristics, "PRODUCT_LEVEL").text = "L2B-SNOW"
    for xpath in ("./Product_Characteristics/Band_Global_List", "./Product_Characteristics/Band_Group_List"):
        characteristics.remove(_find(document, xpath))
    for section in ("Geometric_Informations", "Radiometric_Informations"):
        document.remove(_find(document, section))
    organisation = _find(document, "./Product_Organisation/Muscate_Product")
    for listing in ("Image_List", "Mask_List", "Data_List"):
        _find(organisation, listing).clear()
    image_list = _find(organisation, "Image_List")
    _list_files(image_list, "Image", "Snow_Mask", [(f"{product_id}_SNW_R2.tif", {"group_id": "R2"})])
    for listing, product in (("Inputs_List", source), ("Outputs_List", product_id)):
        products = _find(document, f"./Production_Informations//{listing}")
        products.clear()
        ET.SubElement(ET.SubElement(products, "PRODUCT"), "PRODUCT_ID").text = product
    return document


def wasp_document(product_id: str, month: date, cloud_cover: float, with_period: bool, version: str) -> ET.Element:
    """The Muscate_Metadata_Document of a WASP synthesis of ``month`` (see ``write_wasp_l3a``)."""
    central = datetime(month.year, month.month, 15, tzinfo=UTC)
    document = muscate_document(product_id, central, cloud_cover, 0.0, version)
    characteristics = _find(document, "./Product_Characteristics")
    _find(characteristics, "PRODUCT_LEVEL").text = "L3A"
    _find(characteristics, "PLATFORM").text = "SENTINEL2X"
    _find(characteristics, "ORBIT_NUMBER").text = "-1"
    if with_period:
        period = _find(characteristics, "UTC_Acquisition_Range")
        period.clear()
        last = date(month.year + month.month // 12, month.month % 12 + 1, 1) - timedelta(days=1)
        for name, value in (
            ("SYNTHESIS_DATE", f"{central:%Y-%m-%d}T00:00:00.000Z"),
            ("SYNTHESIS_PERIOD_BEGIN", f"{month:%Y-%m-01}T00:00:00.000Z"),
            ("SYNTHESIS_PERIOD_END", f"{last:%Y-%m-%d}T23:59:59.999Z"),
        ):
            ET.SubElement(period, name).text = value
    organisation = _find(document, "./Product_Organisation/Muscate_Product")
    images, masks = _find(organisation, "Image_List"), _find(organisation, "Mask_List")
    images.clear()
    masks.clear()
    _list_files(
        images, "Image", "Flat_Reflectance_Composite", [(f"{product_id}_FRC_{b}.tif", {"band_id": b}) for b in BANDS]
    )
    for kind, nature in (("WGT", "Pixel_Weight"), ("DTS", "Weighted_Average_Dates"), ("FLG", "Pixel_Status_Flag")):
        files = [(f"MASKS/{product_id}_{kind}_{group}.tif", {"group_id": group}) for group in ("R1", "R2")]
        _list_files(masks, "Mask", nature, files)
    return document


def write_jpi(product: Path, validity_flag: str) -> Path:
    """MAJA's job processing report (DATA/<id>_JPI_ALL.xml) with this Validity_Flag (L2VALD or L2NOTV)."""
    path = product / "DATA" / f"{product.name}_JPI_ALL.xml"
    report = ET.Element("JobProcessingInformations")
    flags = ET.SubElement(report, "Processing_Flags_And_Modes_List")
    for key, value in (("Processing_Mode", "NOMINAL"), ("Validity_Flag", validity_flag)):
        flag = ET.SubElement(flags, "Processing_Flags_And_Modes")
        ET.SubElement(flag, "Key").text = key
        ET.SubElement(flag, "Value").text = value
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(report).write(path, encoding="utf-8", xml_declaration=True)
    return path


def _find(element: ET.Element, xpath: str) -> ET.Element:
    found = element.find(xpath)
    assert found is not None, xpath
    return found


def muscate_document(
    product_id: str, when: datetime, cloud_cover: float, snow_cover: float, version: str
) -> ET.Element:
    """The fixture's metadata with this product's id, file names, dates, tile, geoposition and percentages."""
    platform, stamp, level, tile_code = product_id.split("_")[:4]
    where = grid.tile(tile_code)
    text = MUSCATE_FIXTURE.read_text()
    text = (
        text.replace(FIXTURE_STAMP, f"{platform}_{stamp}").replace("T38KPD", tile_code).replace("_V1-0", f"_V{version}")
    )
    document = ET.fromstring(text.replace("_L2A_", f"_{level}_"))
    acquired = f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}Z"
    for xpath in (".//ACQUISITION_DATE", "./Product_Characteristics/UTC_Acquisition_Range/MEAN"):
        for element in document.iterfind(xpath):
            element.text = acquired
    for element in document.iterfind(".//PRODUCTION_DATE"):
        element.text = acquired
    _find(document, "./Product_Characteristics/PRODUCT_VERSION").text = version.replace("-", ".")
    _find(document, "./Product_Characteristics/PLATFORM").text = platform
    _find(document, ".//QUALITY_INDEX[@name='CloudPercent']").text = f"{cloud_cover:g}"
    _find(document, ".//QUALITY_INDEX[@name='SnowPercent']").text = f"{snow_cover:g}"
    crs = _find(document, ".//Horizontal_Coordinate_System")
    _find(crs, "HORIZONTAL_CS_CODE").text = str(where.epsg)
    zone = f"{where.utm_zone}{'N' if where.epsg < 32700 else 'S'}"
    _find(crs, "HORIZONTAL_CS_NAME").text = f"WGS 84 / UTM zone {zone}"
    to_wgs84 = Transformer.from_crs(where.epsg, 4326, always_xy=True)
    corners = {
        "upperLeft": (where.xmin, where.ymax),
        "upperRight": (where.xmax, where.ymax),
        "lowerRight": (where.xmax, where.ymin),
        "lowerLeft": (where.xmin, where.ymin),
        "center": ((where.xmin + where.xmax) / 2, (where.ymin + where.ymax) / 2),
    }
    for point in document.iterfind(".//Global_Geopositioning/Point"):
        x, y = corners[point.get("name", "")]
        lon, lat = to_wgs84.transform(x, y)
        for name, value in (("X", x), ("Y", y), ("LON", round(lon, 4)), ("LAT", round(lat, 4))):
            _find(point, name).text = f"{value:g}"
    for group in document.iterfind(".//Group_Geopositioning"):
        pixels = PIXELS if group.get("group_id") == "R1" else PIXELS // 2
        size = (where.xmax - where.xmin) / pixels
        values = {"ULX": where.xmin, "ULY": where.ymax, "XDIM": size, "YDIM": -size, "NROWS": pixels, "NCOLS": pixels}
        for name, value in values.items():
            _find(group, name).text = f"{value:g}"
    return document


def _list_files(listing: ET.Element, kind: str, nature: str, files: Sequence[tuple[str, dict[str, str]]]) -> None:
    entry = ET.SubElement(listing, kind)
    properties = ET.SubElement(entry, f"{kind}_Properties")
    ET.SubElement(properties, "NATURE").text = nature
    ET.SubElement(properties, "FORMAT").text = "image/tiff"
    file_list = ET.SubElement(entry, f"{kind}_File_List")
    for name, attributes in files:
        ET.SubElement(file_list, f"{kind.upper()}_FILE", attributes).text = name


def _write_muscate(root: Path, product_id: str, document: ET.Element, with_rasters: bool) -> Path:
    folder = root / product_id
    folder.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(document).write(folder / f"{product_id}_MTD_ALL.xml", encoding="utf-8", xml_declaration=True)
    if not with_rasters:
        return folder
    where = grid.tile(_find(document, ".//GEOGRAPHICAL_ZONE").text or "")
    write_picture(folder / f"{product_id}_QKL_ALL.jpg")
    listed = {
        (element.text or "").strip()
        for element in document.iterfind("./Product_Organisation/Muscate_Product/*/*/*/*")
        if element.tag in ("IMAGE_FILE", "MASK_FILE")
    }
    for name in sorted(listed):
        kind, band = Path(name).stem.rsplit("_", 2)[-2:]
        pixels = PIXELS // 2 if band == "R2" or band in R2_BANDS else PIXELS
        _write_muscate_raster(folder / name, kind, (pixels, pixels), where)
    return folder


def _write_muscate_raster(path: Path, kind: str, shape: tuple[int, int], where: Tile) -> None:
    empty = no_data_west(shape)
    if kind in ("SRE", "FRE", "FRC", "WGT", "DTS"):
        write_cog(path, np.where(empty, -10000, 1200).astype(np.int16), where, nodata=-10000)
    elif kind == "ATB":
        write_cog(path, np.stack([np.where(empty, 0, 30), np.where(empty, 0, 20)]).astype(np.uint8), where)
    elif kind == "EDG":
        write_cog(path, empty.astype(np.uint8), where)
    elif kind == "FLG":
        write_cog(path, np.where(empty, 0, 4).astype(np.uint8), where)
    else:
        write_cog(path, np.zeros(shape, dtype=np.uint8), where)


def write_lis(
    root: Path,
    *,
    tile: str = "31TCH",
    when: datetime = datetime(2018, 1, 1, 10, 54, 35, tzinfo=UTC),
    version: str = "1.7.0",
    counter: int = 1,
    source: str | None = None,
    snow_cover: float = 23.5,
    cloud_cover: float = 10.2,
    on_ground: bool = True,
    quicklook: bool = False,
) -> Path:
    """A LIS output folder (named as the product); ``source``: the L2A id in LIS_METADATA.XML (by default the
    SENTINEL2A L2A of the same tile and date); ``on_ground``: with the FSC on ground (needs a tree cover map).
    """
    where = grid.tile(tile)
    suffix = f"T{tile}_{when:%Y%m%dT%H%M%S}_{version}_{counter}"
    folder = root / f"LIS_S2-SNOW-FSC_{suffix}"
    shape = (PIXELS // 2, PIXELS // 2)
    empty = no_data_west(shape)
    fsc = np.where(empty, 255, 40).astype(np.uint8)
    write_cog(folder / f"LIS_S2-SNOW-FSC-TOC_{suffix}.tif", fsc, where, nodata=255)
    if on_ground:
        write_cog(folder / f"LIS_S2-SNOW-FSC_{suffix}.tif", fsc, where, nodata=255)
    write_cog(folder / f"LIS_S2-SNOW-FSC-QCFLAGS_{suffix}.tif", np.zeros(shape, dtype=np.uint8), where)
    if quicklook:
        write_picture(folder / f"LIS_S2-SNOW-FSC-QKL_{suffix}.png", "PNG")
    source = source or muscate_id("SENTINEL2A", when, "L2A", tile, "3-1")
    metadata = ET.Element("Source_Product")
    ET.SubElement(metadata, "PRODUCT_ID").text = source
    ET.SubElement(metadata, "DOI").text = "https://doi.org/10.24400/329360/F7Q52MNK"
    indexes = ET.SubElement(metadata, "Global_Index_List")
    for name, value in (("ZS", 1250.0), ("SnowPercent", snow_cover), ("CloudPercent", cloud_cover)):
        ET.SubElement(indexes, "QUALITY_INDEX", name=name).text = str(value)
    ET.ElementTree(metadata).write(folder / "LIS_METADATA.XML", encoding="utf-8", xml_declaration=True)
    return folder


def write_surfwater(
    root: Path,
    *,
    tile: str = "31TCJ",
    when: datetime = datetime(2023, 6, 15, 10, 58, 56, tzinfo=UTC),
    platform: str = "S2A",
    version: str = "1-0",
    cloud_cover: float = 12.5,
    water: float = 3.1,
    valid: bool = True,
    source: str | None = None,
    quicklook: bool = True,
) -> Path:
    """A Surfwater product folder in the format of ``hygor.readers.surfwater``; not ``valid``: no raster."""
    product_id = f"SURFWATER_{platform}_{when:%Y%m%d-%H%M%S}_T{tile}_V{version}"
    folder = root / product_id
    folder.mkdir(parents=True, exist_ok=True)
    if valid:
        where = grid.tile(tile)
        empty = no_data_west((PIXELS, PIXELS))
        write_cog(folder / f"{product_id}_WATER.tif", np.where(empty, 255, 0).astype(np.uint8), where, nodata=255)
        write_cog(folder / f"{product_id}_PROBA.tif", np.where(empty, 255, 5).astype(np.uint8), where, nodata=255)
    if quicklook:
        write_picture(folder / f"{product_id}_QKL.png", "PNG")
    metadata = {
        "product_id": product_id,
        "tile": tile,
        "acquisition_datetime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": f"sentinel-{platform[1:].lower()}",
        "source_product_id": source or muscate_id(f"SENTINEL{platform[1:]}", when, "L2A", tile, "3-1"),
        "chain_version": version.replace("-", "."),
        "water_percentage": water,
        "cloud_percentage": cloud_cover,
        "valid": valid,
    }
    (folder / f"{product_id}_MTD.json").write_text(json.dumps(metadata, indent=2))
    return folder


def write_s1tiling(
    root: Path,
    *,
    tile: str = "33NWB",
    when: datetime = datetime(2020, 1, 8, 5, 42, 33, tzinfo=UTC),
    unit: str = "s1a",
    direction: str = "DES",
    orbit: int = 7,
    polarisations: Sequence[str] = ("vv", "vh"),
    concatenated: bool = False,
    normlim: bool = False,
    version: str = "1.1.0",
) -> Path:
    """S1Tiling outputs of one pass in ``root/<tile>/`` (S1Tiling's layout), with their border masks; returns
    that folder. ``concatenated``: the stamp's time is ``xxxxxx``; ``normlim``: NormLim images and sin(LIA) too.
    """
    where = grid.tile(tile)
    folder = root / tile
    stamp = f"{when:%Y%m%d}t" + ("xxxxxx" if concatenated else f"{when:%H%M%S}")
    tags = {"ACQUISITION_DATETIME": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "TIFFTAG_SOFTWARE": f"S1 Tiling v{version}"}
    empty = no_data_west((PIXELS, PIXELS))
    sigma0 = np.where(empty, 0, 0.05).astype(np.float32)
    for polarisation in polarisations:
        name = f"{unit}_{tile}_{polarisation}_{direction}_{orbit:03d}_{stamp}"
        write_cog(folder / f"{name}.tif", sigma0, where, nodata=0, tags=tags)
        write_cog(folder / f"{name}_BorderMask.tif", (~empty).astype(np.uint8), where, tags=tags)
        if normlim:
            write_cog(folder / f"{name}_NormLim.tif", sigma0, where, nodata=0, tags=tags)
    if normlim:
        write_cog(folder / f"sin_LIA_{unit}_{tile}_{orbit:03d}.tif", np.full(empty.shape, 0.7, np.float32), where)
    return folder
