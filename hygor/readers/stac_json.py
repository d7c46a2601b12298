"""STAC items from other catalogues: ``.json`` (an item or a FeatureCollection) and ``.ndjson`` files.

Records are independent: a bad line of an NDJSON file is rejected alone, with its line number. Items keep
their own ``collection`` unless ingest re-homes them into one of ours (``hesp ingest --collection``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import orjson

from hygor.item_rules import id_problem
from hygor.readers.base import Reader, ReaderError, Rejection, register

ITEM_SUFFIXES = (".json", ".geojson")
LINE_SUFFIXES = (".ndjson", ".jsonl", ".geojsonl")
SNIFF_BYTES = 4096


@register
class StacJson(Reader):
    name: ClassVar[str] = "stac-json"
    collection: ClassVar[str | None] = None

    def detect(self, path: Path) -> bool:
        if not path.is_file():
            return False
        if path.name.lower().endswith(LINE_SUFFIXES):
            return True
        if not path.name.lower().endswith(ITEM_SUFFIXES):
            return False
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
        return b'"Feature' in head and b'"stac_version"' in head or b'"FeatureCollection"' in head

    def read(self, path: Path) -> list[dict[str, Any]]:
        items = []
        for outcome in self.items(path):
            if isinstance(outcome, Rejection):
                raise ReaderError(outcome.reason)
            items.append(outcome)
        return items

    def items(self, path: Path) -> Iterator[dict[str, Any] | Rejection]:
        if path.name.lower().endswith(LINE_SUFFIXES):
            yield from self._lines(path)
            return
        try:
            document = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            yield Rejection(str(path), f"{path}: invalid JSON: {exc}")
            return
        if not isinstance(document, dict):
            kind = type(document).__name__
            yield Rejection(str(path), f"{path}: a JSON {kind}, not a STAC item or FeatureCollection")
            return
        records = document.get("features", []) if document.get("type") == "FeatureCollection" else [document]
        if not isinstance(records, list):
            yield Rejection(str(path), f"{path}: features must be a list, not {type(records).__name__}")
            return
        for index, record in enumerate(records):
            yield _checked(record, path, f"feature {index}")

    def _lines(self, path: Path) -> Iterator[dict[str, Any] | Rejection]:
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    yield Rejection(str(path), f"{path}: line {number}: invalid JSON: {exc}")
                    continue
                yield _checked(record, path, f"line {number}")


def _checked(record: Any, path: Path, where: str) -> dict[str, Any] | Rejection:
    if not isinstance(record, dict) or record.get("type") != "Feature" or "id" not in record:
        return Rejection(str(path), f"{path}: {where}: not a STAC item")
    problem = id_problem(record["id"])
    if problem:
        return Rejection(str(path), f"{path}: {where}: {problem}")
    assets = record.get("assets")
    if isinstance(assets, dict):  # a relative href means a file beside the item's file, wherever ingest runs
        for asset in assets.values():
            href = asset.get("href") if isinstance(asset, dict) else None
            if isinstance(href, str) and href and "://" not in href and not os.path.isabs(href):
                asset["href"] = os.path.normpath(path.parent.absolute() / href)
    item: dict[str, Any] = record
    return item
