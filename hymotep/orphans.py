"""Orphans of the storage: products stored that no registered item references.

A job stores its product before it registers its items, and removes it when the registration fails; a worker
that dies between the two leaves the product in the storage with no item. Such a product is found by listing the
product keys under the root and taking away those that the assets of registered items lie under. One stored a
moment ago may be a running job's, about to be registered: products younger than a minimum age are left out.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from hymotep.sql import storage_query
from hymotep.storage import Storage, StorageError
from hymotep.work_units import Connection

COLLECTION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
ORPHAN_AGE = timedelta(hours=1)  # older than any job's wait between storing and registering


class Orphans(BaseModel):
    storage: str
    keys: list[str]  # <collection>/<tile>/<year>/<product>, relative to the root
    deleted: bool = False


def find_orphans(conn: Connection, storage: Storage, collection: str | None, min_age: timedelta) -> list[str]:
    """The keys of the products under the storage (of ``collection``) that no registered item references and
    that were stored at least ``min_age`` ago."""
    if collection is not None and not COLLECTION_ID.fullmatch(collection):
        raise StorageError(f"{collection!r} is not a collection id")  # nor a pattern: it would match others' products
    rows = conn.execute(storage_query("stored_hrefs"), {"collection": collection}).fetchall()
    referenced = {key for row in rows if (key := storage.key_of(str(row["href"])))}
    before = datetime.now(UTC) - min_age
    return [key for key, stored in storage.products(collection).items() if key not in referenced and stored <= before]
