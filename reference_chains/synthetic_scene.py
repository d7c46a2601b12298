"""The synthetic world seen by the synthetic Sentinel-2 L1C: mountains with lakes, seasonal snow and vegetation,
random clouds with their shadows, seen through the toy atmosphere that the MAJA stand-in inverts.

Everything is deterministic from the seed, the tile and the date. Reflectances are per ESA band (``B02``).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hygor.grid import Tile
from hygor.readers.esa_safe import SPECTRAL
from reference_chains.maja import atmosphere, illumination, slope_aspect

Array = NDArray[Any]
# Surface reflectance spectra, in the band order of SPECTRAL (B01 ... B12; B10 is seen through the atmosphere).
SPECTRA = {
    "water": (0.06, 0.05, 0.04, 0.03, 0.02, 0.015, 0.012, 0.01, 0.008, 0.005, 0.0, 0.005, 0.003),
    "snow": (0.92, 0.9, 0.88, 0.86, 0.84, 0.82, 0.8, 0.76, 0.73, 0.62, 0.0, 0.08, 0.04),
    "vegetation": (0.03, 0.04, 0.07, 0.04, 0.1, 0.25, 0.32, 0.35, 0.36, 0.34, 0.0, 0.18, 0.09),
    "soil": (0.08, 0.1, 0.13, 0.17, 0.2, 0.22, 0.24, 0.26, 0.27, 0.27, 0.0, 0.32, 0.25),
    "cloud": (0.62, 0.6, 0.6, 0.61, 0.62, 0.62, 0.63, 0.63, 0.63, 0.55, 0.25, 0.45, 0.35),
}
CLOUD_HEIGHT_M = 2000.0
CLOUDY_EVERY = 8  # one acquisition in eight is over 90 % cloudy


def stable_hash(*parts: object) -> int:
    """A hash that does not change between runs (unlike ``hash``)."""
    return zlib.crc32("/".join(map(str, parts)).encode())


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> Array:
    """Values in [0, 1] varying smoothly over ``cells`` cells a side (smoothstep interpolation of random nodes)."""
    nodes = rng.random((cells + 1, cells + 1))
    position = np.linspace(0, cells, size)
    index = np.minimum(position.astype(int), cells - 1)
    fraction = position - index
    fraction = fraction * fraction * (3 - 2 * fraction)
    rows = nodes[index] * (1 - fraction)[:, None] + nodes[index + 1] * fraction[:, None]
    result = rows[:, index] * (1 - fraction) + rows[:, index + 1] * fraction
    noise: Array = result.astype(np.float32)
    return noise


@dataclass(frozen=True)
class Landscape:
    """The unchanging ground of a tile: altitude (m), slope and aspect (rad), lakes and how green it can get."""

    tile: Tile
    altitude: Array
    slope: Array
    aspect: Array
    water: NDArray[np.bool_]
    greenness: Array

    @property
    def pixel_size(self) -> float:
        return float((self.tile.xmax - self.tile.xmin) / self.altitude.shape[1])


def landscape(tile: Tile, size: int, seed: int) -> Landscape:
    rng = np.random.default_rng([seed, stable_hash(tile.id)])
    relief = 0.6 * smooth_noise(rng, size, 4) + 0.3 * smooth_noise(rng, size, 12) + 0.1 * smooth_noise(rng, size, 40)
    relief = (relief - relief.min()) / max(float(np.ptp(relief)), 1e-6)
    altitude = 150 + 3200 * relief**2
    water = np.zeros((size, size), dtype=bool)
    rows, columns = np.mgrid[0:size, 0:size]
    low = np.argwhere(altitude < np.quantile(altitude, 0.3))
    for row, column in low[rng.choice(len(low), size=4, replace=False)]:
        radius = size * rng.uniform(0.01, 0.025)
        lake = (rows - row) ** 2 + (columns - column) ** 2 <= radius**2
        water |= lake
        altitude[lake] = altitude[lake].min()
    pixel = (tile.xmax - tile.xmin) / size
    slope, aspect = slope_aspect(altitude, pixel)
    greenness = 0.3 + 0.7 * smooth_noise(rng, size, 20)
    return Landscape(tile, altitude.astype(np.float32), slope, aspect, water, greenness)


def sun_angles(when: datetime, longitude: float, latitude: float) -> tuple[float, float]:
    """Sun zenith and azimuth (degrees, azimuth clockwise from north) from the usual declination formulas."""
    day = when.timetuple().tm_yday
    declination = math.radians(23.44) * math.sin(2 * math.pi * (284 + day) / 365)
    solar_hours = when.hour + when.minute / 60 + when.second / 3600 + longitude / 15
    hour_angle = math.radians(15 * (solar_hours - 12))
    lat = math.radians(latitude)
    cos_zenith = math.sin(lat) * math.sin(declination) + math.cos(lat) * math.cos(declination) * math.cos(hour_angle)
    zenith = math.acos(max(-1.0, min(1.0, cos_zenith)))
    azimuth = math.atan2(
        math.sin(hour_angle), math.cos(hour_angle) * math.sin(lat) - math.tan(declination) * math.cos(lat)
    )
    return math.degrees(zenith), (math.degrees(azimuth) + 180) % 360


def snow_line(when: datetime) -> float:
    """Altitude (m) above which the ground is snowy: about 700 m in mid-January, 2,900 m in mid-July."""
    return 1800 - 1100 * math.cos(2 * math.pi * (when.timetuple().tm_yday - 15) / 365.25)


def cloud_target(tile: Tile, index: int, seed: int) -> float:
    """The cloud fraction wanted for the ``index``-th acquisition of a tile: mostly 0-60 %, one in eight > 90 %."""
    rng = np.random.default_rng([seed, stable_hash(tile.id, index)])
    if (index + stable_hash(tile.id, seed)) % CLOUDY_EVERY == 0:
        return float(rng.uniform(0.93, 1.0))
    return float(0.6 * rng.random() ** 1.5)


@dataclass(frozen=True)
class Scene:
    """One acquisition: top-of-atmosphere reflectance by band, what is really there, and the sun."""

    toa: dict[str, Array]
    cloud: NDArray[np.bool_]
    snow: NDArray[np.bool_]
    sun_zenith: float
    sun_azimuth: float
    aot: float

    @property
    def cloud_percent(self) -> float:
        return round(100 * float(self.cloud.mean()), 4)


def scene(land: Landscape, when: datetime, cloud_fraction: float, aot: float, seed: int) -> Scene:
    rng = np.random.default_rng([seed, stable_hash(land.tile.id, when.isoformat())])
    lon, lat = land.tile.footprint().centroid.coords[0]
    zenith, azimuth = sun_angles(when, lon, lat)
    size = land.altitude.shape[0]
    snow = (land.altitude > snow_line(when) + 200 * (smooth_noise(rng, size, 30) - 0.5)) & ~land.water
    season = 0.5 - 0.5 * math.cos(2 * math.pi * (when.timetuple().tm_yday - 30) / 365.25)
    green = np.clip(land.greenness * (0.35 + 0.65 * season), 0, 1)
    lit = illumination(land.slope, land.aspect, zenith, azimuth)
    cover = smooth_noise(rng, size, 6) + 0.5 * smooth_noise(rng, size, 18)
    threshold = float(np.quantile(cover, 1 - cloud_fraction)) if cloud_fraction > 0 else np.inf
    opacity = np.clip((cover - threshold) / 0.08 + 0.5, 0, 1) * (cover > threshold)
    shadow = _shadow(opacity > 0.3, zenith, azimuth, land.pixel_size) & (opacity == 0)
    aot_field = aot * np.exp(-land.altitude / 2500)
    toa = {}
    for index, (band, spec) in enumerate(SPECTRAL.items()):
        ground = green * SPECTRA["vegetation"][index] + (1 - green) * SPECTRA["soil"][index]
        ground = np.where(snow, SPECTRA["snow"][index], ground) * lit
        ground = np.where(land.water, SPECTRA["water"][index], ground) * np.where(shadow, 0.35, 1.0)
        path, transmission = atmosphere(spec.wavelength, aot_field)
        seen = path + transmission * ground if band != "B10" else np.full_like(ground, 0.002)
        toa[band] = (opacity * SPECTRA["cloud"][index] + (1 - opacity) * seen).astype(np.float32)
    return Scene(toa, opacity > 0.5, snow & (opacity <= 0.5), zenith, azimuth, aot)


def _shadow(cloud: NDArray[np.bool_], zenith: float, azimuth: float, pixel: float) -> NDArray[np.bool_]:
    """Where clouds at ``CLOUD_HEIGHT_M`` cast their shadow: away from the sun."""
    reach = CLOUD_HEIGHT_M * math.tan(math.radians(min(zenith, 80))) / pixel
    east, north = reach * math.sin(math.radians(azimuth)), reach * math.cos(math.radians(azimuth))
    rows, columns = round(north), round(-east)  # the shadow lies opposite the sun: rows grow southwards
    return np.asarray(np.roll(cloud, (rows, columns), axis=(0, 1)), dtype=bool)
