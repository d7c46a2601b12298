"""MAJA stand-in: one Sentinel-2 L1C -> one THEIA L2A, with MAJA's command line
``maja -w WORKDIR --input INPUTDIR --output OUTDIR --mode L2INIT|L2BACKWARD|L2NOMINAL -ucs USERCONF --TileId TILE``
(USERCONF: MAJA's user configuration folder, whose files it checks as MAJA does).

The input folder holds the L1C ``*.SAFE`` (BACKWARD: the unit's and later ones; the oldest is processed), the DEM
(``*AUX_REFDE2*``), the CAMS aerosols of the day and, NOMINAL, the previous L2A. Simple but real processing: TOA
reflectance from the L1C digital numbers; threshold cloud mask (plus, NOMINAL, a multi-temporal test against the
previous L2A) dilated for shadows; aerosols from CAMS bounded by the darkest pixels; a toy atmosphere inverted
into SRE; FRE from SRE with the cosine of the terrain illumination. Over 90 % cloudy, the product is invalid:
metadata, quicklook and masks only, and a job report flagging L2NOTV.
"""

from __future__ import annotations

import argparse
import math
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from numpy.typing import NDArray
from rasterio.enums import Resampling
from rasterio.errors import RasterioError

from hygor import grid
from hygor.errors import HygorError
from hygor.grid import Tile
from hygor.readers.esa_safe import EsaSafeL1C
from hygor.readers.outputs import MUSCATE_ID
from reference_chains import maja_userconf
from reference_chains.l2a import L2A, InputError, chain_version, read_l2a, run
from reference_chains.muscate import (
    Description,
    Listing,
    mask_listing,
    product_id,
    reflectance_listing,
    resize,
    write_masks,
    write_metadata,
    write_quicklook,
    write_reflectances,
)
from reference_chains.rasters import read_band, read_on_tile, write_cog

Array = NDArray[Any]
MODES = ("L2INIT", "L2BACKWARD", "L2NOMINAL")
L1C_BANDS = {"B2": "B02", "B3": "B03", "B4": "B04", "B5": "B05", "B6": "B06", "B7": "B07", "B8": "B08"}
L1C_BANDS |= {"B8A": "B8A", "B11": "B11", "B12": "B12"}
WAVELENGTHS = {"B2": 0.49, "B3": 0.56, "B4": 0.665, "B5": 0.705, "B6": 0.74, "B7": 0.783, "B8": 0.842}
WAVELENGTHS |= {"B8A": 0.865, "B11": 1.61, "B12": 2.19}
DEFAULT_AOT = 0.1
WATER_VAPOUR = 1.5  # g/cm2
MAX_CLOUD = 90.0
AEROSOL_HEIGHT_M = 2500.0


def atmosphere(wavelength: float, aot: Any) -> tuple[Any, Any]:
    """The toy atmosphere: path reflectance and two-way transmission for an optical thickness at 550 nm."""
    tau = aot * (0.55 / wavelength) ** 1.3
    return 0.2 * tau, np.exp(-0.8 * tau)


def slope_aspect(altitude: NDArray[Any], pixel: float) -> tuple[Array, Array]:
    """Slope and aspect (radians; aspect clockwise from north, the downhill direction) of a DEM."""
    south, east = np.gradient(altitude.astype(np.float64), pixel)  # rows grow southwards
    slope = np.arctan(np.hypot(east, south))
    aspect = np.mod(np.arctan2(-east, south), 2 * np.pi)
    return slope.astype(np.float32), aspect.astype(np.float32)


def illumination(slope: Array, aspect: Array, zenith: float, azimuth: float) -> Array:
    """Terrain illumination relative to flat ground: cos(incidence) / cos(sun zenith), from 0 to 3."""
    sz, sa = math.radians(zenith), math.radians(azimuth)
    incidence = np.cos(sz) * np.cos(slope) + np.sin(sz) * np.sin(slope) * np.cos(sa - aspect)
    lit: Array = np.clip(incidence / math.cos(sz), 0, 3).astype(np.float32)
    return lit


