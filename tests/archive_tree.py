"""An archive of THEIA/MUSCATE products in their real layouts, metadata only, as the centre's former archive
holds them (used by tests/test_archive.py and benchmarks/ingest.py)::

    <root>/<level>/T<tile>/<year>/<product id>/<product id>_MTD_ALL.xml

Four products in ten are MAJA L2A, one a WASP L3A monthly synthesis, four a legacy snow product (L2B-SNOW, kind D),
and one an L2A that MAJA found too cloudy (metadata and no image). Each has its own tile, date, platform, version
and percentages. The documents are those of tests/products.py (the real L2A MTD_ALL.xml with this product's
values), made once per level and tile and filled in per product as text (100,000 folders over 200 tiles: 7
minutes on a busy 2-core machine, 3.2 GB). The L2A's per-detector angle grids (Angles_Grids_List: 490 KB of the
real file's 534 KB, which the reader does not read) are left out unless ``angle_grids``: 100,000 full documents
would be 50 GB.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path

from products import muscate_document, snow_document, wasp_document

from hygor import grid
from hygor.grid import land_tiles

LEVELS = ("L2A", "L2A", "L2A", "L2A", "L3A", "L2B-SNOW", "L2B-SNOW", "L2B-SNOW", "L2B-SNOW", "L2A-CLOUDY")
COLLECTIONS = {"L2A": "maja-l2a", "L2A-CLOUDY": "maja-l2a", "L3A": "maja-l3a-monthly", "L2B-SNOW": "lis-snow"}
VERSIONS = {"L2A": ("1-0", "1-4", "1-7"), "L3A": ("1-0", "1-1"), "L2B-SNOW": ("1-0", "1-4", "1-7", "1-9")}
START = datetime(2016, 1, 1, 10, 35, 51, 370000, tzinfo=UTC)
# Values of the templates that each product replaces.
WHEN = datetime(2999, 1, 1, tzinfo=UTC)
STAMP = "29990101-000000-000"
MONTH = date(2999, 1, 1)


def write_archive(root: Path, count: int, tiles: int = 200, angle_grids: bool = False) -> Counter[str]:
    """``count`` product folders under ``root``, over ``tiles`` land tiles spread over the world; the products by
    collection."""
    land = sorted(land_tiles())
    names = land[:: max(1, len(land) // tiles)][:tiles]
    made: Counter[str] = Counter()
    per_tile: Counter[tuple[str, str]] = Counter()
    for n in range(count):
        level = LEVELS[n % len(LEVELS)]
        tile = names[(n // len(LEVELS)) % len(names)]
        kind = _kind(level)
        rank = per_tile[(kind, tile)]  # the cloudy L2As take their dates among the others
        per_tile[(kind, tile)] += 1
        folder, text = _product(level, tile, rank, angle_grids)
        (root / folder).mkdir(parents=True)
        (root / folder / f"{folder.name}_MTD_ALL.xml").write_text(text)
        made[COLLECTIONS[level]] += 1
    return made


def _product(level: str, tile: str, rank: int, angle_grids: bool) -> tuple[Path, str]:
    """The folder (relative) and MTD_ALL.xml text of the ``rank``-th product of ``level`` on ``tile``."""
    kind = _kind(level)
    version = VERSIONS[kind][rank % len(VERSIONS[kind])]
    if kind == "L3A":
        month = date(2016 + rank // 12, rank % 12 + 1, 1)
        central = datetime(month.year, month.month, 15, tzinfo=UTC)
        last = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        platform_stamp = f"SENTINEL2X_{central:%Y%m%d}-000000-000"
        dates = {"2999-01-15": f"{central:%Y-%m-%d}", "2999-01-01": f"{month:%Y-%m-%d}"}
        dates["2999-01-31"] = f"{last:%Y-%m-%d}"
        values = {"@CLOUD@": f"{rank % 7}", "@SNOW@": "0"}
    else:
        when = START + timedelta(days=5 * rank, seconds=(rank * 37) % 600)
        platform = "SENTINEL2A" if rank % 2 == 0 else "SENTINEL2B"
        platform_stamp = f"{platform}_{when:%Y%m%d-%H%M%S}-{when.microsecond // 1000:03d}"
        stamp = f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}"
        dates = {"2999-01-01T00:00:00.000": stamp}
        cloud = 95 if level == "L2A-CLOUDY" else (rank * 13) % 80
        values = {"@CLOUD@": str(cloud), "@SNOW@": f"{(rank * 7) % 60}", "@PLATFORM@": platform}
    text = _template(level, tile, angle_grids).replace("@PS@", platform_stamp).replace("@V@", version)
    for old, new in {**dates, **values, "@PV@": version.replace("-", ".")}.items():
        text = text.replace(old, new)
    kind_letter = "D" if kind == "L2B-SNOW" else "C"
    product_id = f"{platform_stamp}_{kind}_T{tile}_{kind_letter}_V{version}"
    return Path(kind, f"T{tile}", platform_stamp.split("_")[1][:4], product_id), text


def _kind(level: str) -> str:
    return "L2A" if level == "L2A-CLOUDY" else level


@cache
def _template(level: str, tile: str, angle_grids: bool) -> str:
    """A product's document with tokens: @PS@ platform and stamp, @V@ version, @PV@, @CLOUD@, @SNOW@, @PLATFORM@."""
    kind = _kind(level)
    if kind == "L3A":
        template_id = f"SENTINEL2X_29990115-000000-000_L3A_T{tile}_C_V9-9"
        document = wasp_document(template_id, MONTH, 0.0, True, "9-9")
    else:
        template_id = f"SENTINEL2Q_{STAMP}_{kind}_T{tile}_C_V9-9"
        document = muscate_document(template_id, WHEN, 0.0, 0.0, "9-9")
        _set(document, "./Product_Characteristics/PLATFORM", "@PLATFORM@")
    if kind == "L2B-SNOW":
        document = snow_document(document, f"SENTINEL2Q_{STAMP}_L2A_T{tile}_C_V1-0")
    if level == "L2A-CLOUDY":
        for listing in ("Image_List", "Mask_List"):
            found = document.find(f"./Product_Organisation/Muscate_Product/{listing}")
            assert found is not None
            found.clear()
    geometric = document.find("./Geometric_Informations")
    grids = document.find("./Geometric_Informations/Angles_Grids_List")
    if geometric is not None and grids is not None and not angle_grids:
        geometric.remove(grids)
    _real_grids(document, tile)
    for xpath, token in (
        ("./Product_Characteristics/PRODUCT_VERSION", "@PV@"),
        (".//QUALITY_INDEX[@name='CloudPercent']", "@CLOUD@"),
        (".//QUALITY_INDEX[@name='SnowPercent']", "@SNOW@"),
    ):
        _set(document, xpath, token)
    text = ET.tostring(document, encoding="unicode", xml_declaration=True)
    text = text.replace(template_id.rsplit("_", 4)[0], "@PS@").replace("_V9-9", "_V@V@")
    return text.replace(f"_L2B-SNOW_T{tile}_C_", f"_L2B-SNOW_T{tile}_D_")


def _real_grids(document: ET.Element, tile: str) -> None:
    """The rasters' grids as MUSCATE writes them: 10 m (R1) and 20 m (R2) over the whole tile."""
    where = grid.tile(tile)
    for group in document.iterfind(".//Group_Geopositioning"):
        size = 10 if group.get("group_id") == "R1" else 20
        pixels = round((where.xmax - where.xmin) / size)
        for name, value in (("XDIM", size), ("YDIM", -size), ("NROWS", pixels), ("NCOLS", pixels)):
            _set(group, name, str(value))


def _set(document: ET.Element, xpath: str, text: str) -> None:
    found = document.find(xpath)
    assert found is not None, xpath
    found.text = text
