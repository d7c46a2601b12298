"""Stand-in for LIS (let-it-snow) ``let_it_snow_fsc.py``: the fractional snow cover of one MAJA L2A.

Command line as LIS's::

    let_it_snow_fsc.py -j launch.json
    let_it_snow_fsc.py -i L2A_DIR -o OUTDIR -c lis_configuration.json -d DEM [-t TCD] [-w WATER_MASK]
                       [-V CHAIN_VERSION] [-n PRODUCT_COUNTER]

Flags override the launch file's keys (``input_dir``, ``output_dir``, ``dem``, ``tcd``, ``water_mask``,
``config_file``, ``chain_version``, ``product_counter``, ``log_level``). The configuration file, LIS's own, may
override the ``snow`` and ``cloud`` thresholds below (reflectances in per mil, as LIS writes them).

LIS's detection, simplified, on the 20 m grid from the flat reflectances (FRE) B3, B4, B11:

1. clouds: MAJA's CLM. Dark cloud pixels (red below ``red_darkcloud``, neither shadow nor high cloud) may be
   snow; bright clouds stay clouds even over snow. A dark cloud pixel that is not snow goes back to the clouds
   when its red is above ``red_backtocloud``;
2. pass 1: snow where NDSI > ``ndsi_pass1`` and red > ``red_pass1``;
3. pass 2: the snowline ZS is the lowest DEM band (``dz`` high) with a snow fraction above ``fsnow_lim``,
   lowered by two bands; above it, snow where NDSI > ``ndsi_pass2`` and red > ``red_pass2``; below it, isolated
   snow pixels (no snow among their 8 neighbours) are removed;
4. FSC-TOC = 0.5 tanh(2.65 NDSI - 1.42) + 0.5 (%) over snow, 0 elsewhere, 205 cloud, 255 no data; with a tree
   cover density (TCD, %), FSC-OG = FSC-TOC / (1 - TCD) below 90 % of trees.

Outputs in OUTDIR: ``LIS_S2-SNOW-FSC[-TOC|-QCFLAGS]_T<tile>_<YYYYMMDDThhmmss>_<version>_<counter>.tif`` (uint8
COGs), the ``-QKL`` quicklook PNG and ``LIS_METADATA.XML``.
"""

from __future__ import annotations

import argparse
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rasterio.errors import RasterioError

from reference_chains.l2a import L2A, InputError, chain_version, read_l2a, run
from reference_chains.rasters import coloured, palette, read_on_tile, write_cog, write_picture

COLLECTION = "lis-snow"
NO_DATA, CLOUD = 255, 205
# LIS's defaults (S2: reflectances in per mil of the configuration file).
THRESHOLDS: dict[str, float] = {
    "ndsi_pass1": 0.4,
    "red_pass1": 200,
    "ndsi_pass2": 0.15,
    "red_pass2": 120,
    "dz": 100,
    "fsnow_lim": 0.1,
    "fsnow_total_lim": 0.001,
    "red_darkcloud": 500,
    "red_backtocloud": 100,
}
PER_MIL = {"red_pass1", "red_pass2", "red_darkcloud", "red_backtocloud"}
# MAJA CLM bits as LIS reads them (shadows from inside and outside the image, high clouds); MG2 bits.
CLM_SHADOW, CLM_HIGH_CLOUD = 32 | 64, 128
MG2_WATER, MG2_SUN_TOO_LOW, MG2_TANGENT_SUN = 1, 64, 128
# QCFLAGS bits (collections/lis-snow: bit 0 = value 1 ...).
QC_SUN_TOO_LOW, QC_TANGENT_SUN, QC_WATER, QC_DENSE_FOREST, QC_SNOW_UNDER_CLOUD, QC_TCD_UNDEFINED = 1, 2, 4, 8, 16, 32
DENSE_FOREST = 90.0
VERSION = re.compile(r"^\d+(?:\.\d+)*$")
LAUNCH_KEYS = ("input_dir", "output_dir", "dem", "tcd", "water_mask", "config_file", "chain_version")
QUICKLOOK = palette(
    {0: "8c7853", CLOUD: "808080", NO_DATA: "000000"} | {v: f"{55 + 2 * v:02x}" * 2 + "ff" for v in range(1, 101)}
)


@dataclass(frozen=True)
class Launch:
    input_dir: Path
    output_dir: Path
    dem: Path
    tcd: Path | None
    water_mask: Path | None
    thresholds: dict[str, float]
    chain_version: str
    product_counter: str