def dilate(mask: NDArray[np.bool_], radius: int) -> NDArray[np.bool_]:
    """``mask`` grown by ``radius`` pixels (a square)."""
    grown = mask.copy()
    for _ in range(radius):
        step = grown.copy()
        step[1:] |= grown[:-1]
        step[:-1] |= grown[1:]
        step[:, 1:] |= step[:, :-1].copy()
        step[:, :-1] |= step[:, 1:].copy()
        grown = step
    return grown


def log(message: str) -> None:
    print(f"maja: {message}", flush=True)


@dataclass(frozen=True)
class Inputs:
    l1c: Path
    later: list[Path]
    dem: Path
    cams: Path | None
    previous: L2A | None


def _entries(folder: Path) -> Iterator[Path]:
    """The input folder's entries and those of its sub-folders (a DEM may come in a folder of its own)."""
    for entry in sorted(folder.iterdir()):
        yield entry
        if entry.is_dir() and not entry.name.endswith(".SAFE"):
            yield from sorted(entry.iterdir())


def find_inputs(folder: Path, tile: Tile, mode: str) -> Inputs:
    if not folder.is_dir():
        raise InputError(f"input folder {folder} does not exist")
    entries = list(_entries(folder))
    safes = sorted((p for p in entries if p.name.endswith(".SAFE") and f"_T{tile.id}_" in p.name), key=_stamp)
    if not safes:
        raise InputError(f"no L1C product (*_T{tile.id}_*.SAFE) in {folder}")
    if mode != "L2BACKWARD" and len(safes) != 1:
        raise InputError(f"{mode} takes exactly one L1C of tile {tile.id}, {folder} holds {len(safes)}")
    dems = [p for p in entries if p.is_dir() and "AUX_REFDE2" in p.name and tile.id in p.name and ".DBL" in p.name]
    if not dems:
        raise InputError(f"no DEM of tile {tile.id} (*AUX_REFDE2*T{tile.id}*.DBL.DIR) in {folder}")
    cams = [p for p in entries if "CAMS" in p.name and p.suffix == ".nc"]
    cams += [n for p in entries if "CAMS" in p.name and p.is_dir() for n in sorted(p.glob("*AOT*.nc"))]
    previous = None
    l2as = [p for p in entries if p.is_dir() and (m := MUSCATE_ID.match(p.name)) and m["level"] == "L2A"]
    l2as = [p for p in l2as if MUSCATE_ID.match(p.name)["tile"] == tile.id]  # type: ignore[index]
    if mode == "L2NOMINAL":
        if not l2as:
            raise InputError(f"L2NOMINAL needs the previous L2A of tile {tile.id} in {folder}: none found")
        previous = read_l2a(max(l2as, key=lambda p: p.name.split("_")[1]))
        if not previous.valid:
            raise InputError(f"the previous L2A {previous.product_id} is not valid (too cloudy): use L2INIT")
    return Inputs(safes[0], safes[1:], dems[0], cams[0] if cams else None, previous)


def _stamp(safe: Path) -> str:
    return safe.name.split("_")[2]


@dataclass(frozen=True)
class L1C:
    item: dict[str, Any]
    toa: dict[str, Array]  # on the R1 grid, by MUSCATE band name (B2) and B10
    edge: NDArray[np.bool_]
    saturated: dict[str, NDArray[np.bool_]]
    shapes: dict[str, tuple[int, int]]


