"""WASP stand-in: the valid MAJA L2As of a tile around a date -> one THEIA L3A synthesis dated on it, with WASP's
own command line (PythonScripts/WASP.py) ``WASP --input MTD_ALL.xml... --out OUTDIR [--tempout DIR]
[--date YYYYMMDD] [--synthalf DAYS]``: without a date, the middle of the inputs' dates; without a half period, 23
days (Sentinel-2's). The inputs must all be of one tile.

Each composite pixel is the weighted average of the clear flat reflectances (FRE) of the inputs; a weight falls
near clouds and with the distance to the synthesis date. The product has the composite (FRC), the sum of weights
(WGT), the weighted average date (DTS, days from the central date) and a status flag (FLG).
"""

from __future__ import annotations

import argparse
import math
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from reference_chains.l2a import L2A, InputError, chain_version, read_l2a, run
from reference_chains.maja import dilate
from reference_chains.muscate import (
    BANDS,
    NODATA,
    Description,
    Listing,
    group_of,
    mask_listing,
    product_id,
    reflectance_listing,
    write_masks,
    write_metadata,
    write_quicklook,
    write_reflectances,
)

DEFAULT_SYNTHALF = 23  # WASP's default half period for Sentinel-2, in days
CLOUD_DISTANCE_PX = 5  # the weight grows from 0 at a cloud to 1 this many pixels away
DATE_SCALE_DAYS = 15.0
FLAGS = {"no-data": 0, "cloud": 1, "snow": 2, "water": 3, "land": 4}


