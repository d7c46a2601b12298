"""ESA Sentinel-2 SAFE products: Level-1C (ESA IPF) and Level-2A (Sen2Cor), compact naming (December 2016 on).

The product metadata (``MTD_MSIL1C.xml`` / ``MTD_MSIL2A.xml``) gives the acquisition, processing baseline, cloud
cover, footprint and band files; the tile metadata (``GRANULE/<granule>/MTD_TL.xml``), when the product has it,
gives the sun and viewing angles and the raster grids. Namespaces and a few names change with the metadata
version (PSD 14.2 to 15.x: ``IMAGE_FILE_2A``, ``L2A_BOA_QUANTIFICATION_VALUE``, ...), so elements are looked up by
local name, aliases included. The Sentinel-2 helpers here also serve the public-cloud layout (``esa_tileinfo``).
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from hygor.grid import Tile, fix_antimeridian
from hygor.items import MediaType, file_asset, stac_datetime, tiled_item
from hygor.readers.base import Reader, ReaderError, parse_xml, product_tile, register

COLLECTIONS = {"L1C": "sentinel-2-l1c", "L2A": "sentinel-2-l2a-esa"}
SOFTWARE = {"L1C": "esa-ipf", "L2A": "sen2cor"}
TILE_IN_NAME = re.compile(r"_T(\d{2}[A-Z]{3})(?:_|$)")
ABSOLUTE_ORBIT = re.compile(r"_A(\d{6})_")
PLATFORM = re.compile(r"^(?:SENTINEL-?2|S2)([A-D])", re.IGNORECASE)
# A band file of IMAGE_FILE: ``T31TCJ_20230615T105031_B02`` (L1C, TCI too) or ``..._B02_10m`` (L2A, SCL, AOT...).
IMAGE_NAME = re.compile(r"_(B\d{2}|B8A|TCI|SCL|AOT|WVP)(?:_(\d+)m)?$")


@dataclass(frozen=True)
class Band:
    description: str
    common_name: str
    wavelength: float  # centre, µm
    fwhm: float  # µm
    gsd: int  # native resolution, m

    def fields(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "description": f"{self.description} ({self.wavelength} µm)",
            "eo:common_name": self.common_name,
            "eo:center_wavelength": self.wavelength,
            "eo:full_width_half_max": self.fwhm,
        }


# In band index order: the ``bandId`` (``band_id``) 0 to 12 of the metadata.
SPECTRAL = {
    "B01": Band("Coastal aerosol", "coastal", 0.443, 0.02, 60),
    "B02": Band("Blue", "blue", 0.49, 0.065, 10),
    "B03": Band("Green", "green", 0.56, 0.035, 10),
    "B04": Band("Red", "red", 0.665, 0.03, 10),
    "B05": Band("Vegetation red edge 1", "rededge071", 0.705, 0.015, 20),
    "B06": Band("Vegetation red edge 2", "rededge075", 0.74, 0.015, 20),
    "B07": Band("Vegetation red edge 3", "rededge078", 0.783, 0.02, 20),
    "B08": Band("Near infrared (wide)", "nir", 0.842, 0.115, 10),
    "B8A": Band("Near infrared (narrow)", "nir08", 0.865, 0.02, 20),
    "B09": Band("Water vapour", "nir09", 0.945, 0.02, 60),
    "B10": Band("Shortwave infrared cirrus", "cirrus", 1.375, 0.03, 60),
    "B11": Band("Shortwave infrared 1.6 µm", "swir16", 1.61, 0.09, 20),
    "B12": Band("Shortwave infrared 2.2 µm", "swir22", 2.19, 0.18, 20),
}
OTHER_GSD = {"TCI": 10, "SCL": 20, "AOT": 10, "WVP": 10}
# The image assets of each level (the item_assets keys of its collection).
IMAGE_KEYS = {
    "L1C": [*SPECTRAL, "TCI"],
    "L2A": [*(band for band in SPECTRAL if band != "B10"), "TCI", "SCL", "AOT", "WVP"],
}


def native_gsd(key: str) -> int:
    return SPECTRAL[key].gsd if key in SPECTRAL else OTHER_GSD[key]


def local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


class Document:
    """An XML metadata document whose elements are looked up by local name, whatever their namespace."""

    def __init__(self, path: Path) -> None:
        self.root = parse_xml(path)
        self.path = path
        self._index: dict[str, list[ET.Element]] = {}
        for element in self.root.iter():
            self._index.setdefault(local_name(element.tag), []).append(element)

    def all(self, *names: str) -> list[ET.Element]:
        """The elements of the first of ``names`` (a name, then its aliases) that the document has."""
        for name in names:
            if name in self._index:
                return self._index[name]
        return []

    def optional_text(self, *names: str) -> str | None:
        found = self.all(*names)
        text = (found[0].text or "").strip() if found else ""
        return text or None

    def text(self, *names: str) -> str:
        text = self.optional_text(*names)
        if text is None:
            raise ReaderError(f"{self.path}: missing element {names[0]}")
        return text

    def number(self, *names: str) -> float:
        return self.to_number(self.text(*names), names[0])

    def optional_number(self, *names: str) -> float | None:
        text = self.optional_text(*names)
        return None if text is None else self.to_number(text, names[0])

    def time(self, *names: str) -> datetime:
        text = self.text(*names)
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise ReaderError(f"{self.path}: {names[0]} {text!r} is not a date and time") from None

    def to_number(self, text: str, what: str) -> float:
        try:
            return float(text)  # NaN included: ESA's angle grids mark cells without a value so
        except ValueError:
            raise ReaderError(f"{self.path}: {what} {text!r} is not a number") from None

    def child_number(self, element: ET.Element, name: str) -> float:
        found = [child for child in element if local_name(child.tag) == name]
        if not found or not (found[0].text or "").strip():
            raise ReaderError(f"{self.path}: missing element {local_name(element.tag)}/{name}")
        return self.to_number((found[0].text or "").strip(), name)


@dataclass(frozen=True)
class Radiometry:
    """Digital numbers to physical values: value = (DN + offset) / quantification."""

    quantification: float = 10_000.0
    offsets: Mapping[str, float] = field(default_factory=dict)  # DN offset of each spectral band
    aot_quantification: float = 1_000.0
    wvp_quantification: float = 1_000.0

    @classmethod
    def of_baseline(cls, baseline: str) -> Radiometry:
        """Without the product metadata: the documented offset of -1000 DN from processing baseline 04.00."""
        return cls(offsets=dict.fromkeys(SPECTRAL, -1000.0) if baseline >= "04.00" else {})

    def reflectance(self, band: str) -> dict[str, float]:
        scaling = {"raster:scale": 1 / self.quantification}
        if offset := self.offsets.get(band):
            scaling["raster:offset"] = offset / self.quantification
        return scaling


@dataclass(frozen=True)
class Granule:
    """What a tile (granule) metadata document says: ``MTD_TL.xml``, or ``metadata.xml`` on public clouds."""

    path: Path
    level: str | None
    tile_id: str | None
    grids: dict[int, dict[str, Any]]  # resolution (m) -> proj:shape and proj:transform
    angles: dict[str, float]  # view:* properties
    cloud_cover: float | None
    snow_cover: float | None


def read_granule(path: Path) -> Granule:
    doc = Document(path)
    level = re.match(r"Level-(1C|2A)_Tile", local_name(doc.root.tag))  # Level-1C_Tile_ID, Level-2A_Tile_ID
    return Granule(
        path=path,
        level=f"L{level[1]}" if level else None,
        tile_id=doc.optional_text("TILE_ID_2A", "TILE_ID"),
        grids=_grids(doc),
        angles=_angles(doc),
        cloud_cover=doc.optional_number("CLOUDY_PIXEL_PERCENTAGE"),
        snow_cover=doc.optional_number("SNOW_ICE_PERCENTAGE"),
    )


def _grids(doc: Document) -> dict[int, dict[str, Any]]:
    sizes = {element.get("resolution"): element for element in doc.all("Size")}
    grids: dict[int, dict[str, Any]] = {}
    for position in doc.all("Geoposition"):
        resolution, size = position.get("resolution"), sizes.get(position.get("resolution"))
        if resolution is None or not resolution.isdigit() or size is None:
            continue
        ulx, uly, xdim, ydim = (doc.child_number(position, name) for name in ("ULX", "ULY", "XDIM", "YDIM"))
        shape = [int(doc.child_number(size, "NROWS")), int(doc.child_number(size, "NCOLS"))]
        grids[int(resolution)] = {"proj:shape": shape, "proj:transform": [xdim, 0.0, ulx, 0.0, ydim, uly]}
    return grids


def _angles(doc: Document) -> dict[str, float]:
    """Mean sun angles, and the viewing angles averaged over the bands (NaN where a band saw no data)."""
    angles: dict[str, float] = {}
    for sun in doc.all("Mean_Sun_Angle")[:1]:
        zenith, azimuth = doc.child_number(sun, "ZENITH_ANGLE"), doc.child_number(sun, "AZIMUTH_ANGLE")
        if math.isfinite(zenith) and math.isfinite(azimuth):
            angles["view:sun_azimuth"] = azimuth % 360
            angles["view:sun_elevation"] = 90 - zenith
    views = [
        (doc.child_number(view, "ZENITH_ANGLE"), doc.child_number(view, "AZIMUTH_ANGLE"))
        for view in doc.all("Mean_Viewing_Incidence_Angle")
    ]
    views = [(zenith, azimuth) for zenith, azimuth in views if math.isfinite(zenith) and math.isfinite(azimuth)]
    if views:
        angles["view:incidence_angle"] = sum(zenith for zenith, _ in views) / len(views)
        east = sum(math.sin(math.radians(azimuth)) for _, azimuth in views)
        north = sum(math.cos(math.radians(azimuth)) for _, azimuth in views)
        angles["view:azimuth"] = math.degrees(math.atan2(east, north)) % 360
    return angles


def image_asset(key: str, path: Path, radiometry: Radiometry, grids: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """A band file's asset, with the fields of its collection's ``item_assets`` and the grid of its resolution."""
    gsd = native_gsd(key)
    common: dict[str, Any] = {"data_type": "uint16", "nodata": 0}
    bands: list[dict[str, Any]]
    if key in SPECTRAL:
        band = SPECTRAL[key]
        roles, title = ["data", "reflectance"], f"{key} – {band.description} – {gsd} m"
        bands = [{**band.fields(key), **common, **radiometry.reflectance(key)}]
    elif key == "TCI":
        roles, title = ["visual"], f"TCI – true colour image – {gsd} m"
        bands = [{**SPECTRAL[name].fields(name), "data_type": "uint8", "nodata": 0} for name in ("B04", "B03", "B02")]
    elif key == "SCL":
        roles, title = ["data", "cloud", "cloud-shadow", "snow-ice", "water"], f"SCL – scene classification – {gsd} m"
        bands = [{"name": "SCL", "description": "Scene classification class", "data_type": "uint8", "nodata": 0}]
    elif key == "AOT":
        roles, title = ["data"], f"AOT – aerosol optical thickness – {gsd} m"
        bands = [{"name": "AOT", **common, "raster:scale": 1 / radiometry.aot_quantification}]
    else:
        roles, title = ["data"], f"WVP – water vapour – {gsd} m"
        bands = [{"name": "WVP", **common, "unit": "cm", "raster:scale": 1 / radiometry.wvp_quantification}]
    bands = [{**band, "raster:spatial_resolution": gsd} for band in bands]
    return file_asset(
        path, media_type=MediaType.JP2, roles=roles, title=title, gsd=gsd, bands=bands, **grids.get(gsd, {})
    )


def metadata_asset(path: Path, title: str) -> dict[str, Any]:
    return file_asset(path, media_type=MediaType.XML, roles=["metadata"], title=title)


def platform_of(where: Path, name: str) -> str:
    """``sentinel-2a`` from ``Sentinel-2A``, ``S2A_MSIL1C_...``."""
    found = PLATFORM.match(name)
    if not found:
        raise ReaderError(f"{where}: {name!r} names no Sentinel-2 satellite")
    return f"sentinel-2{found[1].lower()}"


def absolute_orbit(names: Iterable[str | None]) -> dict[str, int]:
    """``sat:absolute_orbit`` from the first granule (tile) identifier that has it (``..._A032448_T46RER_...``)."""
    for name in names:
        if name and (found := ABSOLUTE_ORBIT.search(name)):
            return {"sat:absolute_orbit": int(found[1])}
    return {}


def sentinel2_item(
    *,
    item_id: str,
    level: str,
    tile: Tile,
    acquired: datetime,
    platform: str,
    baseline: str,
    generated: datetime,
    properties: Mapping[str, Any],
    assets: Mapping[str, dict[str, Any]],
    footprint: BaseGeometry | None,
) -> dict[str, Any]:
    """An item of a Sentinel-2 L1C or L2A product of one tile, in its level's collection."""
    return tiled_item(
        item_id=item_id,
        collection=COLLECTIONS[level],
        tile=tile,
        footprint=footprint,
        assets=assets,
        properties={
            "datetime": stac_datetime(acquired),
            "platform": platform,
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            **properties,
            "processing:level": level,
            "processing:software": {SOFTWARE[level]: baseline},
            "processing:version": baseline,
            "processing:datetime": stac_datetime(generated),
        },
    )


