"""The storage root: where products and job logs are kept once a job succeeds.

Layout::

    <root>/<collection>/<tile>/<year>/<product>/      a product (its folder, or the files a chain wrote loose)
    <root>/logs/<collection>/<tile>/job-<id>-<attempt>.log

A product moves from the job's output folder into place by renames on one filesystem (a copy otherwise), under
its deterministic name: a job run twice puts the same product at the same place, replacing the first.

Names come from the chains' outputs (a MUSCATE product's id is read from its XML): each must be one plain path
component, and the folder it makes must lie under the root, or nothing is stored. Outputs may not link out of
their folder either: a symlink to another file would publish that file as the product's.
"""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from hymotep.errors import HymotepError


class UnsafeOutput(HymotepError):
    """A chain's output would be stored, or would read, outside its place."""


@dataclass(frozen=True)
class StoredProduct:
    path: Path
    items: list[dict[str, Any]]


def product_folder(root: Path, collection: str, tile: str, acquired: datetime, name: str) -> Path:
    """``<root>/<collection>/<tile>/<year>/<name>``; ``UnsafeOutput`` unless each part is one plain component."""
    parts = [collection, tile, f"{acquired.year:04d}", name]
    for part in parts:
        if not part or part.startswith(".") or any(c in part for c in "/\\\0") or part != part.strip():
            raise UnsafeOutput(f"{part!r} cannot name a folder of the storage root")
    folder = root.joinpath(*parts)
    if not folder.resolve().is_relative_to(root.resolve()):
        raise UnsafeOutput(f"{folder} is not under the storage root {root}")
    return folder


def check_links(output_dir: Path) -> None:
    """``UnsafeOutput`` if anything in ``output_dir`` is a symbolic link leading out of it (or nowhere)."""
    inside = output_dir.resolve()
    for folder, dirs, files in os.walk(output_dir):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            if not path.is_symlink():
                continue
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError):  # dangling, or a loop
                raise UnsafeOutput(f"{path.relative_to(output_dir)} is a link that leads nowhere") from None
            if not target.is_relative_to(inside):
                raise UnsafeOutput(f"{path.relative_to(output_dir)} links out of the product, to {path.readlink()}")


def log_path(root: Path, collection: str, tile: str, job_id: int, attempt: int) -> Path:
    """Where the log of this attempt is kept: ``job-<id>-<attempt>.log``, or ``job-<id>-<attempt>.<n>.log`` when
    an earlier series of attempts (before ``--retry-failed`` or a reprocessing) kept one under that name."""
    folder = root / "logs" / collection / tile
    names = itertools.chain(
        [f"job-{job_id}-{attempt}.log"], (f"job-{job_id}-{attempt}.{n}.log" for n in itertools.count(2))
    )
    return next(folder / name for name in names if not (folder / name).exists())


def store(output_dir: Path, destination: Path, items: list[dict[str, Any]]) -> StoredProduct:
    """Move what ``output_dir`` holds to ``destination`` (a lone folder of that name moves itself, other
    content moves inside), replacing a previous copy, and point the items' asset hrefs at the new place. The
    caller has checked the links (``check_links``) before anything read the outputs."""
    entries = [e for e in output_dir.iterdir() if not e.name.startswith(".")]
    lone_folder = len(entries) == 1 and entries[0].is_dir() and entries[0].name == destination.name
    source = entries[0] if lone_folder else output_dir
    destination.parent.mkdir(parents=True, exist_ok=True)
    staged = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:8]}")
    if lone_folder:
        shutil.move(source, staged)
    else:
        staged.mkdir()
        for entry in entries:
            shutil.move(entry, staged / entry.name)
    _replace(staged, destination)
    moved = [_rehomed(item, source.absolute(), destination) for item in items]
    return StoredProduct(destination, moved)


def archive_log(log: Path, destination: Path) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(log, destination)
    return destination


def _replace(staged: Path, destination: Path) -> None:
    """Put ``staged`` at ``destination``; an older copy there is renamed away first, then removed."""
    if destination.exists():
        old = destination.with_name(f".{destination.name}.old-{uuid.uuid4().hex[:8]}")
        destination.rename(old)
        staged.rename(destination)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staged.rename(destination)


def _rehomed(item: dict[str, Any], source: Path, destination: Path) -> dict[str, Any]:
    prefix = str(source)
    assets = {}
    for key, asset in item.get("assets", {}).items():
        href = str(asset["href"])
        if href.startswith(prefix + "/") or href == prefix:
            href = str(destination) + href[len(prefix) :]
        assets[key] = {**asset, "href": href}
    return {**item, "assets": assets}