def read_l1c(safe: Path) -> L1C:
    try:
        item = EsaSafeL1C().read(safe)[0]
    except HygorError as exc:
        raise InputError(str(exc)) from None
    toa, saturated = {}, {}
    shape: tuple[int, int] | None = None
    shapes: dict[str, tuple[int, int]] = {}
    edge: NDArray[np.bool_] | None = None
    for name, key in (*L1C_BANDS.items(), ("B10", "B10")):
        asset = item["assets"][key]
        try:
            digital, _ = read_band(Path(asset["href"]))
        except RasterioError as exc:
            raise InputError(f"{asset['href']}: cannot be read ({str(exc).splitlines()[0]})") from None
        shapes.setdefault("R1" if name == "B2" else "R2" if name == "B11" else "", digital.shape)
        shape = shape or digital.shape
        digital = resize(digital, shape)
        band = asset["bands"][0]
        reflectance = digital * band["raster:scale"] + band.get("raster:offset", 0.0)
        toa[name] = np.where(digital == 0, np.nan, reflectance).astype(np.float32)
        saturated[name] = digital == 65535
        edge = (digital == 0) if edge is None else edge | (digital == 0)
    assert edge is not None
    return L1C(item, toa, edge, saturated, {group: shapes[group] for group in ("R1", "R2")})


