"""Synthetic inputs of the Sentinel-2 chains for the demo and the tests: L1C products of the tiles over a period,
the DEM of each tile and the CAMS aerosols of each day, in their real layouts (see ``synthetic_safe`` and
``synthetic_aux``) and deterministic from the seed.

Acquisitions come every 5 days, S2A and S2B in turn, on one relative orbit per tile, at 10:30 local solar time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from hygor import grid
from hygor.grid import Tile
from reference_chains.synthetic_aux import aod550, write_cams, write_dem
from reference_chains.synthetic_safe import Acquisition, write_l1c
from reference_chains.synthetic_scene import cloud_target, landscape, scene, stable_hash

EPOCH = date(2017, 1, 1)
REVISIT_DAYS = 5
ORBITS = 143  # relative orbits in a 10-day cycle
LAUNCHES = {"S2A": date(2015, 6, 23), "S2B": date(2017, 3, 7)}
ORBIT_OFFSETS = {"S2A": 0, "S2B": 70}  # relative orbit = (absolute - 2 + offset) mod 143 + 1


@dataclass(frozen=True)
class Acquired:
    """An L1C written, with the truth of its scene."""

    acquisition: Acquisition
    path: Path
    cloud_percent: float
    snow_percent: float


@dataclass(frozen=True)
class SyntheticInputs:
    """What ``make_inputs`` wrote, by collection: L1C ``.SAFE`` folders, DEM and CAMS item files."""

    root: Path
    l1c: tuple[Acquired, ...]
    dem: tuple[Path, ...]
    cams: tuple[Path, ...]

    @property
    def l1c_paths(self) -> tuple[Path, ...]:
        return tuple(acquired.path for acquired in self.l1c)


def centre(tile: Tile) -> tuple[float, float]:
    """Longitude and latitude of the tile's centre."""
    lon, lat = tile.footprint().centroid.coords[0]
    return float(lon), float(lat)


def schedule(tile: Tile, start: date, end: date) -> list[tuple[int, Acquisition]]:
    """The acquisitions of ``tile`` from ``start`` to ``end`` (included), each with its index since the epoch."""
    phase = stable_hash(tile.id) % REVISIT_DAYS
    relative = 1 + stable_hash(tile.id, "orbit") % ORBITS
    lon, _ = centre(tile)
    found = []
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        days = (day - EPOCH).days - phase
        if days % REVISIT_DAYS:
            continue
        index = days // REVISIT_DAYS
        platform = "S2A" if index % 2 == 0 else "S2B"
        milliseconds = round((10.5 - lon / 15) * 3_600_000) + stable_hash(tile.id, day) % 60_000
        when = datetime.combine(day, time(), UTC) + timedelta(milliseconds=milliseconds)
        found.append((index, Acquisition(tile, when, platform, relative, _absolute_orbit(platform, day, relative))))
    return found


def _absolute_orbit(platform: str, day: date, relative: int) -> int:
    """The absolute orbit near the one of ``day`` (14.3 orbits a day since launch) that has ``relative``."""
    estimate = max(ORBITS, round((day - LAUNCHES[platform]).days * ORBITS / 10))
    return estimate - (estimate - 2 + ORBIT_OFFSETS[platform] - (relative - 1)) % ORBITS


def make_inputs(
    root: Path, tiles: Sequence[str], start: date, end: date, *, pixel_size: float = 200.0, seed: int = 0
) -> SyntheticInputs:
    """Write the L1C, DEM and CAMS inputs of ``tiles`` from ``start`` to ``end`` under ``root/<collection>/``."""
    l1c_root, dem_root, cams_root = (root / name for name in ("sentinel-2-l1c", "dem-tiles", "cams-aerosol"))
    for folder in (l1c_root, dem_root, cams_root):
        folder.mkdir(parents=True, exist_ok=True)
    acquired, dems = [], []
    for tile_id in tiles:
        tile = grid.tile(tile_id)
        size = round((tile.xmax - tile.xmin) / pixel_size)
        land = landscape(tile, size, seed)
        dems.append(write_dem(dem_root, land))
        lon, lat = centre(tile)
        for index, acquisition in schedule(tile, start, end):
            aot = float(aod550(acquisition.when.date(), lon, lat))
            seen = scene(land, acquisition.when, cloud_target(tile, index, seed), aot, seed)
            path = write_l1c(l1c_root, acquisition, seen)
            snow = round(100 * float(seen.snow.mean()), 4)
            acquired.append(Acquired(acquisition, path, seen.cloud_percent, snow))
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    cams = [write_cams(cams_root, day) for day in days]
    acquired.sort(key=lambda a: (a.acquisition.when, a.acquisition.tile.id))
    return SyntheticInputs(root, tuple(acquired), tuple(dems), tuple(cams))
