"""``hesp prune --superseded``: superseded products deleted for good, their files and their items.

A product superseded for longer than the grace period goes, unless a current product (not superseded; a
withdrawn one is out of the catalogue) names it in a ``derived_from`` link: its lineage would then lead nowhere.
Items and files go together: the items are deleted in a transaction that commits only once the files are gone.

Files: a product's folder under the storage root (``<root>/<collection>/<tile>/<year>/<product>``), found from
its assets' internal locations; files outside the root (an archive ``hesp ingest`` read in place) are left.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from pydantic import BaseModel

from hygor.db import Database
from hygor.lifecycle import ItemKey, Prunable, delete_items, prunable

PRODUCT_DEPTH = 4  # <collection>/<tile>/<year>/<product> under the root


class PrunedProduct(BaseModel):
    collection: str
    id: str
    successor: str
    superseded_at: datetime
    bytes: int
    files: list[str]  # the folders removed (or that would be)


class KeptProduct(BaseModel):
    collection: str
    id: str
    needed_by: str  # "<collection> <id>" of the current product that derives from it


class PruneReport(BaseModel):
    dry_run: bool
    older_than_days: float
    deleted: list[PrunedProduct]
    kept: list[KeptProduct]

    @property
    def bytes(self) -> int:
        return sum(p.bytes for p in self.deleted)


def prune_superseded(
    database: Database, storage_root: Path, older_than_days: float, collections: Sequence[str] = (),
    dry_run: bool = False,
) -> PruneReport:  # fmt: skip
    """Delete (or list, ``dry_run``) the products superseded more than ``older_than_days`` ago."""
    before = datetime.now(UTC) - timedelta(days=older_than_days)
    with database.connect() as conn:
        candidates = prunable(conn, before, collections)
        going = [c for c in candidates if c.needed_by is None]
        deleted = [_pruned(c, storage_root) for c in going]
        if not dry_run and going:
            delete_items(conn, [ItemKey(c.collection, c.id) for c in going])
            remove_product_files([c.item for c in going], storage_root)
    kept = [KeptProduct(collection=c.collection, id=c.id, needed_by=c.needed_by) for c in candidates if c.needed_by]
    return PruneReport(dry_run=dry_run, older_than_days=older_than_days, deleted=deleted, kept=kept)


def remove_product_files(items: Iterable[dict[str, Any]], storage_root: Path) -> None:
    """Remove the products' folders under the storage root (POSIX storage). The one place files are deleted:
    an object-store root plugs in here."""
    for folder in sorted({f for item in items for f in product_folders(item, storage_root)}):
        shutil.rmtree(folder)


def product_folders(item: dict[str, Any], storage_root: Path) -> list[Path]:
    """The folders under the storage root that hold the item's assets."""
    root = storage_root.resolve()
    folders = set()
    for asset in item.get("assets", {}).values():
        path = _local_path(internal_href(asset))
        if path is None or not path.resolve().is_relative_to(root):
            continue
        parts = path.resolve().relative_to(root).parts
        if len(parts) > PRODUCT_DEPTH:
            folders.add(root.joinpath(*parts[:PRODUCT_DEPTH]))
    return sorted(folders)


def internal_href(asset: dict[str, Any]) -> str:
    """Where the storage keeps an asset: its alternate local or S3 href, else its href (the interface of
    ``hymotep.storage.internal_href``)."""
    alternate = asset.get("alternate") or {}
    for key in ("local", "s3"):
        href = (alternate.get(key) or {}).get("href")
        if href:
            return str(href)
    return str(asset.get("href", ""))


def _local_path(href: str) -> Path | None:
    parsed = urlparse(href)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and href.startswith("/"):
        return Path(href)
    return None


def _pruned(candidate: Prunable, storage_root: Path) -> PrunedProduct:
    folders = product_folders(candidate.item, storage_root)
    return PrunedProduct(
        collection=candidate.collection, id=candidate.id, successor=candidate.successor,
        superseded_at=candidate.superseded_at, bytes=sum(_size(f) for f in folders), files=[str(f) for f in folders],
    )  # fmt: skip


def _size(folder: Path) -> int:
    return sum(
        os.stat(os.path.join(path, name), follow_symlinks=False).st_size
        for path, _, names in os.walk(folder)
        for name in names
    )
