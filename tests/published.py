"""What a portal does with the products it finds in the STAC API: page through their items, fetch each asset by
its href in a range request, and open each Cloud Optimized GeoTIFF through GDAL's ``/vsicurl/`` to read a window,
without downloading it."""

from __future__ import annotations

from typing import Any

import httpx
import rasterio
from rasterio.windows import Window

FIRST_BYTES = 16


def served_items(api: str, collections: list[str]) -> list[dict[str, Any]]:
    """Every item the API serves in ``collections`` (default view), page after page."""
    items: list[dict[str, Any]] = []
    with httpx.Client(timeout=60) as client:
        for collection in collections:
            url: str | None = f"{api}/collections/{collection}/items?limit=200"
            while url:
                page = client.get(url).raise_for_status().json()
                items.extend(page["features"])
                url = next((link["href"] for link in page.get("links", []) if link["rel"] == "next"), None)
    return items


def unreachable_assets(items: list[dict[str, Any]]) -> list[str]:
    """What a portal could not open: an asset without file:size and file:checksum, one whose href does not
    answer a range request with its size, a COG that GDAL cannot read a window of over HTTP."""
    problems = []
    with httpx.Client(timeout=60) as client, rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
        for item in items:
            for key, asset in item["assets"].items():
                where = f"{item['id']} {key} {asset['href']}"
                size = asset.get("file:size")
                if not isinstance(size, int) or not str(asset.get("file:checksum", "")).startswith("1220"):
                    problems.append(f"{where}: no file:size or sha2-256 file:checksum")
                    continue
                answer = client.get(asset["href"], headers={"Range": f"bytes=0-{FIRST_BYTES - 1}"})
                expected = f"bytes 0-{min(FIRST_BYTES, size) - 1}/{size}"
                if answer.status_code != 206 or answer.headers.get("content-range") != expected:
                    problems.append(
                        f"{where}: {answer.status_code} {answer.headers.get('content-range')}, not {expected}"
                    )
                elif "geotiff" in str(asset.get("type", "")):
                    with rasterio.open(f"/vsicurl/{asset['href']}") as raster:
                        raster.read(1, window=Window(0, 0, min(64, raster.width), min(64, raster.height)))
    return problems
