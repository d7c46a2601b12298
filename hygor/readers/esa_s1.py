"""ESA Sentinel-1 Level-1 GRD SAFE products (SM, IW and EW modes; GRDF, GRDH, GRDM; S1A to S1D).

Everything is read from ``manifest.safe`` (XFDU), so a product is catalogued before its rasters are fetched:
platform and international designator (``platform``), mode and polarisations (``generalProductInformation``),
absolute and relative orbit, cycle, pass and ascending node time (``measurementOrbitReference``), start and stop
(``acquisitionPeriod``), footprint (``measurementFrameSet``: ``gml:coordinates`` of latitude,longitude pairs),
datatake, slice and timeliness, the processing facility and software, and every file with its size and MD5
(``dataObjectSection``). The product name gives the resolution class (``GRDH`` ...); the item id is that name.
A slice is not on one tile: its geometry is the footprint itself, split at the antimeridian when it crosses it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from hygor.grid import fix_antimeridian
from hygor.items import MediaType, file_asset, stac_datetime, untiled_item
from hygor.readers.base import Reader, ReaderError, register
from hygor.readers.esa_safe import Document, local_name

COLLECTION = "sentinel-1-grd"
MANIFEST = "manifest.safe"
# S1A_IW_GRDH_1SDV_20210809T173953_20210809T174018_039156_049F13_6FF8: mission, mode, type and resolution,
# level, class and polarisations, start, stop, absolute orbit, datatake, product unique id.
NAME = re.compile(
    r"^S1(?P<unit>[A-D])_(?P<mode>IW|EW|S[1-6])_GRD(?P<resolution>[FHM])_1(?P<product_class>[SA])"
    r"(?P<polarisations>SH|SV|DH|DV)_\d{8}T\d{6}_\d{8}T\d{6}_\d{6}_[0-9A-F]{6}_[0-9A-F]{4}(?:\.SAFE)?$"
)
# Relative orbit = (absolute - offset) % 175 + 1 where the manifest does not give it (175 orbits a cycle).
ORBIT_OFFSETS = {"A": 73, "B": 27}
ORBITS_PER_CYCLE = 175
# The timeliness categories whose name states their delay (``product:timeliness`` must go with the category).
TIMELINESS = {"NRT-10m": "PT10M", "NRT-1h": "PT1H", "NRT-3h": "PT3H", "Fast-24h": "PT24H"}
MD5_MULTIHASH = "d50110"  # multihash prefix of an MD5 digest (code 0xd5, 16 bytes), for file:checksum


class Geometry(NamedTuple):
    """Resolution, pixel spacing (m), looks and equivalent number of looks of one mode and resolution class."""

    resolution_range: float
    resolution_azimuth: float
    pixel_spacing: float
    looks_range: int
    looks_azimuth: int
    enl: float


# Sentinel-1 Product Definition (S1-RS-MDA-52-7440), table 5-1: Level-1 GRD products per mode and resolution.
GRD_GEOMETRY = {
    ("SM", "F"): Geometry(9, 9, 3.5, 2, 2, 3.7),
    ("SM", "H"): Geometry(23, 23, 10, 6, 6, 29.7),
    ("SM", "M"): Geometry(84, 84, 40, 22, 22, 398.4),
    ("IW", "H"): Geometry(20, 22, 10, 5, 1, 4.4),
    ("IW", "M"): Geometry(88, 87, 40, 22, 5, 81.8),
    ("EW", "H"): Geometry(50, 50, 25, 3, 1, 2.7),
    ("EW", "M"): Geometry(93, 87, 40, 6, 2, 10.7),
}
RESOLUTION = {"F": "full", "H": "high", "M": "medium"}
# The data objects of a GRD product that become assets: XFDU representation id -> (key prefix, roles, title).
DATA_OBJECTS = {
    "s1Level1MeasurementSchema": ("", ["data", "amplitude"], "measurement"),
    "s1Level1ProductSchema": ("annotation-", ["metadata"], "product annotation"),
    "s1Level1CalibrationSchema": ("calibration-", ["metadata", "calibration"], "calibration annotation"),
    "s1Level1NoiseSchema": ("noise-", ["metadata", "noise"], "thermal noise annotation"),
}
# Files of the SAFE product are named s1a-iw-grd-vv-<start>-<stop>-<orbit>-<datatake>-<index>.<ext>.
FILE_POLARISATION = re.compile(r"^(?:[a-z]+-)?s1[a-d]-[a-z0-9]+-grd-(?P<polarisation>hh|hv|vv|vh)-")


@register
class EsaSafeS1Grd(Reader):
    """A Sentinel-1 GRD SAFE product: the folder (``*.SAFE``) or its ``manifest.safe``."""

    name: ClassVar[str] = "esa-safe-s1-grd"
    collection: ClassVar[str | None] = COLLECTION

    def detect(self, path: Path) -> bool:
        folder = path.parent if path.is_file() and path.name == MANIFEST else path
        return NAME.match(folder.name) is not None and (folder / MANIFEST).is_file()

    def read(self, path: Path) -> list[dict[str, Any]]:
        product = (path.parent if path.is_file() else path).resolve()
        item_id = product.name.removesuffix(".SAFE")
        name = NAME.match(product.name)
        if name is None:
            raise ReaderError(f"{product}: not a Sentinel-1 GRD product name")
        doc = Document(product / MANIFEST)
        mode = doc.text("mode")
        instrument_mode = "SM" if mode.startswith("S") else mode
        platform = f"{doc.text('familyName').lower()}{doc.text('number').lower()}"  # sentinel-1 + a
        if platform != f"sentinel-1{name['unit'].lower()}":
            raise ReaderError(f"{doc.path}: the manifest's {platform} is not the {name['unit']} of the product name")
        geometry = GRD_GEOMETRY.get((instrument_mode, name["resolution"]))
        if geometry is None:
            raise ReaderError(f"{doc.path}: no {instrument_mode} GRD{name['resolution']} product exists")
        absolute = int(_orbit(doc, "orbitNumber"))
        start, stop = doc.time("startTime"), doc.time("stopTime")
        properties: dict[str, Any] = {
            "datetime": stac_datetime(start),
            "start_datetime": stac_datetime(start),
            "end_datetime": stac_datetime(stop),
            "platform": platform,
            "constellation": "sentinel-1",
            "instruments": ["c-sar"],
            "gsd": geometry.pixel_spacing,
            "sar:instrument_mode": instrument_mode,
            "sar:frequency_band": "C",
            "sar:center_frequency": 5.405,
            "sar:polarizations": [element.text or "" for element in doc.all("transmitterReceiverPolarisation")],
            "sar:product_type": doc.text("productType"),
            "sar:observation_direction": "right",
            "sar:resolution_range": geometry.resolution_range,
            "sar:resolution_azimuth": geometry.resolution_azimuth,
            "sar:pixel_spacing_range": geometry.pixel_spacing,
            "sar:pixel_spacing_azimuth": geometry.pixel_spacing,
            "sar:looks_range": geometry.looks_range,
            "sar:looks_azimuth": geometry.looks_azimuth,
            "sar:looks_equivalent_number": geometry.enl,
            "sat:platform_international_designator": doc.text("nssdcIdentifier"),
            "sat:orbit_state": doc.text("pass").lower(),
            "sat:absolute_orbit": absolute,
            "sat:relative_orbit": _relative_orbit(doc, name["unit"], absolute),
            "sat:anx_datetime": stac_datetime(doc.time("ascendingNodeTime")),
            "product:type": f"{mode}_GRD{name['resolution']}_1{name['product_class']}",
            **_timeliness(doc),
            "s1:datatake_id": doc.text("missionDataTakeID"),
            "s1:instrument_configuration_ID": doc.text("instrumentConfigurationID"),
            "s1:resolution": RESOLUTION[name["resolution"]],
            **_slices(doc),
            "processing:level": "L1",
            **_processing(doc),
        }
        if (cycle := doc.optional_number("cycleNumber")) is not None:
            properties["sat:orbit_cycle"] = int(cycle)
        item = untiled_item(
            item_id=item_id,
            collection=COLLECTION,
            footprint=_footprint(doc),
            properties=properties,
            assets=_assets(doc, product, geometry),
        )
        return [item]


def _orbit(doc: Document, name: str) -> float:
    """The orbit number at the start of the acquisition (the manifest gives start and stop)."""
    elements = doc.all(name)
    starts = [element for element in elements if element.get("type") == "start"] or elements
    if not starts or not (starts[0].text or "").strip():
        raise ReaderError(f"{doc.path}: missing element {name}")
    return doc.to_number((starts[0].text or "").strip(), name)


def _relative_orbit(doc: Document, unit: str, absolute: int) -> int:
    if doc.all("relativeOrbitNumber"):
        return int(_orbit(doc, "relativeOrbitNumber"))
    if unit not in ORBIT_OFFSETS:
        raise ReaderError(f"{doc.path}: missing element relativeOrbitNumber (needed for S1{unit})")
    return (absolute - ORBIT_OFFSETS[unit]) % ORBITS_PER_CYCLE + 1


def _timeliness(doc: Document) -> dict[str, str]:
    category = doc.optional_text("productTimelinessCategory")
    if category is None:
        return {}
    fields = {"s1:product_timeliness": category}
    if category in TIMELINESS:
        fields |= {"product:timeliness_category": category, "product:timeliness": TIMELINESS[category]}
    return fields


def _slices(doc: Document) -> dict[str, str]:
    """Slice number and count of a slice of a datatake (an assembled product has neither)."""
    fields = {}
    for element, field in (("sliceNumber", "s1:slice_number"), ("totalSlices", "s1:total_slices")):
        if (value := doc.optional_text(element)) is not None:
            fields[field] = value
    return fields


def _processing(doc: Document) -> dict[str, Any]:
    """The GRD processing: the outermost ``safe:processing`` (the ones inside it made its inputs)."""
    processing = next(iter(doc.all("processing")), None)
    if processing is None:
        return {}
    fields: dict[str, Any] = {}
    if stop := processing.get("stop"):
        try:
            fields["processing:datetime"] = stac_datetime(datetime.fromisoformat(stop))
        except ValueError:
            raise ReaderError(f"{doc.path}: processing stop {stop!r} is not a date and time") from None
    facility = _child(processing, "facility")
    if facility is not None:
        if facility.get("name"):
            fields["processing:facility"] = facility.get("name")
        software = _child(facility, "software")
        if software is not None and software.get("name"):
            fields["processing:software"] = {software.get("name"): software.get("version", "")}
            fields["processing:version"] = software.get("version", "")
    return fields


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((child for child in element if local_name(child.tag) == name), None)


def _descendant(element: ET.Element, name: str) -> ET.Element | None:
    return next((inner for inner in element.iter() if local_name(inner.tag) == name), None)


def _footprint(doc: Document) -> BaseGeometry:
    """The frame's footprint: ``gml:coordinates`` is ``lat,lon`` pairs separated by spaces, in WGS84."""
    text = doc.text("coordinates")
    try:
        pairs = [tuple(float(value) for value in pair.split(",")) for pair in text.split()]
    except ValueError:
        raise ReaderError(f"{doc.path}: coordinates {text!r} are not latitude,longitude pairs") from None
    if len(pairs) < 3 or any(len(pair) != 2 or abs(pair[0]) > 90 or abs(pair[1]) > 180 for pair in pairs):
        raise ReaderError(f"{doc.path}: coordinates {text!r} are not a ring of latitude,longitude pairs")
    return shapely.orient_polygons(fix_antimeridian(Polygon([(lon, lat) for lat, lon in pairs])))


