"""S1Tiling's own rules for the configuration file of ``S1Processor``, to check every file the s1tiling adapter
writes against them.

Transcribed from ``s1tiling/libs/configuration.py`` of S1Tiling 1.1.0 (github.com/CNES/S1Tiling, tag 1.1.0,
Apache-2.0; the rules below are unchanged in 1.4.2, the current release on PyPI): the options its
``Configuration`` reads, those read without a fallback (a missing one stops S1Processor), how each is decoded
(``getboolean``, ``getint``, ``getfloat``) and the values it accepts. The ``s1tiling`` package cannot check a file
here itself: ``s1tiling.libs.configuration`` imports ``otbApplication`` (the Orfeo ToolBox bindings, not on
PyPI) when it is imported, and the package pins GDAL's Python bindings to the system's GDAL and numpy below 2.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Callable
from pathlib import Path

# section -> option -> how S1Tiling reads it; "required" options have no fallback.
STR, BOOL, INT, FLOAT = "str", "boolean", "int", "float"
OPTIONS: dict[str, dict[str, tuple[str, bool]]] = {
    "Paths": {
        "output": (STR, True), "s1_images": (STR, True), "tmp": (STR, True), "lia": (STR, False),
        "dem_dir": (STR, True),  # or the deprecated "srtm"
        "dem_database": (STR, False), "dem_format": (STR, False), "geoid_file": (STR, False),
    },
    "DataSource": {
        "download": (BOOL, True), "roi_by_tiles": (STR, True), "first_date": (STR, True), "last_date": (STR, True),
        "polarisation": (STR, True), "platform_list": (STR, False), "orbit_direction": (STR, False),
        "relative_orbit_list": (STR, False), "tile_to_product_overlap_ratio": (INT, False),
        "eodag_config": (STR, False), "nb_parallel_downloads": (INT, False),
    },
    "Mask": {"generate_border_mask": (BOOL, True)},
    "Processing": {
        "calibration": (STR, True), "remove_thermal_noise": (BOOL, True), "output_spatial_resolution": (FLOAT, True),
        "orthorectification_gridspacing": (FLOAT, True), "tiles": (STR, True), "nb_parallel_processes": (INT, True),
        "ram_per_process": (INT, True), "nb_otb_threads": (INT, True), "mode": (STR, False),
        "cache_dem_by": (STR, False), "lower_signal_value": (FLOAT, False),
        "orthorectification_interpolation_method": (STR, False), "tiles_shapefile": (STR, False),
        "tiles_list_in_file": (STR, False), "produce_lia_map": (BOOL, False),
        "dem_warp_resampling_method": (STR, False),
        "override_azimuth_cut_threshold_to": (BOOL, False),
    },
    "Filtering": {
        "filter": (STR, False), "keep_non_filtered_products": (BOOL, False), "window_radius": (INT, False),
        "deramp": (FLOAT, False), "nblooks": (FLOAT, False),
    },
}  # fmt: skip
CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("DataSource", "polarisation"): ("VV-VH", "VV", "VH", "HH-HV", "HH", "HV"),
    ("DataSource", "orbit_direction"): ("", "ASC", "DES"),
    ("Processing", "calibration"): ("sigma", "beta", "gamma", "dn", "normlim"),  # the calibrations it knows
    ("Processing", "cache_dem_by"): ("symlink", "copy"),
}
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")  # compared as text with the products' start day


def problems(path: Path) -> list[str]:
    """What S1Tiling 1.1 would stop on in the configuration file ``path`` (read as it reads it), and any option
    it does not know (which it would silently ignore)."""
    config = configparser.ConfigParser(os.environ)  # as S1Tiling makes it: environment variables as defaults
    if not config.read(path):
        return [f"{path}: cannot be read"]
    readers: dict[str, Callable[[str, str], object]] = {
        STR: config.get, BOOL: config.getboolean, INT: config.getint, FLOAT: config.getfloat,
    }  # fmt: skip
    found: list[str] = []
    environment = {key.lower() for key in os.environ}
    for section in config.sections():
        known = OPTIONS.get(section)
        if known is None:
            found.append(f"unknown section [{section}]")
            continue
        found += [f"unknown option {name} in [{section}]" for name in config[section]
                  if name not in known and name not in environment]  # fmt: skip
    for section, options in OPTIONS.items():
        for name, (kind, required) in options.items():
            if not config.has_option(section, name):
                found += [f"missing option {name} in [{section}]"] if required else []
                continue
            try:
                value = readers[kind](section, name)
            except (ValueError, configparser.Error) as exc:
                found.append(f"cannot decode {name} in [{section}]: {exc}")
                continue
            allowed = CHOICES.get((section, name))
            if allowed is not None and value not in allowed:
                found.append(f"{name} in [{section}] is {value!r}, not one of {', '.join(allowed)}")
    for name in ("first_date", "last_date"):
        if config.has_option("DataSource", name) and not DATE.match(config.get("DataSource", name)):
            found.append(f"{name} in [DataSource] is not a date YYYY-MM-DD")
    return found
