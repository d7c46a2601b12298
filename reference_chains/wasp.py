"""WASP stand-in: the valid MAJA L2As of a tile over a period -> one THEIA L3A monthly synthesis, with the command
line ``wasp --input-list FILE --output OUTDIR --tile TILE --period-start YYYY-MM-DD --period-end YYYY-MM-DD``
(FILE: one L2A folder a line).

Each composite pixel is the weighted average of the clear flat reflectances (FRE) of the period; a weight falls
near clouds and with the distance to the central date. The product has the composite (FRC), the sum of weights
(WGT), the weighted average date (DTS, days from the central date) and a status flag (FLG).
"""

from __future__ import annotations

import argparse
import math
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from hygor import grid
from hygor.errors import HygorError
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

CLOUD_DISTANCE_PX = 5  # the weight grows from 0 at a cloud to 1 this many pixels away
DATE_SCALE_DAYS = 15.0
FLAGS = {"no-data": 0, "cloud": 1, "snow": 2, "water": 3, "land": 4}


def log(message: str) -> None:
    print(f"wasp: {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wasp", description="WASP stand-in: monthly synthesis of THEIA L2A")
    parser.add_argument("--input-list", required=True, type=Path)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--tile", required=True)
    parser.add_argument("--period-start", required=True, type=date.fromisoformat)
    parser.add_argument("--period-end", required=True, type=date.fromisoformat)
    args = parser.parse_args(argv)
    return run(lambda: synthesis(args.input_list, args.output, args.tile, args.period_start, args.period_end))


def _products(listing: Path, tile_id: str) -> list[L2A]:
    try:
        lines = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise InputError(f"{listing}: cannot be read ({exc.strerror})") from None
    products = [read_l2a(Path(line)) for line in lines]
    wrong = [p.product_id for p in products if p.tile.id != tile_id]
    if wrong:
        raise InputError(f"{wrong[0]} is not on tile {tile_id}")
    valid = [p for p in products if p.valid]
    for skipped in (p for p in products if not p.valid):
        log(f"skipped {skipped.product_id}: not valid (too cloudy)")
    if not valid:
        raise InputError(f"no valid L2A of tile {tile_id} in {listing}")
    return sorted(valid, key=lambda p: p.acquired)


def synthesis(listing: Path, output: Path, tile_id: str, start: date, end: date) -> int:
    try:
        tile = grid.tile(tile_id)
    except HygorError as exc:
        raise InputError(str(exc)) from None
    if end < start:
        raise InputError(f"the period ends ({end}) before it starts ({start})")
    products = _products(listing, tile.id)
    central = datetime.combine(start + (end - start) / 2, time(), UTC)
    log(f"{len(products)} L2A of tile {tile.id} from {start} to {end}, central date {central:%Y-%m-%d}")
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
        period=(datetime.combine(start, time(), UTC), datetime.combine(end, time.max, UTC)),
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
