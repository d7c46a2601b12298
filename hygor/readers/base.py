"""What a product reader is, and the registry of readers by name.

A reader recognises products of one format on disk (a folder such as a ``.SAFE``, or a single file) and turns
each into one or more STAC items from its metadata alone; rasters may not be there yet.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import orjson
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import parse as parse_safely

from hygor.errors import HygorError
from hygor.grid import Tile, UnknownTile
from hygor.grid import tile as grid_tile


class ReaderError(HygorError):
    """The product cannot be read."""


@dataclass(frozen=True)
class Rejection:
    """Something that could not become an item, and why."""

    path: str
    reason: str
    item_id: str | None = None


class Reader(ABC):
    """One product format."""

    name: ClassVar[str]
    """Registry name, used in ``collections/<id>/catalogue.yaml`` (``reader: esa-safe-l1c``)."""

    collection: ClassVar[str | None]
    """The collection its items go to unless told otherwise (None: the items say)."""

    @abstractmethod
    def detect(self, path: Path) -> bool:
        """Whether ``path`` (a folder or a file) is a product of this format. Cheap: names and headers only."""

    @abstractmethod
    def read(self, path: Path) -> list[dict[str, Any]]:
        """The STAC items of the product at ``path``; ``ReaderError`` saying why when it cannot."""

    def items(self, path: Path) -> Iterator[dict[str, Any] | Rejection]:
        """Items one by one. A product is read whole: all its items, or one rejection saying why not.

        Readers of files of independent records (NDJSON) override this to reject records one by one.
        """
        try:
            items = self.read(path)
        except ReaderError as exc:
            yield Rejection(str(path), str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - metadata is outside input: one product that breaks a reader
            # in a way it did not foresee is rejected alone, never the run and the good products with it
            yield Rejection(str(path), f"{self.name} could not read it: {type(exc).__name__}: {exc}")
            return
        yield from items


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON metadata file that must hold an object; ``ReaderError`` naming the file otherwise."""
    try:
        document = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ReaderError(f"{path}: cannot be read ({exc.strerror})") from None
    except orjson.JSONDecodeError as exc:
        raise ReaderError(f"{path}: malformed JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ReaderError(f"{path}: not a JSON object")
    return document


def parse_xml(path: Path) -> ET.Element:
    """The root of an XML metadata file; ``ReaderError`` naming the file when it is malformed, unreadable or
    declares entities (an external entity would read another file, an expanding one exhaust memory)."""
    try:
        root: ET.Element = parse_safely(path, forbid_dtd=False).getroot()
    except ParseError as exc:
        raise ReaderError(f"{path}: malformed XML ({exc})") from None
    except DefusedXmlException as exc:
        raise ReaderError(f"{path}: refused XML ({exc})") from None
    except OSError as exc:
        raise ReaderError(f"{path}: cannot be read ({exc.strerror})") from None
    return root


def product_tile(value: str, path: Path) -> Tile:
    """The grid tile named ``value``; a ``ReaderError`` naming ``path`` when the grid has none."""
    try:
        return grid_tile(value)
    except UnknownTile as exc:
        raise ReaderError(f"{path}: {exc}") from None


_REGISTRY: dict[str, Reader] = {}


def register(cls: type[Reader]) -> type[Reader]:
    """Class decorator: make a reader available by name and to format detection."""
    if cls.name in _REGISTRY:
        raise ValueError(f"two readers named {cls.name}")
    _REGISTRY[cls.name] = cls()
    return cls


def readers() -> dict[str, Reader]:
    return dict(_REGISTRY)


def reader(name: str) -> Reader:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ReaderError(f"no reader named {name!r} (known: {', '.join(sorted(_REGISTRY))})") from None


def detect(path: Path, readers: Iterable[Reader] | None = None) -> Reader | None:
    """The reader of the product at ``path`` (of ``readers`` when given, else of all), or None when none knows it."""
    for candidate in _REGISTRY.values() if readers is None else readers:
        if candidate.detect(path):
            return candidate
    return None