class EsaSafe(Reader):
    """A SAFE product of one level: the folder (``*.SAFE``) or its product metadata file."""

    level: ClassVar[str]
    metadata_name: ClassVar[str]
    # Element names, then their PSD 14.2 aliases.
    uri_names: ClassVar[tuple[str, ...]] = ("PRODUCT_URI",)
    image_names: ClassVar[tuple[str, ...]] = ("IMAGE_FILE",)
    quantification_names: ClassVar[tuple[str, ...]] = ("QUANTIFICATION_VALUE",)
    offset_name: ClassVar[str] = "RADIO_ADD_OFFSET"

    def detect(self, path: Path) -> bool:
        return path.name == self.metadata_name if path.is_file() else (path / self.metadata_name).is_file()

    def read(self, path: Path) -> list[dict[str, Any]]:
        product = (path.parent if path.is_file() else path).resolve()
        doc = Document(product / self.metadata_name)
        item_id = doc.text(*self.uri_names).removesuffix(".SAFE")
        granule_ids = [element.get("granuleIdentifier") for element in doc.all("Granule", "Granules")]
        names = [item_id, *granule_ids]
        found = next((match for name in names if name and (match := TILE_IN_NAME.search(name))), None)
        if found is None:
            raise ReaderError(f"{doc.path}: no tile id in the product name {item_id!r} nor in its granules")
        tile = product_tile(found[1], doc.path)
        images = self._images(doc)
        granule_path = product / "GRANULE" / next(iter(images.values())).split("/")[1] / "MTD_TL.xml"
        granule = read_granule(granule_path) if granule_path.is_file() else None
        radiometry = self._radiometry(doc)
        grids = granule.grids if granule else {}
        assets = {key: image_asset(key, product / f"{image}.jp2", radiometry, grids) for key, image in images.items()}
        assets["product-metadata"] = metadata_asset(doc.path, f"{self.metadata_name} – product metadata")
        if granule:
            assets["granule-metadata"] = metadata_asset(granule.path, "MTD_TL.xml – tile metadata")
        if (product / "manifest.safe").is_file():
            assets["safe-manifest"] = metadata_asset(product / "manifest.safe", "manifest.safe – SAFE manifest")
        properties: dict[str, Any] = {
            "eo:cloud_cover": doc.number("Cloud_Coverage_Assessment"),
            "sat:relative_orbit": int(doc.number("SENSING_ORBIT_NUMBER")),
            "sat:orbit_state": doc.text("SENSING_ORBIT_DIRECTION").lower(),
            **absolute_orbit(granule_ids),
            **(granule.angles if granule else {}),
        }
        if (snow := doc.optional_number("SNOW_ICE_PERCENTAGE")) is not None:
            properties["eo:snow_cover"] = snow
        item = sentinel2_item(
            item_id=item_id,
            level=self.level,
            tile=tile,
            acquired=doc.time("PRODUCT_START_TIME", "DATATAKE_SENSING_START"),
            platform=platform_of(doc.path, doc.text("SPACECRAFT_NAME")),
            baseline=doc.text("PROCESSING_BASELINE"),
            generated=doc.time("GENERATION_TIME"),
            properties=properties,
            assets=assets,
            footprint=_footprint(doc),
        )
        return [item]

    def _images(self, doc: Document) -> dict[str, str]:
        """Asset key -> band file (relative, without ``.jp2``) at the band's native resolution."""
        images: dict[str, str] = {}
        for element in doc.all(*self.image_names):
            image = (element.text or "").strip()
            found = IMAGE_NAME.search(image)
            if not image.startswith("GRANULE/") or "/IMG_DATA/" not in image or not found:
                continue  # PSD 14.2 also lists QI_DATA images (clouds, snow, DEM)
            key, resolution = found[1], found[2]
            if key in IMAGE_KEYS[self.level] and (resolution is None or int(resolution) == native_gsd(key)):
                images[key] = image
        if not images:
            raise ReaderError(f"{doc.path}: missing element {self.image_names[0]} (no band file listed)")
        return {key: images[key] for key in IMAGE_KEYS[self.level] if key in images}

    def _radiometry(self, doc: Document) -> Radiometry:
        bands = list(SPECTRAL)
        offsets = {}
        for element in doc.all(self.offset_name):
            index = element.get("band_id", "")
            if index.isdigit() and int(index) < len(bands):
                offsets[bands[int(index)]] = doc.to_number((element.text or "").strip(), self.offset_name)
        return Radiometry(
            quantification=doc.optional_number(*self.quantification_names) or 10_000.0,
            offsets=offsets,
            aot_quantification=doc.optional_number("AOT_QUANTIFICATION_VALUE", "L2A_AOT_QUANTIFICATION_VALUE") or 1e3,
            wvp_quantification=doc.optional_number("WVP_QUANTIFICATION_VALUE", "L2A_WVP_QUANTIFICATION_VALUE") or 1e3,
        )


