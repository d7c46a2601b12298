"""Stand-in for S1Tiling's ``S1Processor config.cfg``: Sentinel-1 backscatter on the Sentinel-2 tile grid.

The configuration is S1Tiling's INI file, its options read as S1Tiling 1.1 reads them (required ones
missing or malformed stop it): ``[Paths]`` output, tmp, s1_images, dem_dir (the DEM tiles, named by dem_format,
``{id}.hgt`` by default); ``[DataSource]`` download, roi_by_tiles, polarisation (VV-VH, VV, VH, HH-HV, HH or HV),
orbit_direction (ASC|DES), relative_orbit_list, first_date, last_date; ``[Mask]`` generate_border_mask;
``[Processing]`` calibration (sigma|beta|gamma|dn|normlim), remove_thermal_noise, tiles (``31TCJ, 31TCH``),
output_spatial_resolution (metres), orthorectification_gridspacing, nb_parallel_processes, ram_per_process,
nb_otb_threads.

``s1_images`` holds GRD product folders (``S1A_IW_GRDH_1SDV_20200108T044150_..._1F3A.SAFE``). Their
``manifest.safe``, when there, gives the pass direction, relative orbit and footprint; else the relative orbit
comes from the absolute one of the name, the direction from the local solar time of the tile (descending passes
in the morning) and the pass covers every tile. Slices of one unit, direction, relative orbit and day make one
pass, written once per tile and polarisation as
``<output>/<tile>/s1a_<tile>_vv_<DES|ASC>_<orbit>_<YYYYMMDD>t<hhmmss>.tif`` (time ``xxxxxx`` for several slices)
with its ``_BorderMask`` (and ``_NormLim`` images and ``sin_LIA_`` for the normlim calibration).

No GRD measurement is read here (the folders may hold only a manifest): the backscatter is a synthetic model.
The incidence angle grows from 32 to 42 degrees across the tile away from the radar (east of it ascending, west
descending); the local incidence angle tilts it by the slope of the DEM (the tiles of ``dem_dir`` that
``dem_format`` names, mosaicked on the tile; flat where none covers it); sigma0 VV = 0.2 cos^2(local incidence),
VH = VV / 5;
"lakes" at 0.004 (VV) where sin(2 pi x / 20 km) sin(2 pi y / 17 km) > 0.8 in UTM metres, so they stay in place
from date to date; 4-look speckle (gamma distribution) from a generator seeded by tile, pass and polarisation;
no data (0) outside the footprint, else beyond a slanted swath edge whose place depends on the orbit.

Exit status as S1Tiling's: 0 done, 66 a task failed (a tile without input), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import configparser
import re
import sys
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Transformer
from rasterio import features
from rasterio.transform import from_bounds
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from hygor import grid
from hygor.grid import Tile, UnknownTile
from hymotep.chains import S1TILING_POLARISATIONS
from reference_chains.l2a import chain_version, run
from reference_chains.rasters import read_on_tile, write_cog

COLLECTION = "s1tiling-backscatter"
TASK_FAILED = 66
GRD = re.compile(
    r"^(?P<unit>S1[A-D])_IW_GRD[HMF]_1S(?P<polarisations>SV|DV|SH|DH)_(?P<start>\d{8}T\d{6})_(?P<stop>\d{8}T\d{6})"
    r"_(?P<orbit>\d{6})_[0-9A-F]{6}_[0-9A-F]{4}(?:\.SAFE)?$"
)
POLARISATIONS = {"SV": ("vv",), "DV": ("vv", "vh"), "SH": ("hh",), "DH": ("hh", "hv")}
# Relative orbit = (absolute - offset) % 175 + 1 (Sentinel-1A and B; others need their manifest).
ORBIT_OFFSETS = {"S1A": 73, "S1B": 27}
CALIBRATIONS = ("sigma", "beta", "gamma", "dn", "normlim")
MANIFEST = {
    "direction": re.compile(r"<(?:\w+:)?pass>\s*(ASCENDING|DESCENDING)\s*<"),
    "orbit": re.compile(r"<(?:\w+:)?relativeOrbitNumber[^>]*type=\"start\"[^>]*>\s*(\d+)\s*<"),
    "footprint": re.compile(r"<(?:\w+:)?coordinates>([^<]+)<"),
}
# The options S1Tiling 1.1 reads without a default (s1tiling/libs/configuration.py), and how it reads them.
REQUIRED_OPTIONS = (
    ("Paths", "output", "str"), ("Paths", "s1_images", "str"), ("Paths", "dem_dir", "str"), ("Paths", "tmp", "str"),
    ("DataSource", "download", "boolean"), ("DataSource", "roi_by_tiles", "str"),
    ("DataSource", "first_date", "str"), ("DataSource", "last_date", "str"), ("DataSource", "polarisation", "str"),
    ("Mask", "generate_border_mask", "boolean"),
    ("Processing", "calibration", "str"), ("Processing", "remove_thermal_noise", "boolean"),
    ("Processing", "output_spatial_resolution", "float"), ("Processing", "orthorectification_gridspacing", "float"),
    ("Processing", "tiles", "str"), ("Processing", "nb_parallel_processes", "int"),
    ("Processing", "ram_per_process", "int"), ("Processing", "nb_otb_threads", "int"),
)  # fmt: skip
READERS: dict[str, Callable[[configparser.ConfigParser, str, str], object]] = {
    "str": configparser.ConfigParser.get,
    "boolean": configparser.ConfigParser.getboolean,
    "float": configparser.ConfigParser.getfloat,
    "int": configparser.ConfigParser.getint,
}
NEAR_INCIDENCE, FAR_INCIDENCE = 32.0, 42.0
SPECKLE_LOOKS = 4
LAKE_VV = 0.004


@dataclass(frozen=True)
class Config:
    output: Path
    dem_dir: Path
    dem_format: str
    s1_images: Path
    polarisations: tuple[str, ...]
    direction: str | None
    orbits: frozenset[int]
    first: date | None
    last: date | None
    calibration: str
    tiles: tuple[Tile, ...]
    resolution: float


@dataclass(frozen=True)
class Slice:
    """One GRD product: its name and what its manifest (or name) says."""

    name: str
    unit: str
    start: datetime
    polarisations: tuple[str, ...]
    direction: str | None
    orbit: int | None
    footprint: BaseGeometry | None


@dataclass(frozen=True)
class Pass:
    unit: str
    direction: str
    orbit: int
    slices: tuple[Slice, ...]

    @property
    def stamp(self) -> str:
        first = self.slices[0].start
        return f"{first:%Y%m%d}t" + ("xxxxxx" if len(self.slices) > 1 else f"{first:%H%M%S}")


def main(argv: list[str] | None = None) -> int:
    return run(lambda: _process(_config(argv)))


def _config(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(prog="S1Processor", description="S1Tiling backscatter on S2 tiles (stand-in)")
    parser.add_argument("config", type=Path, help="S1Tiling configuration file (INI)")
    path: Path = parser.parse_args(argv).config
    ini = configparser.ConfigParser(interpolation=None)
    try:
        if not ini.read(path):
            parser.error(f"{path}: no such configuration file")
    except configparser.Error as exc:
        parser.error(f"{path}: not an S1Tiling configuration ({str(exc).splitlines()[0]})")

    def value(section: str, key: str, default: str | None = None) -> str:
        found = ini.get(section, key, fallback=default)
        if found is None:
            parser.error(f"{path}: [{section}] {key} is missing")
        return found.strip()

    try:
        for section, key, kind in REQUIRED_OPTIONS:  # missing: a usage error; malformed: a ValueError
            READERS[kind](ini, section, key) if ini.has_option(section, key) else value(section, key)
        direction = value("DataSource", "orbit_direction", "").upper() or None
        if direction not in (None, "ASC", "DES"):
            raise ValueError(f"orbit_direction {direction} is neither ASC nor DES")
        calibration = value("Processing", "calibration")
        if calibration not in CALIBRATIONS:
            raise ValueError(f"calibration {calibration} is not one of {', '.join(CALIBRATIONS)}")
        polarisation = value("DataSource", "polarisation")
        if polarisation not in S1TILING_POLARISATIONS:
            raise ValueError(f"polarisation must be one of {', '.join(S1TILING_POLARISATIONS)}, not {polarisation!r}")
        return Config(
            output=Path(value("Paths", "output")),
            dem_dir=Path(value("Paths", "dem_dir")),
            dem_format=value("Paths", "dem_format", "{id}.hgt"),
            s1_images=Path(value("Paths", "s1_images")),
            polarisations=tuple(p.lower() for p in polarisation.split("-")),
            direction=direction,
            orbits=frozenset(int(o) for o in re.split(r"[\s,]+", value("DataSource", "relative_orbit_list", "")) if o),
            first=_date(value("DataSource", "first_date")),
            last=_date(value("DataSource", "last_date")),
            calibration=calibration,
            tiles=tuple(grid.tile(t) for t in re.split(r"[\s,]+", value("Processing", "tiles")) if t),
            resolution=ini.getfloat("Processing", "output_spatial_resolution"),
        )
    except (ValueError, UnknownTile) as exc:
        parser.error(f"{path}: {exc}")


def _date(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def _process(config: Config) -> int:
    version = chain_version(COLLECTION)
    print(f"S1Tiling {version} (stand-in): {len(config.tiles)} tiles from {config.s1_images}", flush=True)
    slices = _slices(config)
    failed = []
    for tile in config.tiles:
        passes = _passes(config, tile, slices)
        if not passes:
            failed.append(tile.id)
            continue
        dem = _dem(config, tile)
        for one_pass in passes:
            written = _write_pass(config, tile, one_pass, dem, version)
            print(f"S1Tiling: {tile.id} {one_pass.unit} {one_pass.direction} {one_pass.orbit:03d}: {written} files")
    if failed:
        print(f"error: no Sentinel-1 input for tile(s) {', '.join(failed)} in {config.s1_images}", file=sys.stderr)
        return TASK_FAILED
    return 0


def _slices(config: Config) -> list[Slice]:
    """The GRD products of ``s1_images`` within the configured dates."""
    if not config.s1_images.is_dir():
        return []
    found = []
    for entry in sorted(config.s1_images.iterdir()):
        name = GRD.match(entry.name)
        if name is None:
            continue
        start = datetime.strptime(name["start"], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        if (config.first and start.date() < config.first) or (config.last and start.date() > config.last):
            continue
        manifest = entry / "manifest.safe"
        text = manifest.read_text(errors="replace") if manifest.is_file() else ""
        found.append(
            Slice(
                name=entry.name,
                unit=name["unit"].lower(),
                start=start,
                polarisations=POLARISATIONS[name["polarisations"]],
                direction=_manifest_direction(text),
                orbit=_manifest_orbit(text) or _relative_orbit(name["unit"], int(name["orbit"])),
                footprint=_manifest_footprint(text),
            )
        )
    return found


def _manifest_direction(text: str) -> str | None:
    found = MANIFEST["direction"].search(text)
    return found.group(1)[:3] if found else None


def _manifest_orbit(text: str) -> int | None:
    found = MANIFEST["orbit"].search(text)
    return int(found.group(1)) if found else None


def _manifest_footprint(text: str) -> BaseGeometry | None:
    """The ``lat,lon lat,lon ...`` footprint of a manifest, as a lon/lat polygon."""
    found = MANIFEST["footprint"].search(text)
    if found is None:
        return None
    points = [tuple(float(v) for v in pair.split(",")) for pair in found.group(1).split()]
    return Polygon([(lon, lat) for lat, lon in points]) if len(points) >= 3 else None


def _relative_orbit(unit: str, absolute: int) -> int | None:
    offset = ORBIT_OFFSETS.get(unit)
    return None if offset is None else (absolute - offset) % 175 + 1


def _passes(config: Config, tile: Tile, slices: Iterable[Slice]) -> list[Pass]:
    """The passes over ``tile`` that the configuration selects, their slices in time order."""
    grouped: dict[tuple[str, str, int, date], list[Slice]] = {}
    for one in slices:
        direction = one.direction or _direction_from_time(one.start, tile)
        if one.orbit is None or (config.direction and direction != config.direction):
            continue
        if (config.orbits and one.orbit not in config.orbits) or not set(one.polarisations) & set(config.polarisations):
            continue
        if one.footprint is not None and not one.footprint.intersects(tile.footprint()):
            continue
        grouped.setdefault((one.unit, direction, one.orbit, one.start.date()), []).append(one)
    return [
        Pass(unit, direction, orbit, tuple(sorted(group, key=lambda s: s.start)))
        for (unit, direction, orbit, _), group in sorted(grouped.items())
    ]


def _direction_from_time(start: datetime, tile: Tile) -> str:
    """Sentinel-1 descends at about 6 h local solar time and ascends at about 18 h."""
    longitude = tile.footprint().centroid.x
    solar_hour = (start.hour + start.minute / 60 + longitude / 15) % 24
    return "DES" if solar_hour < 12 else "ASC"


def _shape(config: Config, tile: Tile) -> tuple[int, int]:
    return round((tile.ymax - tile.ymin) / config.resolution), round((tile.xmax - tile.xmin) / config.resolution)


def _dem(config: Config, tile: Tile) -> NDArray[np.float32]:
    """Altitude on the output grid: the DEM tiles of ``dem_dir`` named as ``dem_format`` says, mosaicked; 0 where
    none covers the tile."""
    shape = _shape(config, tile)
    altitude = np.full(shape, np.nan, dtype=np.float32)
    pattern = re.sub(r"{[^{}]*}", "*", config.dem_format)
    for path in sorted(config.dem_dir.glob(pattern)) if config.dem_dir.is_dir() else []:
        altitude = np.where(np.isnan(altitude), read_on_tile(path, tile, shape), altitude)
    return np.nan_to_num(altitude, nan=0.0)


def _write_pass(config: Config, tile: Tile, one_pass: Pass, dem: NDArray[np.float32], version: str) -> int:
    shape = dem.shape
    incidence, local = _incidence(dem, one_pass, config.resolution)
    valid = _valid_area(tile, shape, one_pass)
    tags = {
        "ACQUISITION_DATETIME": one_pass.slices[0].start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "TIFFTAG_SOFTWARE": f"S1 Tiling v{version}",
        "CALIBRATION": config.calibration,
        "FLYING_UNIT_CODE": one_pass.unit,
        "ORBIT_DIRECTION": one_pass.direction,
        "RELATIVE_ORBIT_NUMBER": f"{one_pass.orbit:03d}",
        "S2_TILE_CORRESPONDING_CODE": tile.id,
        "INPUT_S1_IMAGES": ", ".join(s.name for s in one_pass.slices),
        "ORTHORECTIFIED": "true",
    }
    folder = config.output / tile.id
    polarisations = [p for p in config.polarisations if any(p in s.polarisations for s in one_pass.slices)]
    written = 0
    for polarisation in polarisations:
        sigma0 = _sigma0(tile, shape, one_pass, polarisation, local)
        name = f"{one_pass.unit}_{tile.id}_{polarisation}_{one_pass.direction}_{one_pass.orbit:03d}_{one_pass.stamp}"
        calibrated = _calibrated(sigma0, incidence, local, config.calibration)
        image = np.where(valid, np.maximum(calibrated, 1e-6), 0).astype(np.float32)
        suffix = "_NormLim" if config.calibration == "normlim" else ""
        tagged = tags | {"POLARIZATION": polarisation}
        write_cog(folder / f"{name}{suffix}.tif", image, tile, nodata=0, tags=tagged)
        write_cog(folder / f"{name}_BorderMask.tif", valid.astype(np.uint8), tile, tags=tagged)
        written += 2
    if config.calibration == "normlim":
        sin_lia = np.sin(np.radians(local)).astype(np.float32)
        lia_name = f"sin_LIA_{one_pass.unit}_{tile.id}_{one_pass.direction}_{one_pass.orbit:03d}.tif"
        write_cog(folder / lia_name, sin_lia, tile, tags=tags)
        written += 1
    return written


def _incidence(
    dem: NDArray[np.float32], one_pass: Pass, resolution: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Ellipsoid and local incidence angles (degrees): the radar looks east ascending, west descending."""
    look = 1.0 if one_pass.direction == "ASC" else -1.0
    columns = np.linspace(0.0, 1.0, dem.shape[1])[np.newaxis, :].repeat(dem.shape[0], axis=0)
    across = columns if look > 0 else 1 - columns
    incidence = NEAR_INCIDENCE + (FAR_INCIDENCE - NEAR_INCIDENCE) * across
    slope = np.gradient(dem.astype(np.float64), resolution, axis=1)
    local = np.clip(incidence - np.degrees(np.arctan(look * slope)), 0.0, 89.0)
    return incidence, local