@dataclass
class Snow:
    """What LIS decides on the 20 m grid."""

    valid: NDArray[np.bool_]
    snow: NDArray[np.bool_]
    cloud: NDArray[np.bool_]
    fsc_toc: NDArray[np.uint8]
    qc: NDArray[np.uint8]
    fsc_og: NDArray[np.uint8] | None = None
    zs: float | None = None
    percent: dict[str, float] = field(default_factory=dict)


def main(argv: list[str] | None = None) -> int:
    return run(lambda: _process(_launch(argv)))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="let_it_snow_fsc.py", description="LIS fractional snow cover (stand-in)")
    parser.add_argument("-j", "--json_config", type=Path, help="launch configuration (JSON)")
    for flag, name in (("-i", "input_dir"), ("-o", "output_dir"), ("-d", "dem"), ("-t", "tcd")):
        parser.add_argument(flag, f"--{name}", type=Path)
    parser.add_argument("-w", "--water_mask", type=Path)
    parser.add_argument("-c", "--config_file", type=Path, help="LIS configuration (JSON)")
    parser.add_argument("-V", "--chain_version")
    parser.add_argument("-n", "--product_counter")
    return parser


def _launch(argv: list[str] | None) -> Launch:
    """The run's parameters: the launch file's, overridden by flags; exit 2 on a usage or configuration error."""
    parser = _parser()
    args = parser.parse_args(argv)
    values: dict[str, Any] = _json(parser, args.json_config, "launch file") if args.json_config else {}
    values |= {key: value for key, value in vars(args).items() if value is not None and key != "json_config"}
    missing = [key for key in ("input_dir", "output_dir", "dem") if not values.get(key)]
    if missing:
        parser.error(f"missing {', '.join(missing)} (flags -i -o -d or the launch file's keys)")
    thresholds = dict(THRESHOLDS)
    if values.get("config_file"):
        config = _json(parser, Path(values["config_file"]), "LIS configuration")
        for section in ("snow", "cloud"):
            for key, value in (config.get(section) or {}).items():
                if key in THRESHOLDS:
                    if not isinstance(value, int | float) or isinstance(value, bool):
                        parser.error(f"{values['config_file']}: {section}.{key} must be a number, not {value!r}")
                    thresholds[key] = float(value)
    version = str(values.get("chain_version") or _default_version(parser))
    if not VERSION.match(version):
        parser.error(f"chain version {version!r} is not like 1.7.0")
    counter = str(values.get("product_counter") or "1")
    if not counter.isdigit():
        parser.error(f"product counter {counter!r} is not a number")

    def optional(key: str) -> Path | None:
        return Path(values[key]) if values.get(key) else None

    return Launch(
        input_dir=Path(values["input_dir"]),
        output_dir=Path(values["output_dir"]),
        dem=Path(values["dem"]),
        tcd=optional("tcd"),
        water_mask=optional("water_mask"),
        thresholds={k: v / 1000 if k in PER_MIL else v for k, v in thresholds.items()},
        chain_version=version,
        product_counter=counter,
    )


def _default_version(parser: argparse.ArgumentParser) -> str:
    try:
        return chain_version(COLLECTION)
    except InputError as exc:
        parser.error(str(exc))


def _json(parser: argparse.ArgumentParser, path: Path, what: str) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        parser.error(f"{path}: {what} cannot be read ({exc.strerror})")
    except json.JSONDecodeError as exc:
        parser.error(f"{path}: {what} is not valid JSON ({exc})")
    if not isinstance(document, dict):
        parser.error(f"{path}: {what} is not a JSON object")
    return document


def _process(launch: Launch) -> int:
    print(f"LIS {launch.chain_version}: reading {launch.input_dir}", flush=True)
    l2a = read_l2a(launch.input_dir)
    if not l2a.valid:
        raise InputError(f"{l2a.folder}: L2A {l2a.product_id} is not valid (no reflectance): no snow product")
    shape = l2a.shapes["R2"]
    dem = _auxiliary(launch.dem, l2a, shape, "DEM")
    tcd = _auxiliary(launch.tcd, l2a, shape, "tree cover density") if launch.tcd else None
    water = _auxiliary(launch.water_mask, l2a, shape, "water mask") if launch.water_mask else None
    snow = detect(l2a, dem, launch.thresholds, tcd, water)
    print(f"LIS: snow {snow.percent['SnowPercent']:.2f} %, cloud {snow.percent['CloudPercent']:.2f} %", flush=True)
    written = _write(launch, l2a, snow)
    print(f"LIS: wrote {len(written)} files in {launch.output_dir}", flush=True)
    return 0


