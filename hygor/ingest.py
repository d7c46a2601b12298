"""``hesp ingest``: find products on disk, read them into items, check them, load them in batches.

Every item is checked before anything is written: its collection exists, it validates against the STAC
schemas, and (with ``check_assets`` / ``check_cog``, always for the centre's own outputs unless they come from
an ``archive``) its files exist and its rasters are Cloud Optimized GeoTIFFs. An item is loaded whole or
rejected with a reason; a run ends with one report, and running it again on the same files changes nothing.

The products are found first (a walk of the folders by their entries' names, ``os.scandir``), so that progress
has a total; the products whose last items a batch holds are recorded with its items
(``hygor.ingest_runs``): a run killed and started again continues where the catalogue is.
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
from hygor.db import Database
from hygor.ingest_runs import IngestRun, close_run, open_run, product_key, run_request
from hygor.items import adopt
from hygor.loader import Done, LoadCounts, LoaderProcess
from hygor.readers import Reader, Rejection, detect
from hygor.validation import item_errors

BATCH_SIZE = 5_000
RASTER_TYPES = ("image/tiff",)


class RejectedItem(BaseModel):
    path: str
    reason: str
    item_id: str | None = None


class FormatCounts(BaseModel):
    """What one reader (format) did in a run."""

    products: int = 0
    """Products read in this run."""
    items: int = 0
    """Their items that passed the checks."""
    rejected: int = 0
    """Products of which something was rejected."""
    resumed: int = 0
    """Products an interrupted run had committed, not read again."""


class IngestReport(BaseModel):
    ingested: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RejectedItem] = []
    products_found: int = 0
    products_done: int = 0
    """Products read (or skipped as committed by an interrupted run) so far: progress, out of products_found."""
    resumed: int = 0
    """Products skipped because an interrupted run of the same arguments had committed them."""
    by_reader: dict[str, FormatCounts] = {}

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
    archive: bool = False
    """Products of an archive, catalogued from their metadata: the files of produced collections are not
    checked unless asked (legacy GeoTIFFs are not COGs; an archive is often catalogued before it is staged)."""
    batch_size: int = BATCH_SIZE


Progress = Callable[[IngestReport], None]


def find_products(
    paths: Iterable[Path], recursive: bool, readers: Sequence[Reader] | None = None
) -> Iterator[tuple[Path, Any] | Rejection]:
    """(product path, reader) for each product under ``paths``, of ``readers`` when given (else of all); a
    rejection for what is not one.

    A link inside the inputs is followed only when it leads back inside them: a link to ``/etc`` or a loop of
    links is named and left alone, so that ingest reads nothing but its inputs."""
    paths = list(paths)
    inside = input_folders(paths)
    for path in paths:
        if not path.exists():
            yield Rejection(str(path), "no such file or folder")
            continue
        yield from _walk(path, recursive, inside, readers, top=True)


def _walk(
    path: Path,
    recursive: bool,
    inside: Sequence[Path],
    readers: Sequence[Reader] | None,
    top: bool,
    is_dir: bool | None = None,
    is_link: bool = False,
) -> Iterator[tuple[Path, Any] | Rejection]:
    if is_link:
        refused = _link_refusal(path, inside)
        if refused:
            yield Rejection(str(path), refused)
            return
    found = detect(path, readers)
    is_dir = path.is_dir() if is_dir is None else is_dir
    if found is not None:
        yield (path, found)
    elif is_dir and (top or recursive):
        with os.scandir(path) as listing:  # entries know whether they are folders or links: no stat per child
            children = sorted(
                (entry.name, entry.is_dir(), entry.is_symlink()) for entry in listing if not entry.name.startswith(".")
            )
        for name, child_is_dir, child_is_link in children:
            yield from _walk(
                path / name, recursive, inside, readers, top=False, is_dir=child_is_dir, is_link=child_is_link
            )
    elif is_dir:
        yield Rejection(str(path), "not a product: use --recursive to search inside folders")
    else:
        yield Rejection(str(path), "unknown format: no reader recognises this file")


def _link_refusal(path: Path, inside: Sequence[Path]) -> str | None:
    """Why the link ``path`` is not followed: it leads out of the inputs, or to a folder that holds it."""
    target = Path(os.path.realpath(path))
    if not any(target.is_relative_to(folder) for folder in inside):
        return f"a link to {target}, outside the ingested folders: not followed"
    if target.is_dir() and any(target == Path(os.path.realpath(parent)) for parent in path.parents):
        return "a link to a folder that holds it (a loop): not followed"
    return None


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
        produced = definition is not None and definition.produced and not self.options.archive
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
    paths: Sequence[Path],
    loader: LoaderProcess,
    checker: Checker,
    progress: Progress | None = None,
    database: Database | None = None,
) -> IngestReport:
    """Read, check and load everything under ``paths``; the report says what happened to each thing.

    Reading and checking the next batch overlaps with loading the previous one (in the loader's own process);
    at most two batches are in memory. With ``database``, the run is resumable (``hygor.ingest_runs``).
    """
    report = IngestReport()
    options = checker.options
    run = open_run(database, run_request(paths, options.collection, options.recursive)) if database else None

    def loaded(pending: Future[LoadCounts]) -> None:
        report.count(pending.result())
        if progress:
            progress(report)

    with _cyclic_gc_paused():
        found = list(find_products(paths, options.recursive))
        report.products_found = sum(1 for product in found if not isinstance(product, Rejection))
        pending: Future[LoadCounts] | None = None
        inside = input_folders(paths)
        for batch, finished in checked_batches(found, checker, report, run, progress, inside):
            if pending is not None:
                loaded(pending)
            pending = loader.submit(batch, Done(run.id, finished) if run else None)
        if pending is not None:
            loaded(pending)
    if database is not None and run is not None:
        close_run(database, run)
    return report


def checked_batches(
    found: Iterable[tuple[Path, Reader] | Rejection],
    checker: Checker,
    report: IngestReport,
    run: IngestRun | None = None,
    progress: Progress | None = None,
    inside: Sequence[Path] = (),
) -> Iterator[tuple[list[dict[str, Any]], list[str]]]:
    """Batches of the items that passed every check (distinct ids), each with the paths of the products whose
    last items it holds and that had nothing rejected; what did not pass goes to ``report.rejected``. Products
    that ``run`` committed already are skipped."""
    batch: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    finished: list[str] = []
    for product in found:
        if isinstance(product, Rejection):
            report.rejected.append(RejectedItem(path=product.path, reason=product.reason))
            continue
        path, reader = product
        counts = report.by_reader.setdefault(reader.name, FormatCounts())
        report.products_done += 1
        product_id = product_key(path)
        if run is not None and product_id in run.done:
            counts.resumed += 1
            report.resumed += 1
            continue
        counts.products += 1
        rejected_before = len(report.rejected)
        for item in _checked_items(path, reader, checker, report, inside):
            if len(batch) >= checker.options.batch_size:  # a large product (NDJSON) spans batches
                yield [item for _, item in batch.values()], finished
                batch, finished = {}, []
            key = (str(item.get("collection")), str(item.get("id")))
            if key in batch:
                problem = f"same id as an item of {batch[key][0]} in this run"
                report.rejected.append(RejectedItem(path=str(path), reason=problem, item_id=item.get("id")))
                continue
            batch[key] = (str(path), item)
            counts.items += 1
        if len(report.rejected) > rejected_before:
            counts.rejected += 1
        else:
            finished.append(product_id)  # with the batch of its last items
        if progress:
            progress(report)
        if len(batch) >= checker.options.batch_size:
            yield [item for _, item in batch.values()], finished
            batch, finished = {}, []
    if batch or finished:
        yield [item for _, item in batch.values()], finished


def _checked_items(
    path: Path, reader: Reader, checker: Checker, report: IngestReport, inside: Sequence[Path]
) -> Iterator[dict[str, Any]]:
    """The items of one product that pass the checks (asset files ``inside`` the inputs); the others go to
    ``report.rejected``."""
    for outcome in reader.items(path):
        if isinstance(outcome, Rejection):
            report.rejected.append(RejectedItem(path=outcome.path, reason=outcome.reason, item_id=outcome.item_id))
            continue
        item = adopt(outcome, checker.options.collection or outcome.get("collection") or reader.collection)
        problem = checker.problem(item, inside)
        if problem is not None:
            report.rejected.append(RejectedItem(path=str(path), reason=problem, item_id=item.get("id")))
            continue
        yield item


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
