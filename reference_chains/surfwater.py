"""Stand-in for Surfwater on Sentinel-2: the open water surfaces of one MAJA L2A.

Command line (the centre's, Surfwater has no public one)::

    surfwater --input L2A_DIR --output OUTDIR [--chain-version V]

On the 10 m grid, from the flat reflectances (FRE; B11 interpolated from 20 m): MNDWI = (B3 - B11) / (B3 + B11)
and NDVI = (B8 - B4) / (B8 + B4). Water where MNDWI > 0, NDVI < 0.2 and green below 0.2 (water is dark; snow has
a positive MNDWI too), in place of the real chain's random forest; its probability is a logistic of the MNDWI,
halved where the NDVI or the green reflectance rule water out. MAJA's cloud and
shadow mask (CLM) leaves pixels undecided (2), its edge mask (EDG) marks no data (255).

Writes ``OUTDIR/SURFWATER_<S2x>_<YYYYMMDD-HHMMSS>_T<tile>_V<version with ->/`` as ``hygor.readers.surfwater``
reads it: ``_WATER.tif``, ``_PROBA.tif``, ``_MTD.json`` and ``_QKL.png``. From an invalid L2A (too cloudy,
no reflectance) it writes an invalid product: the metadata alone, ``"valid": false``.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from reference_chains.l2a import L2A, InputError, chain_version, read_l2a, run
from reference_chains.rasters import coloured, palette, write_cog, write_picture

COLLECTION = "surfwater-water"
NOT_WATER, WATER, CLOUD, NO_DATA = 0, 1, 2, 255
MNDWI_MIN, NDVI_MAX, GREEN_MAX = 0.0, 0.2, 0.2
# Steepness of the logistic probability of water on the MNDWI (50 % at 0, 92 % at 0.25).
STEEPNESS = 10.0
PLATFORM = re.compile(r"^SENTINEL(2[A-D])$")
VERSION = re.compile(r"^\d+(?:\.\d+)*$")
QUICKLOOK = palette({NOT_WATER: "d2b48c", WATER: "0000ff", CLOUD: "c0c0c0", NO_DATA: "000000"})


def main(argv: list[str] | None = None) -> int:
    return run(lambda: _process(*_arguments(argv)))


def _arguments(argv: list[str] | None) -> tuple[Path, Path, str]:
    parser = argparse.ArgumentParser(prog="surfwater", description="Surfwater water surfaces (stand-in)")
    parser.add_argument("--input", type=Path, required=True, help="MAJA L2A product folder")
    parser.add_argument("--output", type=Path, required=True, help="folder that receives the product folder")
    parser.add_argument("--chain-version", help="version written in the product (default: the run's)")
    args = parser.parse_args(argv)
    version = args.chain_version or chain_version(COLLECTION)
    if not VERSION.match(version):
        parser.error(f"chain version {version!r} is not like 1.0.0")
    return args.input, args.output, version


def _process(input_dir: Path, output: Path, version: str) -> int:
    print(f"Surfwater {version}: reading {input_dir}", flush=True)
    l2a = read_l2a(input_dir)
    platform = PLATFORM.match(l2a.platform)
    if platform is None:
        raise InputError(f"{input_dir}: platform {l2a.platform} is not a Sentinel-2 satellite")
    product_id = f"SURFWATER_S{platform.group(1)}_{l2a.acquired:%Y%m%d-%H%M%S}_T{l2a.tile.id}_V{version}"
    product_id = product_id.replace(".", "-")
    folder = output / product_id
    folder.mkdir(parents=True, exist_ok=True)
    metadata: dict[str, Any] = {
        "product_id": product_id,
        "tile": l2a.tile.id,
        "acquisition_datetime": l2a.acquired.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "platform": f"sentinel-{platform.group(1).lower()}",
        "source_product_id": l2a.product_id,
        "chain_version": version,
    }
    if not l2a.valid:
        print(f"Surfwater: {l2a.product_id} has no reflectance: invalid product", flush=True)
        cloud = {"cloud_percentage": l2a.cloud_percent} if l2a.cloud_percent is not None else {}
        _write_metadata(folder, metadata | cloud | {"valid": False})
        return 0
    water, probability = classify(l2a)
    with_data = max(int((water != NO_DATA).sum()), 1)
    percent = {
        "water_percentage": round(100 * float((water == WATER).sum()) / with_data, 4),
        "cloud_percentage": round(100 * float((water == CLOUD).sum()) / with_data, 4),
    }
    print(f"Surfwater: water {percent['water_percentage']:.2f} %, cloud {percent['cloud_percentage']:.2f} %")
    write_cog(folder / f"{product_id}_WATER.tif", water, l2a.tile, nodata=NO_DATA)
    write_cog(folder / f"{product_id}_PROBA.tif", probability, l2a.tile, nodata=NO_DATA)
    write_picture(folder / f"{product_id}_QKL.png", coloured(water, QUICKLOOK), "PNG")
    _write_metadata(folder, metadata | percent | {"valid": True})
    print(f"Surfwater: wrote {folder}", flush=True)
    return 0


def classify(l2a: L2A) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """The water classes and the probability of water (%) on the 10 m grid."""
    green, red, nir, swir = (l2a.reflectance(band, "R1") for band in ("B3", "B4", "B8", "B11"))
    valid = np.isfinite(green) & np.isfinite(red) & np.isfinite(nir) & np.isfinite(swir) & (l2a.mask("EDG", "R1") == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mndwi = np.nan_to_num((green - swir) / (green + swir))
        ndvi = np.nan_to_num((nir - red) / (nir + red))
    cloud = valid & (l2a.mask("CLM", "R1") != 0)
    plausible = (ndvi < NDVI_MAX) & (np.nan_to_num(green) < GREEN_MAX)
    is_water = (mndwi > MNDWI_MIN) & plausible
    likelihood = 1 / (1 + np.exp(-STEEPNESS * mndwi)) * np.where(plausible, 1.0, 0.5)
    classes = np.where(cloud, CLOUD, np.where(is_water, WATER, NOT_WATER))
    water: NDArray[np.uint8] = np.where(valid, classes, NO_DATA).astype(np.uint8)
    probability: NDArray[np.uint8] = np.where(valid & ~cloud, np.round(100 * likelihood), NO_DATA).astype(np.uint8)
    return water, probability


def _write_metadata(folder: Path, metadata: dict[str, Any]) -> Path:
    path = folder / f"{folder.name}_MTD.json"
    path.write_text(json.dumps(metadata, indent=2) + "\n")
    return path


if __name__ == "__main__":
    raise SystemExit(main())
