"""Sentinel-1 GRD SAFE products written from the real one in the fixtures (tests/fixtures/real/esa-s1/): its
``manifest.safe`` with the values of another slice put in place of the real ones (platform, mode, resolution,
polarisations, times, orbits, pass, datatake, slice, footprint), every other line of the real layout kept, and
its data objects renamed as the SAFE naming convention names them. Only the manifest is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from conftest import FIXTURES

REAL_NAME = "S1A_IW_GRDH_1SDV_20210809T173953_20210809T174018_039156_049F13_6FF8"
REAL = FIXTURES / "real" / "esa-s1" / f"{REAL_NAME}.SAFE"
REAL_START = datetime(2021, 8, 9, 17, 39, 53, 153776)
REAL_STOP = datetime(2021, 8, 9, 17, 40, 18, 152800)
REAL_FOOTPRINT = [(46.033890, 1.512143), (46.436539, 4.851360), (44.938713, 5.188996), (44.536255, 1.937196)]
DESIGNATORS = {"A": "2014-016A", "B": "2016-025A", "C": "2024-235A"}  # COSPAR international designators
POLARISATION_CODES = {("HH",): "SH", ("VV",): "SV", ("HH", "HV"): "DH", ("VV", "VH"): "DV"}


@dataclass(frozen=True)
class Slice:
    """What differs from the real product. ``relative_orbit`` None: the manifest leaves it out."""

    unit: str = "A"
    mode: str = "IW"
    resolution: str = "H"
    polarisations: tuple[str, ...] = ("VV", "VH")
    start: datetime = REAL_START
    seconds: float = (REAL_STOP - REAL_START).total_seconds()
    absolute_orbit: int = 39156
    relative_orbit: int | None = 59
    direction: str = "ASCENDING"
    datatake: int = 302867
    slice_number: int = 7
    total_slices: int = 20
    timeliness: str = "NRT-3h"
    footprint: list[tuple[float, float]] = field(default_factory=lambda: list(REAL_FOOTPRINT))  # (lat, lon)

    @property
    def stop(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)

    @property
    def name(self) -> str:
        code = POLARISATION_CODES[self.polarisations]
        return (
            f"S1{self.unit}_{self.mode}_GRD{self.resolution}_1S{code}_{self.start:%Y%m%dT%H%M%S}_"
            f"{self.stop:%Y%m%dT%H%M%S}_{self.absolute_orbit:06d}_{self.datatake:06X}_{self.start:%M%S}"
        )

    def next(self, footprint: list[tuple[float, float]]) -> Slice:
        """The following slice of the same datatake, starting where this one stops."""
        return Slice(**{**self.__dict__, "start": self.stop, "slice_number": self.slice_number + 1,
                        "footprint": footprint})  # fmt: skip


def write_safe(root: Path, product: Slice) -> Path:
    """The ``<name>.SAFE`` folder of ``product`` under ``root``, with its manifest."""
    text = (REAL / "manifest.safe").read_text()
    if product.polarisations == ("VV",) or product.polarisations == ("HH",):
        text = _drop_data_objects(text, "vh")
    files = {"vv": product.polarisations[0].lower(), "vh": product.polarisations[-1].lower()}
    unit, mode = product.unit.lower(), product.mode.lower()
    times = f"{product.start:%Y%m%dt%H%M%S}-{product.stop:%Y%m%dt%H%M%S}"
    stamp = f"{times}-{product.absolute_orbit:06d}-{product.datatake:06x}"
    text = re.sub(r"s1a-iw-grd-(vv|vh)-20210809t173953-20210809t174018-039156-049f13",
                  lambda m: f"s1{unit}-{mode}-grd-{files[m[1]]}-{stamp}", text)  # fmt: skip
    text = re.sub(r"s1aiwgrd(vv|vh)20210809t17395320210809t174018039156049f13",
                  lambda m: f"s1{unit}{mode}grd{files[m[1]]}{stamp.replace('-', '')}", text)  # fmt: skip
    polarisations = "".join(
        f"<s1sarl1:transmitterReceiverPolarisation>{p}</s1sarl1:transmitterReceiverPolarisation>\n            "
        for p in product.polarisations
    ).rstrip()
    text = re.sub(r"(<s1sarl1:transmitterReceiverPolarisation>.*?</s1sarl1:transmitterReceiverPolarisation>\s*)+",
                  polarisations + "\n            ", text, flags=re.DOTALL)  # fmt: skip
    relative = (
        f'<safe:relativeOrbitNumber type="start">{product.relative_orbit}</safe:relativeOrbitNumber>\n'
        f'            <safe:relativeOrbitNumber type="stop">{product.relative_orbit}</safe:relativeOrbitNumber>\n'
        if product.relative_orbit is not None
        else ""
    )
    values = {
        r'<safe:relativeOrbitNumber type="start">59</safe:relativeOrbitNumber>\s*'
        r'<safe:relativeOrbitNumber type="stop">59</safe:relativeOrbitNumber>\s*': relative + "            ",
        r"<safe:nssdcIdentifier>2014-016A<": f"<safe:nssdcIdentifier>{DESIGNATORS[product.unit]}<",
        r"<safe:number>A<": f"<safe:number>{product.unit}<",
        r"<s1sarl1:mode>IW<": f"<s1sarl1:mode>{product.mode}<",
        r"<s1sarl1:swath>IW<": f"<s1sarl1:swath>{product.mode}<",
        r"(<safe:orbitNumber type=\"st(?:art|op)\">)39156<": rf"\g<1>{product.absolute_orbit}<",
        r"<s1:pass>ASCENDING<": f"<s1:pass>{product.direction}<",
        r"<s1sarl1:missionDataTakeID>302867<": f"<s1sarl1:missionDataTakeID>{product.datatake}<",
        r"<s1sarl1:productTimelinessCategory>NRT-3h<": f"<s1sarl1:productTimelinessCategory>{product.timeliness}<",
        r"<s1sarl1:sliceNumber>7<": f"<s1sarl1:sliceNumber>{product.slice_number}<",
        r"<s1sarl1:totalSlices>20<": f"<s1sarl1:totalSlices>{product.total_slices}<",
        r"<safe:startTime>[^<]*<": f"<safe:startTime>{product.start:%Y-%m-%dT%H:%M:%S.%f}<",
        r"<safe:stopTime>[^<]*<": f"<safe:stopTime>{product.stop:%Y-%m-%dT%H:%M:%S.%f}<",
        r"<gml:coordinates>[^<]*<": "<gml:coordinates>"
        + " ".join(f"{lat:.6f},{lon:.6f}" for lat, lon in product.footprint)
        + "<",
    }
    for pattern, value in values.items():
        text, count = re.subn(pattern, value, text)
        assert count, f"the real manifest has no {pattern}"
    safe = root / f"{product.name}.SAFE"
    safe.mkdir(parents=True)
    (safe / "manifest.safe").write_text(text)
    return safe


def _drop_data_objects(text: str, polarisation: str) -> str:
    """The manifest without the content units, metadata and data objects of one polarisation."""
    pointer = rf'<dataObjectPointer dataObjectID="[^"]*grd{polarisation}[^"]*"/>'
    unit = rf"\s*<xfdu:contentUnit [^>]*>\s*{pointer}\s*</xfdu:contentUnit>"
    metadata = rf'\s*<metadataObject ID="[^"]*grd{polarisation}[^"]*"[^>]*>.*?</metadataObject>'
    data = rf'\s*<dataObject ID="[^"]*grd{polarisation}[^"]*"[^>]*>.*?</dataObject>'
    for pattern in (unit, metadata, data):
        text = re.sub(pattern, "", text, flags=re.DOTALL)
    return text
