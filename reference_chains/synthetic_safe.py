"""Sentinel-2 L1C products in ESA's SAFE layout (compact naming, processing baseline 05.09), written from a
synthetic scene: ``MTD_MSIL1C.xml``, ``GRANULE/<granule>/MTD_TL.xml``, the JPEG2000 band files and
``manifest.safe``, as the ``esa-safe-l1c`` reader reads them.

Every band is written on the same coarse grid (``pixel_size`` metres, 549 x 549 pixels at 200 m), whatever its
native resolution: the tile metadata gives that grid for the 10, 20 and 60 m groups alike.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from numpy.typing import NDArray
from rasterio.io import MemoryFile
from rasterio.transform import from_bounds

from hygor.grid import Tile
from hygor.readers.esa_safe import SPECTRAL
from reference_chains.muscate import subelement, utc_time
from reference_chains.synthetic_scene import Scene

BASELINE = "05.09"
QUANTIFICATION = 10_000
OFFSET = -1_000  # RADIO_ADD_OFFSET of baselines 04.00 and later
L1C_NS = "https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-1C.xsd"
TILE_NS = "https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-1C_Tile_Metadata.xsd"
RESOLUTIONS = (10, 20, 60)


@dataclass(frozen=True)
class Acquisition:
    """One pass of a satellite over a tile."""

    tile: Tile
    when: datetime
    platform: str  # S2A, S2B
    relative_orbit: int
    absolute_orbit: int

    @property
    def stamp(self) -> str:
        return f"{self.when:%Y%m%dT%H%M%S}"

    @property
    def generated(self) -> datetime:
        return self.when + timedelta(hours=3, minutes=12)

    @property
    def name(self) -> str:
        """``S2A_MSIL1C_20230615T102559_N0509_R008_T31TCJ_20230615T133811``, the SAFE folder without ``.SAFE``."""
        return (
            f"{self.platform}_MSIL1C_{self.stamp}_N{BASELINE.replace('.', '')}_R{self.relative_orbit:03d}"
            f"_T{self.tile.id}_{self.generated:%Y%m%dT%H%M%S}"
        )

    @property
    def granule(self) -> str:
        return f"L1C_T{self.tile.id}_A{self.absolute_orbit:06d}_{self.stamp}"

    def granule_id(self, kind: str) -> str:
        """``S2A_OPER_MSI_L1C_TL_2APS_<generated>_A032448_T46RER_N05.09`` (``kind``: TL or DS)."""
        generated = f"{self.generated:%Y%m%dT%H%M%S}"
        where = f"A{self.absolute_orbit:06d}_T{self.tile.id}" if kind == "TL" else f"S{self.stamp}"
        return f"{self.platform}_OPER_MSI_L1C_{kind}_2APS_{generated}_{where}_N{BASELINE}"


def write_l1c(root: Path, acquisition: Acquisition, scene: Scene) -> Path:
    """The SAFE folder of ``acquisition`` in ``root``."""
    safe = root / f"{acquisition.name}.SAFE"
    images = safe / "GRANULE" / acquisition.granule / "IMG_DATA"
    images.mkdir(parents=True, exist_ok=True)
    prefix = f"T{acquisition.tile.id}_{acquisition.stamp}"
    for band, toa in scene.toa.items():
        digital = np.clip(np.round((toa * QUANTIFICATION) - OFFSET), 1, 65534).astype(np.uint16)
        _write_jp2(images / f"{prefix}_{band}.jp2", digital, acquisition.tile)
    visible = [scene.toa[band] for band in ("B04", "B03", "B02")]
    tci = np.stack([np.clip(np.round(toa / 0.2558 * 255), 1, 255) for toa in visible]).astype(np.uint8)
    _write_jp2(images / f"{prefix}_TCI.jp2", tci, acquisition.tile)
    shape = scene.cloud.shape
    _write_xml(safe / "GRANULE" / acquisition.granule / "MTD_TL.xml", _tile_metadata(acquisition, scene, shape))
    _write_xml(safe / "MTD_MSIL1C.xml", _product_metadata(acquisition, scene, prefix))
    _write_xml(safe / "manifest.safe", _manifest(safe))
    return safe


def _write_jp2(path: Path, data: NDArray[np.generic], tile: Tile) -> None:
    """A lossless JPEG2000 file (GDAL writes JPEG2000 only by copy)."""
    bands = data if data.ndim == 3 else data[np.newaxis]
    count, height, width = bands.shape
    profile = {"crs": f"EPSG:{tile.epsg}", "transform": from_bounds(*tile.bounds, width, height), "nodata": 0}
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), MemoryFile() as memory:
        with memory.open(driver="GTiff", count=count, height=height, width=width, dtype=bands.dtype, **profile) as out:
            out.write(bands)
        rasterio.shutil.copy(memory.name, path, driver="JP2OpenJPEG", QUALITY=100, REVERSIBLE="YES")


def _write_xml(path: Path, root: ET.Element) -> None:
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="UTF-8", xml_declaration=True)


def _product_metadata(acquisition: Acquisition, scene: Scene, prefix: str) -> ET.Element:
    ET.register_namespace("n1", L1C_NS)
    root = ET.Element(f"{{{L1C_NS}}}Level-1C_User_Product")
    general = subelement(root, f"{{{L1C_NS}}}General_Info")
    info = subelement(general, "Product_Info")
    for tag, value in (
        ("PRODUCT_START_TIME", utc_time(acquisition.when)),
        ("PRODUCT_STOP_TIME", utc_time(acquisition.when)),
        ("PRODUCT_URI", f"{acquisition.name}.SAFE"),
        ("PROCESSING_LEVEL", "Level-1C"),
        ("PRODUCT_TYPE", "S2MSI1C"),
        ("PROCESSING_BASELINE", BASELINE),
        ("PRODUCT_DOI", "https://doi.org/10.5270/S2_-742ikth"),
        ("GENERATION_TIME", utc_time(acquisition.generated)),
    ):
        subelement(info, tag, value)
    datatake_id = f"G{acquisition.platform}_{acquisition.stamp}_{acquisition.absolute_orbit:06d}_N{BASELINE}"
    datatake = subelement(info, "Datatake", datatakeIdentifier=datatake_id)
    subelement(datatake, "SPACECRAFT_NAME", f"Sentinel-2{acquisition.platform[-1]}")
    subelement(datatake, "DATATAKE_TYPE", "INS-NOBS")
    subelement(datatake, "DATATAKE_SENSING_START", utc_time(acquisition.when))
    subelement(datatake, "SENSING_ORBIT_NUMBER", acquisition.relative_orbit)
    subelement(datatake, "SENSING_ORBIT_DIRECTION", "DESCENDING")
    granules = subelement(subelement(info, "Product_Organisation"), "Granule_List")
    granule = subelement(
        granules,
        "Granule",
        datastripIdentifier=acquisition.granule_id("DS"),
        granuleIdentifier=acquisition.granule_id("TL"),
        imageFormat="JPEG2000",
    )
    for band in (*SPECTRAL, "TCI"):
        subelement(granule, "IMAGE_FILE", f"GRANULE/{acquisition.granule}/IMG_DATA/{prefix}_{band}")
    characteristics = subelement(general, "Product_Image_Characteristics")
    for text, index in (("NODATA", 0), ("SATURATED", 65535)):
        special = subelement(characteristics, "Special_Values")
        subelement(special, "SPECIAL_VALUE_TEXT", text)
        subelement(special, "SPECIAL_VALUE_INDEX", index)
    subelement(characteristics, "QUANTIFICATION_VALUE", QUANTIFICATION, unit="none")
    offsets = subelement(characteristics, "Radiometric_Offset_List")
    for index in range(len(SPECTRAL)):
        subelement(offsets, "RADIO_ADD_OFFSET", OFFSET, band_id=str(index))
    geometry = subelement(root, f"{{{L1C_NS}}}Geometric_Info")
    footprint = subelement(subelement(geometry, "Product_Footprint"), "Product_Footprint")
    outline = acquisition.tile.footprint()
    ring = outline.exterior if outline.geom_type == "Polygon" else outline.geoms[0].exterior
    positions = " ".join(f"{lat:.6f} {lon:.6f}" for lon, lat in ring.coords)
    subelement(subelement(footprint, "Global_Footprint"), "EXT_POS_LIST", positions)
    quality = subelement(root, f"{{{L1C_NS}}}Quality_Indicators_Info")
    subelement(quality, "Cloud_Coverage_Assessment", f"{scene.cloud_percent:g}")
    return root


def _tile_metadata(acquisition: Acquisition, scene: Scene, shape: tuple[int, int]) -> ET.Element:
    ET.register_namespace("n1", TILE_NS)
    root = ET.Element(f"{{{TILE_NS}}}Level-1C_Tile_ID")
    general = subelement(root, f"{{{TILE_NS}}}General_Info")
    subelement(general, "TILE_ID", acquisition.granule_id("TL"), metadataLevel="Brief")
    subelement(general, "DATASTRIP_ID", acquisition.granule_id("DS"), metadataLevel="Standard")
    subelement(general, "SENSING_TIME", utc_time(acquisition.when), metadataLevel="Standard")
    geometry = subelement(root, f"{{{TILE_NS}}}Geometric_Info")
    tile = acquisition.tile
    geocoding = subelement(geometry, "Tile_Geocoding", metadataLevel="Brief")
    zone = f"{tile.utm_zone}{'N' if tile.epsg < 32700 else 'S'}"
    subelement(geocoding, "HORIZONTAL_CS_NAME", f"WGS84 / UTM zone {zone}")
    subelement(geocoding, "HORIZONTAL_CS_CODE", f"EPSG:{tile.epsg}")
    for resolution in RESOLUTIONS:
        size = subelement(geocoding, "Size", resolution=str(resolution))
        subelement(size, "NROWS", shape[0])
        subelement(size, "NCOLS", shape[1])
    for resolution in RESOLUTIONS:
        position = subelement(geocoding, "Geoposition", resolution=str(resolution))
        for tag, value in zip(
            ("ULX", "ULY", "XDIM", "YDIM"),
            (tile.xmin, tile.ymax, (tile.xmax - tile.xmin) / shape[1], -(tile.ymax - tile.ymin) / shape[0]),
            strict=True,
        ):
            subelement(position, tag, f"{value:g}")
    angles = subelement(geometry, "Tile_Angles", metadataLevel="Standard")
    sun = subelement(angles, "Mean_Sun_Angle")
    subelement(sun, "ZENITH_ANGLE", f"{scene.sun_zenith:.6f}", unit="deg")
    subelement(sun, "AZIMUTH_ANGLE", f"{scene.sun_azimuth:.6f}", unit="deg")
    views = subelement(angles, "Mean_Viewing_Incidence_Angle_List")
    for index in range(len(SPECTRAL)):
        view = subelement(views, "Mean_Viewing_Incidence_Angle", bandId=str(index))
        subelement(view, "ZENITH_ANGLE", f"{5.0 + 0.02 * index:.4f}", unit="deg")
        subelement(view, "AZIMUTH_ANGLE", f"{104.0 + 0.3 * index:.4f}", unit="deg")
    quality = subelement(
        subelement(root, f"{{{TILE_NS}}}Quality_Indicators_Info", metadataLevel="Standard"), "Image_Content_QI"
    )
    subelement(quality, "CLOUDY_PIXEL_PERCENTAGE", f"{scene.cloud_percent:g}")
    subelement(quality, "DEGRADED_MSI_DATA_PERCENTAGE", 0)
    return root


def _manifest(safe: Path) -> ET.Element:
    """The XFDU manifest: every file of the product with its size and SHA3-256 checksum."""
    namespace = "urn:ccsds:schema:xfdu:1"
    ET.register_namespace("xfdu", namespace)
    root = ET.Element(f"{{{namespace}}}XFDU", version="esa/safe/sentinel/1.1/sentinel-2/msi/archive_l1c_user_product")
    objects = subelement(root, "dataObjectSection")
    for index, path in enumerate(sorted(p for p in safe.rglob("*") if p.is_file() and p.name != "manifest.safe")):
        data = subelement(objects, "dataObject", ID=f"object_{index}")
        mime = "text/xml" if path.suffix == ".xml" else "application/octet-stream"
        stream = subelement(data, "byteStream", mimeType=mime, size=str(path.stat().st_size))
        subelement(stream, "fileLocation", href=f"./{path.relative_to(safe)}", locatorType="URL")
        subelement(stream, "checksum", hashlib.sha3_256(path.read_bytes()).hexdigest(), checksumName="SHA3-256")
    return root
