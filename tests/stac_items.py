"""Small, valid STAC items on real Sentinel-2 tiles, for tests that need a filled catalogue."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pyproj import Transformer

# (tile, EPSG, UTM box) from the ESA grid table.
TILES = {
    "31TCJ": (32631, (300000.0, 4790220.0, 409800.0, 4900020.0)),
    "31TDJ": (32631, (399960.0, 4790220.0, 509760.0, 4900020.0)),
}
EXTENSIONS = [
    "https://stac-extensions.github.io/eo/v2.0.0/schema.json",
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "https://stac-extensions.github.io/grid/v1.1.0/schema.json",
    "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
]


def footprint(tile: str) -> dict[str, Any]:
    epsg, (xmin, ymin, xmax, ymax) = TILES[tile]
    to_wgs84 = Transformer.from_crs(epsg, 4326, always_xy=True)
    ring = [to_wgs84.transform(x, y) for x, y in [(xmin, ymin), (xmax, ymin), (xmax, ymax), (xmin, ymax), (xmin, ymin)]]
    return {"type": "Polygon", "coordinates": [[[round(x, 6), round(y, 6)] for x, y in ring]]}


def l2a_item(tile: str, when: datetime, cloud_cover: float, valid: bool = True) -> dict[str, Any]:
    stamp = when.strftime("%Y%m%d-%H%M%S-000")
    item_id = f"SENTINEL2A_{stamp}_L2A_T{tile}_C_V4-0"
    geometry = footprint(tile)
    xs = [x for x, _ in geometry["coordinates"][0]]
    ys = [y for _, y in geometry["coordinates"][0]]
    epsg, box = TILES[tile]
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": EXTENSIONS,
        "id": item_id,
        "collection": "maja-l2a",
        "geometry": geometry,
        "bbox": [min(xs), min(ys), max(xs), max(ys)],
        "properties": {
            "datetime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "platform": "sentinel-2a",
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "eo:cloud_cover": cloud_cover,
            "proj:code": f"EPSG:{epsg}",
            "proj:bbox": list(box),
            "grid:code": f"MGRS-{tile}",
            "processing:software": {"maja": "4.0"},
            "processing:version": "4.0",
            "hesp:valid": valid,
        },
        "links": [],
        "assets": {
            "metadata": {
                "href": f"/data/maja-l2a/{tile}/{item_id}/{item_id}_MTD_ALL.xml",
                "type": "application/xml",
                "roles": ["metadata"],
                "title": "MUSCATE metadata",
            }
        },
    }


def write_l2a_items(path: Path, count: int) -> list[dict[str, Any]]:
    start = datetime(2023, 1, 3, 10, 56)
    items = [
        l2a_item(tile, start + timedelta(days=5 * i), cloud_cover=float((i * 17) % 100))
        for i in range(count)
        for tile in TILES
    ]
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    return items