def _auxiliary(path: Path | None, l2a: L2A, shape: tuple[int, int], what: str) -> NDArray[np.float32]:
    if path is None or not path.is_file():
        raise InputError(f"{path}: no such {what} raster")
    try:
        return read_on_tile(path, l2a.tile, shape)
    except RasterioError as exc:
        raise InputError(f"{path}: {what} cannot be read ({str(exc).splitlines()[0]})") from None


def detect(
    l2a: L2A,
    dem: NDArray[np.float32],
    thresholds: dict[str, float],
    tcd: NDArray[np.float32] | None = None,
    water: NDArray[np.float32] | None = None,
) -> Snow:
    """LIS's snow and cloud decision (thresholds in reflectance, not per mil) and its FSC."""
    t = thresholds
    green, red, swir = (l2a.reflectance(band, "R2") for band in ("B3", "B4", "B11"))
    valid = np.isfinite(green) & np.isfinite(red) & np.isfinite(swir) & (l2a.mask("EDG", "R2") == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ndsi = np.where(valid, (green - swir) / (green + swir), np.nan)
    clm = l2a.mask("CLM", "R2")
    all_cloud = valid & (clm != 0)
    dark = all_cloud & (clm & (CLM_SHADOW | CLM_HIGH_CLOUD) == 0) & (red < t["red_darkcloud"])
    bright_cloud = all_cloud & ~dark
    pass1 = valid & ~bright_cloud & (ndsi > t["ndsi_pass1"]) & (red > t["red_pass1"])
    cloud = bright_cloud | (dark & ~pass1 & (red > t["red_backtocloud"]))
    zs = snowline(dem, pass1, valid & ~cloud, t)
    snow = pass1
    if zs is not None:
        above = np.nan_to_num(dem, nan=-np.inf) > zs
        pass2 = valid & ~cloud & above & (ndsi > t["ndsi_pass2"]) & (red > t["red_pass2"])
        snow = (pass1 | pass2) & ~(~above & (_neighbours(pass1 | pass2) == 0))
    cloud &= ~snow

    fsc = np.clip(0.5 * np.tanh(2.65 * np.nan_to_num(ndsi) - 1.42) + 0.5, 0, 1) * 100
    fsc_toc = _classes(np.where(snow, np.round(fsc), 0), valid, cloud)
    qc = _quality(l2a, valid, snow & all_cloud, tcd, water)
    fsc_og = None
    if tcd is not None:
        trees = np.where((tcd >= 0) & (tcd < DENSE_FOREST), tcd / 100, 0)
        fsc_og = _classes(np.where(snow, np.minimum(np.round(fsc / (1 - trees)), 100), 0), valid, cloud)
    count = max(int(valid.sum()), 1)
    percent = {"SnowPercent": 100 * snow.sum() / count, "CloudPercent": 100 * cloud.sum() / count}
    return Snow(valid, snow, cloud, fsc_toc, qc, fsc_og, zs, {k: round(float(v), 4) for k, v in percent.items()})


def snowline(
    dem: NDArray[np.float32], snow: NDArray[np.bool_], clear: NDArray[np.bool_], t: dict[str, float]
) -> float | None:
    """LIS's snowline ZS: two bands below the lowest ``dz`` band whose clear pixels are more than
    ``fsnow_lim`` snow; None when the scene has too little snow (``fsnow_total_lim``) or no DEM."""
    known = clear & np.isfinite(dem)
    if not known.any() or snow[known].mean() <= t["fsnow_total_lim"]:
        return None
    bands = np.floor(dem[known] / t["dz"]).astype(np.int64)
    clear_count = np.bincount(bands - bands.min())
    snow_count = np.bincount(bands - bands.min(), weights=snow[known])
    enough = clear_count >= max(1, int(known.sum()) // 1000)
    fraction = np.divide(snow_count, clear_count, out=np.zeros_like(snow_count), where=clear_count > 0)
    found = np.flatnonzero(enough & (fraction > t["fsnow_lim"]))
    return None if found.size == 0 else float((bands.min() + found[0] - 2) * t["dz"])


def _neighbours(mask: NDArray[np.bool_]) -> NDArray[np.int64]:
    """How many of each pixel's 8 neighbours are set."""
    padded = np.pad(mask.astype(np.int64), 1)
    rows, columns = mask.shape
    total = sum(padded[r : r + rows, c : c + columns] for r in range(3) for c in range(3))
    counts: NDArray[np.int64] = total - mask
    return counts


def _classes(fsc: NDArray[Any], valid: NDArray[np.bool_], cloud: NDArray[np.bool_]) -> NDArray[np.uint8]:
    coded: NDArray[np.uint8] = np.where(valid, np.where(cloud, CLOUD, fsc), NO_DATA).astype(np.uint8)
    return coded


def _quality(
    l2a: L2A,
    valid: NDArray[np.bool_],
    snow_in_cloud: NDArray[np.bool_],
    tcd: NDArray[np.float32] | None,
    water: NDArray[np.float32] | None,
) -> NDArray[np.uint8]:
    mg2 = l2a.mask("MG2", "R2") if "MG2_R2" in l2a.files else np.zeros(valid.shape, np.uint8)
    no_water = np.zeros(valid.shape, dtype=bool)
    known = np.isfinite(tcd) & (tcd >= 0) & (tcd <= 100) if tcd is not None else no_water
    conditions = {
        QC_SUN_TOO_LOW: mg2 & MG2_SUN_TOO_LOW != 0,
        QC_TANGENT_SUN: mg2 & MG2_TANGENT_SUN != 0,
        QC_WATER: (mg2 & MG2_WATER != 0) | (np.nan_to_num(water) != 0 if water is not None else no_water),
        QC_DENSE_FOREST: known & (np.nan_to_num(tcd) >= DENSE_FOREST if tcd is not None else no_water),
        QC_SNOW_UNDER_CLOUD: snow_in_cloud,
        QC_TCD_UNDEFINED: ~known,
    }
    quality = np.zeros(valid.shape, dtype=np.uint8)
    for bit, condition in conditions.items():
        quality[valid & condition] |= np.uint8(bit)
    return quality


def _write(launch: Launch, l2a: L2A, snow: Snow) -> list[Path]:
    out = launch.output_dir
    suffix = f"T{l2a.tile.id}_{l2a.acquired:%Y%m%dT%H%M%S}_{launch.chain_version}_{launch.product_counter}"
    written = [
        write_cog(out / f"LIS_S2-SNOW-FSC-TOC_{suffix}.tif", snow.fsc_toc, l2a.tile, nodata=NO_DATA),
        write_cog(out / f"LIS_S2-SNOW-FSC-QCFLAGS_{suffix}.tif", snow.qc, l2a.tile),
        write_picture(out / f"LIS_S2-SNOW-FSC-QKL_{suffix}.png", coloured(snow.fsc_toc, QUICKLOOK), "PNG"),
    ]
    if snow.fsc_og is not None:
        written.append(write_cog(out / f"LIS_S2-SNOW-FSC_{suffix}.tif", snow.fsc_og, l2a.tile, nodata=NO_DATA))
    written.append(_metadata(out / "LIS_METADATA.XML", launch, l2a, snow, f"LIS_S2-SNOW-FSC_{suffix}"))
    return written


def _metadata(path: Path, launch: Launch, l2a: L2A, snow: Snow, product: str) -> Path:
    """LIS_METADATA.XML: the input L2A's PRODUCT_ID first (readers take the first), then this product."""
    root = ET.Element("METADATA")
    source = ET.SubElement(root, "Source_Product")
    ET.SubElement(source, "PRODUCT_ID").text = l2a.product_id
    ET.SubElement(source, "ACQUISITION_DATE").text = l2a.acquired.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    ET.SubElement(source, "PLATFORM").text = l2a.platform
    characteristics = ET.SubElement(root, "Product_Characteristics")
    for name, value in (
        ("LIS_PRODUCT", product),
        ("TILE", l2a.tile.id),
        ("CHAIN_VERSION", launch.chain_version),
        ("PRODUCT_COUNTER", launch.product_counter),
        ("PRODUCTION_DATE", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
    ):
        ET.SubElement(characteristics, name).text = value
    parameters = ET.SubElement(root, "Processing_Parameters")
    for name, threshold in sorted(launch.thresholds.items()):
        ET.SubElement(parameters, "PARAMETER", name=name).text = f"{threshold:g}"
    indexes = ET.SubElement(root, "Global_Index_List")
    for name, number in ({"ZS": snow.zs} | snow.percent).items():
        if number is not None:
            ET.SubElement(indexes, "QUALITY_INDEX", name=name).text = f"{number:g}"
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
