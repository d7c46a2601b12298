"""``hesp ingest``: find products on disk, read them into items, check them, load them in batches.

Every item is checked before anything is written: its collection exists, it validates against the STAC
schemas, and (with ``check_assets`` / ``check_cog``, always for the centre's own outputs) its files exist and
its rasters are Cloud Optimized GeoTIFFs. An item is loaded whole or rejected with a reason; a run ends with
one report, and running it again on the same files changes nothing.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from hygor.collections import CollectionDefinition
from hygor.items import adopt
from hygor.loader import LoadCounts, LoaderProcess
from hygor.readers import Rejection, detect
from hygor.validation import item_errors

BATCH_SIZE = 5_000
RASTER_TYPES = ("image/tiff",)


class RejectedItem(BaseModel):
    path: str
    reason: str
    item_id: str | None = None


class IngestReport(BaseModel):
    ingested: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RejectedItem] = []

    @property
    def ok(self) -> bool:
        return not self.rejected

    def count(self, counts: LoadCounts) -> None:
        self.ingested += counts.new
        self.updated += counts.updated
        self.unchanged += counts.unchanged


@dataclass(frozen=True)
class IngestOptions:
    collection: str | None = None
    recursive: bool = False
    check_assets: bool = False
    check_cog: bool = False
    batch_size: int = BATCH_SIZE


Progress = Callable[[IngestReport], None]


def find_products(paths: Iterable[Path], recursive: bool) -> Iterator[tuple[Path, Any] | Rejection]:
    """(product path, reader) for each product under ``paths``; a rejection for what is not one.

    A link inside the inputs is followed only when it leads back inside them: a link to ``/etc`` or a loop of
    links is named and left alone, so that ingest reads nothing but its inputs."""
    paths = list(paths)
    inside = input_folders(paths)
    for path in paths:
        if not path.exists():
            yield Rejection(str(path), "no such file or folder")
            continue
        yield from _walk(path, recursive, inside, top=True)


def _walk(path: Path, recursive: bool, inside: Sequence[Path], top: bool) -> Iterator[tuple[Path, Any] | Rejection]:
    if not top and path.is_symlink():
        target = Path(os.path.realpath(path))
        if not any(target.is_relative_to(folder) for folder in inside):
            yield Rejection(str(path), f"a link to {target}, outside the ingested folders: not followed")
            return
        if path.is_dir() and any(target == Path(os.path.realpath(parent)) for parent in path.parents):
            yield Rejection(str(path), "a link to a folder that holds it (a loop): not followed")
            return
    found = detect(path)
    if found is not None:
        yield (path, found)
    elif path.is_dir() and (top or recursive):
        for child in sorted(path.iterdir()):
            if not child.name.startswith("."):
                yield from _walk(child, recursive, inside, top=False)
    elif path.is_dir():
        yield Rejection(str(path), "not a product: use --recursive to search inside folders")
    else:
        yield Rejection(str(path), "unknown format: no reader recognises this file")


class Checker:
    """The checks an item passes before it may be loaded."""

    def __init__(self, definitions: dict[str, CollectionDefinition], known: set[str], options: IngestOptions):
        self.definitions = definitions
        self.known = known
        self.options = options

    def problem(self, item: dict[str, Any], inside: Sequence[Path] = ()) -> str | None:
        """Why ``item`` may not be loaded, or None. With asset checks, its local files must exist and, when
        ``inside`` names folders, lie in one of them once links are followed (an item names any path it likes:
        ``file:///etc/shadow`` is not an input)."""
        collection = item.get("collection")
        if collection not in self.known:
            return f"unknown collection {collection!r}"
        errors = item_errors(item)
        if errors:
            return f"invalid STAC item: {errors[0]}"
        definition = self.definitions.get(str(collection))
        produced = definition is not None and definition.produced
        if self.options.check_assets or produced:
            problem = next(
                filter(None, (_asset_problem(k, a["href"], inside) for k, a in item["assets"].items())), None
            )
            if problem is not None:
                return problem
        if self.options.check_cog or produced:
            return _cog_problem(item)
        return None


def _asset_problem(key: str, href: str, inside: Sequence[Path]) -> str | None:
    if "://" in href and not href.startswith("file://"):
        return None  # remote assets are not this check's business
    path = os.path.realpath(href.removeprefix("file://"))
    if inside and not any(Path(path).is_relative_to(folder) for folder in inside):
        return f"asset {key} lies outside the ingested folders: {href}"
    if not os.path.exists(path):
        return f"asset {key} is missing: {href}"
    return None


def input_folders(paths: Iterable[Path]) -> list[Path]:
    """The folders an ingest of ``paths`` may read (a file's own folder), links followed."""
    return [Path(os.path.realpath(path if path.is_dir() else path.parent)) for path in paths]


def _cog_problem(item: dict[str, Any]) -> str | None:
    from rio_cogeo.cogeo import cog_validate  # rasterio only for those who check rasters

    for key, asset in item["assets"].items():
        if not str(asset.get("type", "")).startswith(RASTER_TYPES):
            continue
        href = asset["href"].removeprefix("file://")
        if "://" in href:
            continue
        try:
            valid, errors, _ = cog_validate(href, quiet=True)
        except Exception as exc:  # rasterio raises its own errors for unreadable files
            return f"asset {key} cannot be opened as a raster: {str(exc).splitlines()[0]}"
        if not valid:
            return f"asset {key} is not a valid Cloud Optimized GeoTIFF: {errors[0] if errors else 'unknown'}"
    return None


def ingest(
    paths: Iterable[Path],
    loader: LoaderProcess,
    checker: Checker,
    progress: Progress | None = None,
) -> IngestReport:
    """Read, check and load everything under ``paths``; the report says what happened to each thing.

    Reading and checking the next batch overlaps with loading the previous one (in the loader's own process);
    at most two batches are in memory.
    """
    report = IngestReport()

    def loaded(pending: Future[LoadCounts]) -> None:
        report.count(pending.result())
        if progress:
            progress(report)

    with _cyclic_gc_paused():
        pending: Future[LoadCounts] | None = None
        for batch in checked_batches(paths, checker, report):
            if pending is not None:
                loaded(pending)
            pending = loader.submit(batch)
        if pending is not None:
            loaded(pending)
    return report


def checked_batches(paths: Iterable[Path], checker: Checker, report: IngestReport) -> Iterator[list[dict[str, Any]]]:
    """Batches of items that passed every check (distinct ids); what did not goes to ``report.rejected``."""
    paths = list(paths)
    inside = input_folders(paths)
    batch: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    for found in find_products(paths, checker.options.recursive):
        if isinstance(found, Rejection):
            report.rejected.append(RejectedItem(path=found.path, reason=found.reason))
            continue
        path, reader = found
        for outcome in reader.items(path):
            if isinstance(outcome, Rejection):
                report.rejected.append(RejectedItem(path=outcome.path, reason=outcome.reason, item_id=outcome.item_id))
                continue
            item = adopt(outcome, checker.options.collection or outcome.get("collection") or reader.collection)
            problem = checker.problem(item, inside)
            key = (str(item.get("collection")), str(item.get("id")))
            if problem is None and key in batch:
                problem = f"same id as an item of {batch[key][0]} in this run"
            if problem is not None:
                report.rejected.append(RejectedItem(path=str(path), reason=problem, item_id=item.get("id")))
                continue
            batch[key] = (str(path), item)
            if len(batch) >= checker.options.batch_size:
                yield [item for _, item in batch.values()]
                batch = {}
    if batch:
        yield [item for _, item in batch.values()]


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Items are large acyclic trees of dicts and lists that reference counting frees; the cyclic collector
    would only re-scan the batches in memory, again and again (a fifth of the run time). It is paused during
    ingest and runs once at the end."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect()
        if was_enabled:
            gc.enable()
