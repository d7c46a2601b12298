"""The collections of ``<collections dir>/<id>/``: loaded, validated, synchronised into pgSTAC.

The collections dir is HESP_COLLECTIONS_DIR, a site's own, else the one shipped in ``hygor/data/collections``.
A folder holds ``collection.json`` (STAC 1.1) and optionally ``catalogue.yaml`` (how pgSTAC keeps it:
partitioning). ``collections/queryables.json`` lists the properties portals filter on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import psycopg
import yaml
from psycopg.types.json import Jsonb

from hygor.db import execute, fetch_all, fetch_one
from hygor.errors import CollectionError
from hygor.validation import document_errors, stac_errors

PartitionTrunc = Literal["year", "month"] | None
QUERYABLES_FILE = "queryables.json"
CATALOGUE_SCHEMA = "catalogue.schema.json"
# Queryables worth a B-tree on every partition: the filters portals send (the tile, clouds, the chain's version,
# valid products only), and `deprecated`, which every search's default filter names (hygor.api.versions): ANALYZE
# keeps statistics of an indexed expression, so the planner knows that almost no item is deprecated; without them
# it expects a few thousand matches and numberMatched counts the whole collection. pgSTAC builds the index on each
# partition, existing and new (maintain_partitions); datetime is indexed by pgSTAC itself.
INDEXED_QUERYABLES = ("grid:code", "eo:cloud_cover", "processing:version", "hesp:valid", "deprecated")


class SyncAction(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class CollectionDefinition:
    """One collection as the repository defines it."""

    id: str
    folder: Path
    content: dict[str, Any]
    partition_trunc: PartitionTrunc = None
    reader: str | None = None
    produced: bool = False
    by_footprint: bool = False  # items cross the grid (swaths): the inventory places them by footprint

    @property
    def title(self) -> str:
        return str(self.content.get("title", ""))


@dataclass(frozen=True)
class SyncResult:
    id: str
    action: SyncAction


@dataclass(frozen=True)
class SyncReport:
    collections: tuple[SyncResult, ...]
    queryables: SyncAction


def load_collection(folder: Path) -> CollectionDefinition:
    """Read and validate one collection folder; raise ``CollectionError`` naming the file and the fault."""
    path = folder / "collection.json"
    content = _read_json(path)
    if not isinstance(content, dict):
        raise CollectionError(f"{path}: a collection must be a JSON object")
    problems = stac_errors(content)
    if content.get("id") != folder.name:
        problems.insert(0, f"id {content.get('id')!r} differs from its folder name {folder.name!r}")
    if problems:
        raise CollectionError(f"{path}: {problems[0]}")
    settings = _read_catalogue_settings(folder / "catalogue.yaml")
    return CollectionDefinition(
        folder.name,
        folder,
        content,
        partition_trunc=settings.get("partition_trunc"),
        reader=settings.get("reader"),
        produced=bool(settings.get("produced", False)),
        by_footprint=settings.get("tiling") == "footprint",
    )


def load_collections(root: Path) -> list[CollectionDefinition]:
    if not root.is_dir():
        raise CollectionError(f"collections folder {root} not found (set HESP_COLLECTIONS_DIR)")
    folders = sorted(p for p in root.iterdir() if (p / "collection.json").is_file())
    return [load_collection(folder) for folder in folders]


def load_queryables(root: Path) -> dict[str, Any] | None:
    path = root / QUERYABLES_FILE
    if not path.is_file():
        return None
    document = _read_json(path)
    if not isinstance(document, dict) or not isinstance(document.get("properties"), dict):
        raise CollectionError(f"{path}: queryables must be a JSON Schema with 'properties'")
    return document


def sync_collections(
    conn: psycopg.Connection[dict[str, Any]],
    definitions: list[CollectionDefinition],
    queryables: dict[str, Any] | None,
) -> SyncReport:
    """Upsert each collection whose content or partitioning differs from pgSTAC's; then the queryables."""
    results = tuple(SyncResult(d.id, _sync_one(conn, d)) for d in definitions)
    queryables_action = _sync_queryables(conn, queryables) if queryables else SyncAction.UNCHANGED
    return SyncReport(results, queryables_action)


def out_of_sync(
    conn: psycopg.Connection[dict[str, Any]],
    definitions: list[CollectionDefinition],
    queryables: dict[str, Any] | None,
) -> list[tuple[str, SyncAction]]:
    """What ``sync_collections`` would change, read without writing: (collection id or "queryables", action)."""
    changes = [(d.id, _action(fetch_one(conn, "collection_state", id=d.id), d)) for d in definitions]
    if queryables is not None and not _queryables_up_to_date(conn, queryables):
        changes.append(("queryables", SyncAction.UPDATED))
    return [(name, action) for name, action in changes if action is not SyncAction.UNCHANGED]


def _action(state: dict[str, Any], definition: CollectionDefinition) -> SyncAction:
    if state["content"] is None:
        return SyncAction.CREATED
    if (
        state["content"] != definition.content
        or state["partition_trunc"] != definition.partition_trunc
        or state["by_footprint"] != definition.by_footprint
    ):
        return SyncAction.UPDATED
    return SyncAction.UNCHANGED


def _sync_one(conn: psycopg.Connection[dict[str, Any]], definition: CollectionDefinition) -> SyncAction:
    state = fetch_one(conn, "collection_state", id=definition.id)
    if state["content"] != definition.content:
        execute(conn, "upsert_collection", content=Jsonb(definition.content))
    if state["partition_trunc"] != definition.partition_trunc:
        execute(conn, "set_partition_trunc", id=definition.id, partition_trunc=definition.partition_trunc)
    if state["by_footprint"] != definition.by_footprint:
        execute(conn, "set_footprint_tiling", id=definition.id, by_footprint=definition.by_footprint)
        execute(conn, "rebuild_inventory", id=definition.id)
    return _action(state, definition)


def _queryables_up_to_date(conn: psycopg.Connection[dict[str, Any]], document: dict[str, Any]) -> bool:
    current = {row["name"]: row for row in fetch_all(conn, "global_queryables")}
    return all(
        name in current
        and current[name]["definition"] == definition
        and (current[name]["property_index_type"] is not None) == (name in INDEXED_QUERYABLES)
        for name, definition in document["properties"].items()
    )


def _sync_queryables(conn: psycopg.Connection[dict[str, Any]], document: dict[str, Any]) -> SyncAction:
    if _queryables_up_to_date(conn, document):
        return SyncAction.UNCHANGED
    execute(conn, "upsert_queryables", definitions=Jsonb(document), index_fields=list(INDEXED_QUERYABLES))
    execute(conn, "analyze_items")  # the new indexes' expressions get their statistics now, not at autovacuum's pace
    return SyncAction.UPDATED


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CollectionError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise CollectionError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc


def _read_catalogue_settings(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        settings = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise CollectionError(f"{path}: invalid YAML: {exc}") from exc
    problems = document_errors(settings, "hygor", CATALOGUE_SCHEMA)
    if problems:
        raise CollectionError(f"{path}: {problems[0]}")
    return dict(settings)
