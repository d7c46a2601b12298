"""The publication lifecycle of products in the catalogue: superseded, withdrawn, restored, pruned.

- Superseded: a product made by an older chain version than a newer valid product of its unit (collection,
  tile, acquisition slot or period) gets the STAC Version extension's ``deprecated: true`` and a
  ``successor-version`` link; ``mark_superseded`` runs in every registration (``hygor.loader.register_items``).
- Withdrawn: the item leaves pgSTAC for ``hesp.withdrawn_items`` (the API cannot serve what pgSTAC does not
  hold, whatever the filter); its files stay; ``hesp.withdrawals`` keeps who, when and why; the products it
  superseded are current again. ``restore`` puts the very item back, and supersedes them again.
- Pruned: superseded products deleted for good (``prunable`` lists them; the files are production's business).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from hygor.acting import acting_user
from hygor.errors import HygorError
from hygor.sql import named_queries
from hygor.sql import query as catalogue_query

Connection = psycopg.Connection[Any]
VERSION_EXTENSION = "https://stac-extensions.github.io/version/v1.2.0/schema.json"


class LifecycleError(HygorError):
    """An id unknown, ambiguous, or in the wrong state for the operation."""


def query(name: str) -> str:
    return named_queries("hygor.sql", "lifecycle.sql")[name]


@dataclass(frozen=True)
class ItemKey:
    collection: str
    id: str


class Withdrawal(BaseModel):
    """One event of a product's history: withdrawn or restored."""

    collection: str
    id: str
    action: str
    at: datetime
    by: str
    reason: str | None


class Prunable(BaseModel):
    """A superseded product, and the current product whose ``derived_from`` link keeps it, if any."""

    collection: str
    id: str
    successor: str
    superseded_at: datetime
    needed_by: str | None
    item: dict[str, Any]


def mark_superseded(conn: Connection, keys: Iterable[ItemKey]) -> list[ItemKey]:
    """Mark superseded what the items ``keys`` just registered make old (their units only), in ``conn``'s
    transaction; the products marked."""
    wanted = list(keys)
    params = {"collections": [k.collection for k in wanted], "ids": [k.id for k in wanted]}
    rows = conn.cursor(row_factory=tuple_row).execute(query("supersede"), params).fetchall()
    return [ItemKey(collection, item_id) for collection, item_id, _ in rows]


def withdrawn_ids(conn: Connection, collection: str, ids: Sequence[str]) -> set[str]:
    """Those of ``ids`` that are withdrawn from ``collection``."""
    params = {"collection": collection, "ids": list(ids)}
    rows = conn.cursor(row_factory=tuple_row).execute(query("withdrawn_ids"), params)
    return {row[0] for row in rows}


def resolve(conn: Connection, ids: Sequence[str], collection: str | None, *, withdrawn: bool) -> list[ItemKey]:
    """The items named by ``ids`` (in ``collection``), which must all be withdrawn (``withdrawn``) or all
    published; ``LifecycleError`` naming the first that is not, unknown or in several collections."""
    rows = conn.execute(query("published"), {"ids": list(ids), "collection": collection}).fetchall()
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        found.setdefault(row["id"], []).append(row)
    keys = []
    where = f" in {collection}" if collection else ""
    for item_id in dict.fromkeys(ids):
        matches = found.get(item_id, [])
        if not matches:
            raise LifecycleError(f"unknown item {item_id}{where}")
        if len(matches) > 1:
            names = ", ".join(m["collection"] for m in matches)
            raise LifecycleError(f"{item_id} is in several collections ({names}): name one with --collection")
        match = matches[0]
        if match["withdrawn"] != withdrawn:
            state = "already withdrawn" if match["withdrawn"] else "not withdrawn"
            raise LifecycleError(f"{match['collection']} {item_id} is {state}")
        keys.append(ItemKey(match["collection"], item_id))
    return keys


def withdraw(conn: Connection, ids: Sequence[str], reason: str, collection: str | None = None,
             by: str | None = None) -> list[Withdrawal]:  # fmt: skip
    """Take the products out of the API, their files kept; the events recorded. The products they superseded are
    current again (until ``restore``)."""
    keys = resolve(conn, ids, collection, withdrawn=False)
    params = {**_arrays(keys), "by": acting_user(by), "reason": reason}
    events = [Withdrawal(**row) for row in conn.execute(query("withdraw"), params).fetchall()]
    reinstated = [ItemKey(row["collection"], row["id"]) for row in conn.execute(query("reinstate"), _arrays(keys))]
    mark_superseded(conn, reinstated)  # by a newer product than the withdrawn one, if there is one
    return events


def restore(conn: Connection, ids: Sequence[str], collection: str | None = None, by: str | None = None,
            reason: str | None = None) -> list[Withdrawal]:  # fmt: skip
    """Put withdrawn products back as they were (their load digests too); the events recorded."""
    keys = resolve(conn, ids, collection, withdrawn=True)
    back = conn.execute(query("take_back"), _arrays(keys)).fetchall()
    conn.execute(catalogue_query("create_items"), {"items": Jsonb([row["item"] for row in back])})
    for row in back:
        if row["private"] is not None:
            params = {"collection": row["collection"], "ids": [row["id"]], "private": [Jsonb(row["private"])]}
            conn.execute(catalogue_query("store_digests"), params)
    mark_superseded(conn, keys)  # a newer version may have come meanwhile
    params = {**_arrays(keys), "by": acting_user(by), "reason": reason}
    return [Withdrawal(**row) for row in conn.execute(query("record_restore"), params).fetchall()]


def history(conn: Connection, ids: Sequence[str] = ()) -> list[Withdrawal]:
    rows = conn.execute(query("withdrawals"), {"ids": list(ids) or None}).fetchall()
    return [Withdrawal(**row) for row in rows]


def prunable(conn: Connection, before: datetime, collections: Sequence[str] = ()) -> list[Prunable]:
    """Products superseded before ``before``, each with what keeps it (a current product's lineage)."""
    params = {"before": before, "collections": list(collections) or None}
    return [Prunable(**row) for row in conn.execute(query("prunable"), params).fetchall()]


def delete_items(conn: Connection, keys: Sequence[ItemKey]) -> int:
    """Delete superseded products' items and records; how many."""
    return len(conn.execute(query("prune"), _arrays(keys)).fetchall())


def _arrays(keys: Sequence[ItemKey]) -> dict[str, list[str]]:
    return {"collections": [k.collection for k in keys], "ids": [k.id for k in keys]}