def _footprint(doc: Document) -> BaseGeometry:
    """The product footprint: ``EXT_POS_LIST`` is latitude longitude pairs, in WGS84."""
    values = [doc.to_number(value, "EXT_POS_LIST") for value in doc.text("EXT_POS_LIST").split()]
    if len(values) % 2 or len(values) < 8:
        raise ReaderError(f"{doc.path}: EXT_POS_LIST is not a ring of latitude longitude pairs")
    return fix_antimeridian(Polygon(list(zip(values[1::2], values[0::2], strict=True))))


@register
class EsaSafeL1C(EsaSafe):
    name: ClassVar[str] = "esa-safe-l1c"
    collection: ClassVar[str | None] = COLLECTIONS["L1C"]
    level: ClassVar[str] = "L1C"
    metadata_name: ClassVar[str] = "MTD_MSIL1C.xml"


@register
class EsaSafeL2A(EsaSafe):
    name: ClassVar[str] = "esa-safe-l2a"
    collection: ClassVar[str | None] = COLLECTIONS["L2A"]
    level: ClassVar[str] = "L2A"
    metadata_name: ClassVar[str] = "MTD_MSIL2A.xml"
    uri_names: ClassVar[tuple[str, ...]] = ("PRODUCT_URI_2A", "PRODUCT_URI")
    image_names: ClassVar[tuple[str, ...]] = ("IMAGE_FILE_2A", "IMAGE_FILE")
    quantification_names: ClassVar[tuple[str, ...]] = ("BOA_QUANTIFICATION_VALUE", "L2A_BOA_QUANTIFICATION_VALUE")
    offset_name: ClassVar[str] = "BOA_ADD_OFFSET"
