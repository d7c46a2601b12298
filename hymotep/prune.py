"""``hesp prune --superseded``: superseded products deleted for good, their files and their items.

A product superseded for longer than the grace period goes, unless a current product (not superseded; a
withdrawn one is out of the catalogue) names it in a ``derived_from`` link: its lineage would then lead nowhere.
Items and files go together: the items are deleted in a transaction that commits only once the files are gone.

Files: a product's folder or prefix under the storage root (``<collection>/<tile>/<year>/<product>``, in a folder
or a bucket: ``hymotep.storage``), found from its assets' internal locations; files outside the root (an archive
``hesp ingest`` read in place) are left.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from hygor.db import Database
from hygor.lifecycle import ItemKey, Prunable, delete_items, prunable
from hymotep.storage import Storage, internal_href


class PrunedProduct(BaseModel):
    collection: str
    id: str
    successor: str
    superseded_at: datetime
    bytes: int  # the sum of its assets' file:size
    files: list[str]  # the product keys removed under the storage root (or that would be)


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
    database: Database, storage: Storage, older_than_days: float, collections: Sequence[str] = (),
    dry_run: bool = False,
) -> PruneReport:  # fmt: skip
    """Delete (or list, ``dry_run``) the products superseded more than ``older_than_days`` ago."""
    before = datetime.now(UTC) - timedelta(days=older_than_days)
    with database.connect() as conn:
        candidates = prunable(conn, before, collections)
        going = [c for c in candidates if c.needed_by is None]
        # A folder that a kept product shares (S1Tiling's passes of one job) stays whole.
        kept_keys = {key for c in candidates if c.needed_by for key in product_keys(c.item, storage)}
        deleted = [_pruned(c, storage, kept_keys) for c in going]
        if not dry_run and going:
            delete_items(conn, [ItemKey(c.collection, c.id) for c in going])
            for key in sorted({key for product in deleted for key in product.files}):
                storage.discard(key)
    kept = [KeptProduct(collection=c.collection, id=c.id, needed_by=c.needed_by) for c in candidates if c.needed_by]
    return PruneReport(dry_run=dry_run, older_than_days=older_than_days, deleted=deleted, kept=kept)


def product_keys(item: dict[str, Any], storage: Storage) -> set[str]:
    """The products under the storage root that hold the item's assets; files elsewhere (an archive that
    ``hesp ingest`` read in place) are not the storage's to delete."""
    keys = {storage.key_of(internal_href(asset)) for asset in item.get("assets", {}).values()}
    return {key for key in keys if key}


def _pruned(candidate: Prunable, storage: Storage, kept_keys: set[str]) -> PrunedProduct:
    sizes = [a.get("file:size") for a in candidate.item.get("assets", {}).values()]
    return PrunedProduct(
        collection=candidate.collection, id=candidate.id, successor=candidate.successor,
        superseded_at=candidate.superseded_at, bytes=sum(s for s in sizes if isinstance(s, int)),
        files=sorted(product_keys(candidate.item, storage) - kept_keys),
    )  # fmt: skip