def cams_aot(path: Path | None, tile: Tile) -> float:
    if path is None:
        log(f"warning: no CAMS data in the input, constant aerosol optical thickness {DEFAULT_AOT}")
        return DEFAULT_AOT
    lon, lat = tile.footprint().centroid.coords[0]
    try:
        with rasterio.open(f"netcdf:{path}:aod550") as dataset:
            row, column = dataset.index(lon, lat)
            value = float(dataset.read(1)[row, column])
    except (RasterioError, IndexError) as exc:
        log(f"warning: CAMS file {path.name} unreadable ({exc}), constant AOT {DEFAULT_AOT}")
        return DEFAULT_AOT
    log(f"CAMS aod550 at the tile centre: {value:.3f}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="maja", description="MAJA stand-in: Sentinel-2 L1C to THEIA L2A")
    parser.add_argument("-w", dest="workdir", required=True, type=Path)
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--mode", required=True, choices=MODES)
    parser.add_argument("-ucs", dest="userconf", required=True, type=Path)
    parser.add_argument("--TileId", dest="tile", required=True)
    args = parser.parse_args(argv)
    return run(lambda: _configured(args.userconf) and process(args.input, args.output, args.mode, args.tile))


def _configured(userconf: Path) -> bool:
    maja_userconf.check(userconf)
    return True


def process(input_dir: Path, output: Path, mode: str, tile_id: str) -> int:
    try:
        tile = grid.tile(tile_id)
    except HygorError as exc:
        raise InputError(str(exc)) from None
    inputs = find_inputs(input_dir, tile, mode)
    log(f"{mode} on tile {tile.id}: {inputs.l1c.name}" + (f" (+{len(inputs.later)} later L1C)" * bool(inputs.later)))
    l1c = read_l1c(inputs.l1c)
    properties = l1c.item["properties"]
    zenith, azimuth = 90 - properties["view:sun_elevation"], properties["view:sun_azimuth"]
    shape = l1c.shapes["R1"]
    dem = {kind: _dem(inputs.dem, kind, tile, shape) for kind in ("ALT", "SLP", "ASP")}
    masks = cloud_masks(l1c, inputs.previous)
    cloud_percent = 100 * float(masks["summary"][~l1c.edge].mean()) if (~l1c.edge).any() else 100.0
    aot = min(cams_aot(inputs.cams, tile), _dark_object_aot(l1c, masks))
    log(f"aerosol optical thickness {aot:.3f}, cloud cover {cloud_percent:.1f} %")
    aot_field = (aot * np.exp(-dem["ALT"] / AEROSOL_HEIGHT_M)).astype(np.float32)
    sre = {}
    for band, wavelength in WAVELENGTHS.items():
        path, transmission = atmosphere(wavelength, aot_field)
        sre[band] = ((l1c.toa[band] - path) / transmission).astype(np.float32)
    lit = illumination(dem["SLP"] / 100, dem["ASP"] / 100, zenith, azimuth)
    fre = {band: np.where(lit > 0.1, values / np.maximum(lit, 0.1), values) for band, values in sre.items()}
    water = (sre["B8"] < 0.05) & (sre["B11"] < 0.03) & ~masks["cloud"]
    snow = masks["snow"] & ~masks["summary"]
    clear = ~l1c.edge & ~masks["summary"]
    snow_percent = 100 * float(snow[clear].mean()) if clear.any() else 0.0
    platform = properties["platform"].replace("sentinel-", "SENTINEL").upper()
    acquired = datetime.fromisoformat(properties["datetime"])
    version = chain_version("maja-l2a")
    description = Description(
        product_id=product_id(platform, acquired, "L2A", tile, version),
        level="L2A",
        tile=tile,
        platform=platform,
        acquired=acquired,
        version=version,
        shapes=l1c.shapes,
        cloud_percent=cloud_percent,
        snow_percent=snow_percent,
        orbit=properties.get("sat:absolute_orbit", -1),
        sun=(zenith, azimuth),
        inputs=[l1c.item["id"], *([inputs.previous.product_id] if inputs.previous else [])],
    )
    valid = cloud_percent <= MAX_CLOUD
    folder = output / description.product_id
    folder.mkdir(parents=True, exist_ok=True)
    mg2 = water * 1 + masks["cloud"] * 2 + snow * 4 + masks["shadow"] * 8 + (lit <= 0.1) * 16
    listings = _write_masks(folder, description, l1c, masks["clm"], mg2.astype(np.uint8))
    if valid:
        write_reflectances(folder, description, "SRE", sre)
        write_reflectances(folder, description, "FRE", fre)
        listings += _write_atb(folder, description, aot_field, l1c.edge)
        listings += [reflectance_listing(description, "SRE", "Surface_Reflectance")]
        listings += [reflectance_listing(description, "FRE", "Flat_Reflectance")]
    listings += [_write_jpi(folder, description, mode, valid)]
    quicklook = write_quicklook(folder, description, [fre["B4"], fre["B3"], fre["B2"]])
    write_metadata(folder, description, listings, quicklook)
    log(f"{'valid' if valid else 'invalid (too cloudy: L2NOTV)'} product written: {folder}")
    return 0


def _dem(folder: Path, kind: str, tile: Tile, shape: tuple[int, int]) -> Array:
    found = sorted(folder.glob(f"*_{kind}_R1.TIF"))
    if not found:
        raise InputError(f"the DEM {folder.name} has no {kind}_R1 file")
    try:
        return np.nan_to_num(read_on_tile(found[0], tile, shape, Resampling.bilinear))
    except RasterioError as exc:
        raise InputError(f"{found[0]}: cannot be read ({str(exc).splitlines()[0]})") from None


def cloud_masks(l1c: L1C, previous: L2A | None) -> dict[str, NDArray[Any]]:
    """Clouds from thresholds on blue and cirrus reflectance, not snow (NDSI); NOMINAL, also where blue rose
    sharply since the previous clear observation; then the shadows: dark pixels near clouds."""
    toa = {band: np.nan_to_num(values) for band, values in l1c.toa.items()}
    ndsi = (toa["B3"] - toa["B11"]) / np.maximum(toa["B3"] + toa["B11"], 1e-6)
    snow = (ndsi > 0.4) & (toa["B4"] > 0.2)
    mono = ((toa["B2"] > 0.2) & ~snow) | (toa["B10"] > 0.02)
    multi = np.zeros_like(mono)
    if previous is not None:
        shape = toa["B2"].shape
        before = np.nan_to_num(resize(previous.reflectance("B2", "R1", "SRE"), shape), nan=1.0)
        was_clear = resize(previous.mask("CLM", "R1"), shape) == 0
        multi = was_clear & (toa["B2"] - before > 0.08) & ~snow & (toa["B2"] > 0.12)
    cloud = (mono | multi) & ~l1c.edge
    pixel = float(l1c.item["assets"]["B02"]["proj:transform"][0])
    near = dilate(cloud, max(1, round(3000 / pixel))) & ~cloud
    shadow = near & (toa["B8"] < 0.15) & (toa["B11"] > 0.03)
    border = dilate(cloud, max(1, round(240 / pixel))) & ~cloud
    summary = cloud | shadow | border
    clm = summary * 1 + (cloud | shadow) * 2 + mono * 4 + multi * 8 + shadow * 32 + (toa["B10"] > 0.02) * 128
    return {
        "cloud": cloud,
        "snow": snow,
        "shadow": shadow,
        "summary": summary,
        "clm": (clm * ~l1c.edge).astype(np.uint8),
    }


def _dark_object_aot(l1c: L1C, masks: dict[str, NDArray[Any]]) -> float:
    """The largest AOT that keeps the darkest clear land pixels (1st percentile of blue) at 1 % reflectance."""
    clear = ~masks["summary"] & ~l1c.edge & ~masks["snow"]
    if clear.sum() < 100:
        return math.inf
    darkest = float(np.percentile(l1c.toa["B2"][clear], 1))
    path_per_aot, _ = atmosphere(WAVELENGTHS["B2"], 1.0)
    return max(0.0, (darkest - 0.01) / float(path_per_aot))


def _write_masks(
    folder: Path, description: Description, l1c: L1C, clm: NDArray[Any], mg2: NDArray[Any]
) -> list[Listing]:
    write_masks(folder, description, "CLM", clm)
    write_masks(folder, description, "MG2", mg2)
    write_masks(folder, description, "EDG", l1c.edge.astype(np.uint8))
    saturation = np.zeros(l1c.edge.shape, dtype=np.uint8)
    for bit, band in enumerate(("B2", "B3", "B4", "B8")):
        saturation |= (l1c.saturated[band] << bit).astype(np.uint8)
    write_masks(folder, description, "SAT", saturation)
    mg2_bits = ("Water", "Cloud", "Snow", "Cloud_Shadow", "Topography_Shadow")
    return [
        mask_listing(description, "CLM", "Detailed_Cloud"),
        mask_listing(description, "EDG", "Edge"),
        mask_listing(description, "SAT", "Saturation"),
        *(mask_listing(description, "MG2", nature) for nature in mg2_bits),
    ]


def _write_atb(folder: Path, description: Description, aot: Array, edge: NDArray[np.bool_]) -> list[Listing]:
    """``<id>_ATB_R1/R2.tif``: water vapour (x 20) and AOT (x 200) in bytes, 0 as no data."""
    vapour = np.full(aot.shape, round(WATER_VAPOUR * 20), dtype=np.uint8)
    thickness = np.clip(np.round(aot * 200), 1, 255).astype(np.uint8)
    atb = np.where(edge, 0, np.stack([vapour, thickness])).astype(np.uint8)
    for group, shape in description.shapes.items():
        bands = np.stack([resize(band, shape) for band in atb])
        write_cog(folder / f"{description.product_id}_ATB_{group}.tif", bands, description.tile, nodata=0)
    files = [(f"{description.product_id}_ATB_{group}.tif", {"group_id": group}) for group in description.shapes]
    return [Listing("Image", "Water_Vapor_Content", files), Listing("Image", "Aerosol_Optical_Thickness", files)]


def _write_jpi(folder: Path, description: Description, mode: str, valid: bool) -> Listing:
    """MAJA's job processing report, ``DATA/<id>_JPI_ALL.xml``, with its Validity_Flag."""
    relative = f"DATA/{description.product_id}_JPI_ALL.xml"
    report = ET.Element("JobProcessingInformations")
    flags = ET.SubElement(report, "Processing_Flags_And_Modes_List")
    for key, value in (
        ("Processing_Mode", mode.removeprefix("L2")),
        ("Validity_Flag", "L2VALD" if valid else "L2NOTV"),
    ):
        flag = ET.SubElement(flags, "Processing_Flags_And_Modes")
        ET.SubElement(flag, "Key").text = key
        ET.SubElement(flag, "Value").text = value
    (folder / "DATA").mkdir(exist_ok=True)
    ET.indent(report)
    ET.ElementTree(report).write(folder / relative, encoding="utf-8", xml_declaration=True)
    return Listing("Data", "Job_Processing_Informations_File", [(relative, {"group_id": "ALL"})])


if __name__ == "__main__":
    sys.exit(main())