def _assets(doc: Document, product: Path, geometry: Geometry) -> dict[str, dict[str, Any]]:
    assets = {"safe-manifest": file_asset(doc.path, media_type=MediaType.XML, roles=["metadata"],
                                          title="manifest.safe – SAFE manifest")}  # fmt: skip
    for data_object in doc.all("dataObject"):
        location, stream = _descendant(data_object, "fileLocation"), _descendant(data_object, "byteStream")
        href = (location.get("href") or "") if location is not None else ""
        path = product / href.removeprefix("./")
        described = DATA_OBJECTS.get(data_object.get("repID", ""))
        fields: dict[str, Any]
        if data_object.get("ID") == "quicklook":
            key, fields = "thumbnail", {"media_type": MediaType.PNG, "roles": ["thumbnail"], "title": "Quick-look"}
        elif described and (found := FILE_POLARISATION.match(path.name)):
            prefix, roles, what = described
            polarisation = found["polarisation"]
            measurement = prefix == ""
            key = prefix + polarisation
            fields = {
                "media_type": MediaType.GEOTIFF if measurement else MediaType.XML,
                "roles": roles,
                "title": f"{polarisation.upper()} – {what}",
                "sar:polarizations": [polarisation.upper()],
            }
            if measurement:
                fields |= {"gsd": geometry.pixel_spacing, "bands": [_band(polarisation)]}
        else:
            continue
        asset = file_asset(path, **fields)
        if stream is not None and (size := stream.get("size", "")).isdigit():
            asset["file:size"] = int(size)
        checksum = _descendant(data_object, "checksum")
        if checksum is not None and checksum.get("checksumName") == "MD5" and checksum.text:
            asset["file:checksum"] = MD5_MULTIHASH + checksum.text.strip().lower()
        assets[key] = asset
    return assets


def _band(polarisation: str) -> dict[str, Any]:
    return {
        "name": polarisation.upper(),
        "description": f"{polarisation.upper()} amplitude (digital numbers)",
        "data_type": "uint16",
        "nodata": 0,
    }
