"""What the reference chains share: the chain version of the run, the bad-input error that ends a run with exit
status 1, and a MAJA L2A product (THEIA/MUSCATE folder) read as LIS and Surfwater read it: the values of its
``<id>_MTD_ALL.xml``, its reflectances by band and its masks, on the tile's grid of a resolution group.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import yaml
from numpy.typing import NDArray
from pydantic_settings import BaseSettings, SettingsConfigDict
from rasterio.enums import Resampling
from rasterio.errors import RasterioError

from hygor import grid
from hygor.errors import HygorError
from hygor.grid import Tile
from hygor.readers.base import parse_xml
from hygor.readers.outputs import MUSCATE_ID, parse_datetime, quality_index, xml_text
from hygor.settings import default_collections_dir
from hymotep.errors import HymotepError
from reference_chains.rasters import read_on_tile

METADATA_SUFFIX = "_MTD_ALL.xml"
ORGANISATION = "./Product_Organisation/Muscate_Product"
GEOPOSITIONING = "./Geoposition_Informations/Geopositioning/Group_Geopositioning_List/Group_Geopositioning"


class InputError(HymotepError):
    """The input of a reference chain cannot be used."""


class RunSettings(BaseSettings):
    """What the runner tells a chain through the environment: ``HESP_CHAIN_VERSION``, ``HESP_COLLECTIONS_DIR``."""

    model_config = SettingsConfigDict(env_prefix="HESP_", extra="ignore")

    chain_version: str | None = None
    collections_dir: Path = default_collections_dir()


def chain_version(collection: str) -> str:
    """The version this run writes: ``HESP_CHAIN_VERSION``, else the one of ``collections/<id>/chain.yaml``."""
    settings = RunSettings()
    if settings.chain_version:
        return settings.chain_version
    path = settings.collections_dir / collection / "chain.yaml"
    try:
        return str(yaml.safe_load(path.read_text())["chain"]["version"])
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: no chain version ({exc})") from None


def run(work: Callable[[], int]) -> int:
    """``work``'s exit status: 1 with one line on stderr when its input cannot be used, argparse's on a usage
    error (2), so that ``main`` returns it rather than exits."""
    try:
        return work()
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


@dataclass(frozen=True)
class L2A:
    """A MAJA L2A product: files by key (``FRE_B3``, ``CLM_R2``) and grid shape by group (``R1``, ``R2``)."""

    folder: Path
    product_id: str
    tile: Tile
    acquired: datetime
    platform: str
    cloud_percent: float | None
    files: dict[str, Path]
    shapes: dict[str, tuple[int, int]]
    quantification: float

    @property
    def valid(self) -> bool:
        """MAJA wrote reflectances (a too cloudy product has only its metadata)."""
        return any(key.startswith(("FRE_", "SRE_")) for key in self.files)

    def reflectance(self, band: str, group: str, kind: str = "FRE") -> NDArray[np.float32]:
        """Reflectance (0-1) of ``band`` on the grid of ``group``; NaN where MAJA has no data."""
        data = self._read(f"{kind}_{band}", group, None)
        return data / np.float32(self.quantification)

    def mask(self, name: str, group: str) -> NDArray[np.uint8]:
        """Mask ``name`` (``CLM``, ``EDG``, ``MG2``) on the grid of ``group``, from the file of that group."""
        data = self._read(f"{name}_{group}", group, Resampling.nearest)
        return np.nan_to_num(data, nan=0).astype(np.uint8)

    def _read(self, key: str, group: str, resampling: Resampling | None) -> NDArray[np.float32]:
        path = self.files.get(key)
        if path is None:
            raise InputError(f"{self.folder}: the metadata lists no {key} file")
        try:
            return read_on_tile(path, self.tile, self.shapes[group], resampling)
        except RasterioError as exc:
            raise InputError(f"{path}: cannot be read ({str(exc).splitlines()[0]})") from None


def read_l2a(folder: Path) -> L2A:
    """The L2A product in ``folder``; ``InputError`` saying why when it is not one."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such L2A product folder")
    found = [p for p in folder.glob(f"*{METADATA_SUFFIX}") if MUSCATE_ID.match(p.name.removesuffix(METADATA_SUFFIX))]
    if len(found) != 1:
        raise InputError(f"{folder}: not a THEIA/MUSCATE L2A product (no single <id>{METADATA_SUFFIX})")
    try:
        root = parse_xml(found[0])
        return _l2a(folder, found[0], root)
    except HygorError as exc:  # a ReaderError or an UnknownTile naming what is wrong
        raise InputError(str(exc)) from None


def _l2a(folder: Path, metadata: Path, root: ET.Element) -> L2A:
    def required(xpath: str) -> str:
        value = xml_text(root, xpath)
        if value is None:
            raise InputError(f"{metadata}: {xpath.rsplit('/', 1)[-1]} is missing")
        return value

    product_id = required("./Product_Characteristics/PRODUCT_ID")
    tile = grid.tile(required("./Dataset_Identification/GEOGRAPHICAL_ZONE"))
    acquired = parse_datetime(required("./Product_Characteristics/ACQUISITION_DATE"), metadata, "ACQUISITION_DATE")
    cloud = quality_index(root, "CloudPercent")
    return L2A(
        folder=folder,
        product_id=product_id,
        tile=tile,
        acquired=acquired,
        platform=required("./Product_Characteristics/PLATFORM"),
        cloud_percent=float(cloud) if cloud is not None else None,
        files=_files(root, product_id, folder),
        shapes=_shapes(root, metadata),
        quantification=float(xml_text(root, ".//REFLECTANCE_QUANTIFICATION_VALUE") or 10000),
    )


def _files(root: ET.Element, product_id: str, folder: Path) -> dict[str, Path]:
    """Image and mask files by key: ``<id>_FRE_B3.tif`` -> ``FRE_B3``, ``MASKS/<id>_CLM_R2.tif`` -> ``CLM_R2``."""
    files: dict[str, Path] = {}
    for element in root.iterfind(f"{ORGANISATION}/*/*/*/*"):
        relative = (element.text or "").strip()
        if element.tag in ("IMAGE_FILE", "MASK_FILE") and relative:
            files.setdefault(Path(relative).stem.removeprefix(f"{product_id}_"), folder / relative)
    return files


def _shapes(root: ET.Element, metadata: Path) -> dict[str, tuple[int, int]]:
    shapes = {}
    for group in root.iterfind(GEOPOSITIONING):
        rows, columns = xml_text(group, "NROWS"), xml_text(group, "NCOLS")
        if rows is None or columns is None:
            raise InputError(f"{metadata}: group {group.get('group_id')} has no NROWS/NCOLS")
        shapes[group.get("group_id", "")] = (int(float(rows)), int(float(columns)))
    if not {"R1", "R2"} <= shapes.keys():
        raise InputError(f"{metadata}: no R1 and R2 geopositioning groups")
    return shapes