def _sigma0(
    tile: Tile, shape: tuple[int, ...], one_pass: Pass, polarisation: str, local: NDArray[np.float64]
) -> NDArray[np.float64]:
    rows, columns = shape
    x = np.linspace(tile.xmin, tile.xmax, columns)[np.newaxis, :]
    y = np.linspace(tile.ymax, tile.ymin, rows)[:, np.newaxis]
    lakes = np.sin(2 * np.pi * x / 20_000) * np.sin(2 * np.pi * y / 17_000) > 0.8
    co_polarised = polarisation in ("vv", "hh")
    land = 0.2 * np.cos(np.radians(local)) ** 2
    sigma0 = np.where(lakes, LAKE_VV, land) * (1.0 if co_polarised else 0.2)
    seed = zlib.crc32(f"{tile.id}/{one_pass.unit}/{one_pass.orbit}/{one_pass.stamp}/{polarisation}".encode())
    speckle = np.random.default_rng(seed).gamma(SPECKLE_LOOKS, 1 / SPECKLE_LOOKS, size=(rows, columns))
    result: NDArray[np.float64] = sigma0 * speckle
    return result


def _calibrated(
    sigma0: NDArray[np.float64], incidence: NDArray[np.float64], local: NDArray[np.float64], calibration: str
) -> NDArray[np.float64]:
    """sigma0 as beta0 (/ sin incidence), gamma0 (/ cos incidence) or normalised by the local incidence angle."""
    theta = np.radians(incidence)
    if calibration == "beta":
        return sigma0 / np.sin(theta)
    if calibration == "gamma":
        return sigma0 / np.cos(theta)
    if calibration == "normlim":
        return sigma0 / np.sin(theta) * np.sin(np.radians(local))
    return sigma0


def _valid_area(tile: Tile, shape: tuple[int, ...], one_pass: Pass) -> NDArray[np.bool_]:
    """Where the pass has data: inside the slices' footprints, else before a slanted swath edge."""
    rows, columns = shape
    footprints = [s.footprint for s in one_pass.slices if s.footprint is not None]
    if footprints:
        utm = shapely.transform(shapely.union_all(footprints), _to_utm(tile), interleaved=False)
        transform = from_bounds(*tile.bounds, columns, rows)
        inside: NDArray[np.bool_] = features.rasterize([utm], (rows, columns), transform=transform).astype(bool)
        return inside
    across = np.linspace(0.0, 1.0, columns)[np.newaxis, :] + 0.15 * np.linspace(0.0, 1.0, rows)[:, np.newaxis]
    cut = 0.55 + 0.4 * ((one_pass.orbit * 37) % 100) / 100
    edge: NDArray[np.bool_] = across < cut if one_pass.direction == "ASC" else across > 1.15 - cut
    return edge


def _to_utm(tile: Tile) -> Callable[..., Any]:
    transform: Callable[..., Any] = Transformer.from_crs(4326, tile.epsg, always_xy=True).transform
    return transform


if __name__ == "__main__":
    raise SystemExit(main())