def log(message: str) -> None:
    print(f"wasp: {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="WASP", description="WASP stand-in: L3A synthesis of THEIA L2A")
    parser.add_argument("-i", "--input", required=True, nargs="+", type=Path, help="MUSCATE metadata (MTD_ALL.xml)")
    parser.add_argument("-o", "--out", required=True, type=Path)
    parser.add_argument("-t", "--tempout", type=Path)
    parser.add_argument("-d", "--date", type=_synthesis_date, help="synthesis date, YYYYMMDD")
    parser.add_argument("--synthalf", type=int, default=DEFAULT_SYNTHALF, help="half synthesis period in days")
    args = parser.parse_args(argv)
    return run(lambda: synthesis(args.input, args.out, args.date, args.synthalf))


def _synthesis_date(text: str) -> datetime:
    try:
        return datetime.strptime(text.replace("-", ""), "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYYMMDD") from None


def _products(metadata: list[Path]) -> list[L2A]:
    for path in metadata:
        if not path.is_file() or not path.name.endswith("_MTD_ALL.xml"):
            raise InputError(f"{path}: not the MTD_ALL.xml metadata file of a MUSCATE product")
    products = [read_l2a(path.parent) for path in metadata]
    tiles = sorted({p.tile.id for p in products})
    if len(tiles) > 1:
        raise InputError(f"the inputs are of several tiles ({', '.join(tiles)}): WASP makes one tile's synthesis")
    valid = [p for p in products if p.valid]
    for skipped in (p for p in products if not p.valid):
        log(f"skipped {skipped.product_id}: not valid (too cloudy)")
    if not valid:
        raise InputError(f"no valid L2A of tile {tiles[0]} among the {len(products)} inputs")
    return sorted(valid, key=lambda p: p.acquired)


def synthesis(metadata: list[Path], output: Path, date: datetime | None, synthalf: int) -> int:
    if synthalf < 1:
        raise InputError(f"the half synthesis period must be at least a day, not {synthalf}")
    products = _products(metadata)
    tile = products[0].tile
    central = date or products[0].acquired + (products[-1].acquired - products[0].acquired) / 2
    central = datetime.combine(central.date(), datetime.min.time(), UTC)
    start, after = central - timedelta(days=synthalf), central + timedelta(days=synthalf + 1)
    for outside in (p for p in products if not start <= p.acquired < after):
        log(f"skipped {outside.product_id}: more than {synthalf} days from the synthesis date")
    products = [p for p in products if start <= p.acquired < after]
    if not products:
        raise InputError(f"no valid L2A of tile {tile.id} within {synthalf} days of {central:%Y-%m-%d}")
    log(f"{len(products)} L2A of tile {tile.id}, synthesis date {central:%Y-%m-%d}, {synthalf} days either side")
    shapes = dict(products[0].shapes)
    composites: dict[str, NDArray[np.float32]] = {}
    weights: dict[str, NDArray[np.float32]] = {}
    flags: dict[str, NDArray[np.uint8]] = {}
    dates: dict[str, NDArray[np.float32]] = {}
    for group, shape in shapes.items():
        total = np.zeros(shape, dtype=np.float32)
        sums = {band: np.zeros(shape, dtype=np.float32) for band in BANDS if group_of(band) == group}
        day_sum = np.zeros(shape, dtype=np.float32)
        seen = np.zeros(shape, dtype=bool)
        state = np.zeros(shape, dtype=np.uint8)
        for product in products:
            clm, edge, mg2 = (product.mask(name, group) for name in ("CLM", "EDG", "MG2"))
            cloudy = (clm & 1) > 0
            clear = (edge == 0) & ~cloudy
            weight = _cloud_weight(cloudy) * _date_weight(product.acquired, central) * clear
            seen |= edge == 0
            for band in sums:
                sums[band] += weight * np.nan_to_num(product.reflectance(band, group))
            total += weight
            day_sum += weight * (product.acquired - central).total_seconds() / 86400
            state = np.where(clear, np.where(mg2 & 4, FLAGS["snow"], np.where(mg2 & 1, FLAGS["water"], 4)), state)
        made = total > 0
        for band, value in sums.items():
            composites[band] = np.where(made, value / np.maximum(total, 1e-9), np.nan).astype(np.float32)
        weights[group] = np.where(made, np.clip(np.round(total * 1000), 0, 32767), NODATA).astype(np.float32)
        dates[group] = np.where(made, np.round(day_sum / np.maximum(total, 1e-9)), NODATA).astype(np.float32)
        flags[group] = np.where(seen & ~made, FLAGS["cloud"], np.where(seen, state, FLAGS["no-data"])).astype(np.uint8)
    r1 = flags["R1"]
    observed = r1 != FLAGS["no-data"]
    cloud_percent = 100 * float((r1[observed] == FLAGS["cloud"]).mean()) if observed.any() else 100.0
    snow_percent = 100 * float((r1[observed] == FLAGS["snow"]).mean()) if observed.any() else 0.0
    version = chain_version("maja-l3a-monthly")
    description = Description(
        product_id=product_id("SENTINEL2X", central, "L3A", tile, version),
        level="L3A",
        tile=tile,
        platform="SENTINEL2X",
        acquired=central,
        version=version,
        shapes=shapes,
        cloud_percent=cloud_percent,
        snow_percent=snow_percent,
        inputs=[product.product_id for product in products],
    )
    folder = output / description.product_id
    folder.mkdir(parents=True, exist_ok=True)
    write_reflectances(folder, description, "FRC", composites)
    listings: list[Listing] = [reflectance_listing(description, "FRC", "Flat_Reflectance_Composite")]
    for group in shapes:
        write_masks(folder, description, "WGT", weights[group].astype(np.int16), groups=[group], nodata=NODATA)
        write_masks(folder, description, "DTS", dates[group].astype(np.int16), groups=[group], nodata=NODATA)
        write_masks(folder, description, "FLG", flags[group], groups=[group], nodata=FLAGS["no-data"])
    for kind, nature in (("WGT", "Pixel_Weight"), ("DTS", "Weighted_Average_Dates"), ("FLG", "Pixel_Status_Flag")):
        listings.append(mask_listing(description, kind, nature))
    quicklook = write_quicklook(folder, description, [composites["B4"], composites["B3"], composites["B2"]])
    write_metadata(folder, description, listings, quicklook)
    log(f"synthesis written: {folder} ({cloud_percent:.1f} % without a clear observation)")
    return 0


def _cloud_weight(cloudy: NDArray[np.bool_]) -> NDArray[np.float32]:
    """0 on clouds, rising linearly to 1 at ``CLOUD_DISTANCE_PX`` pixels from them."""
    weight = np.ones(cloudy.shape, dtype=np.float32)
    grown = cloudy
    for distance in range(CLOUD_DISTANCE_PX):
        weight[grown & (weight == 1)] = distance / CLOUD_DISTANCE_PX
        grown = dilate(grown, 1)
    return weight


def _date_weight(acquired: datetime, central: datetime) -> float:
    return math.exp(-abs((acquired - central).total_seconds()) / 86400 / DATE_SCALE_DAYS)


if __name__ == "__main__":
    sys.exit(main())
