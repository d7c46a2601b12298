"""The collections of collections/: valid STAC 1.1, complete, synchronised into pgSTAC idempotently."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psycopg
import pytest
from conftest import PORTAL_FILTERS

from hygor import Catalog, Settings
from hygor.collections import load_collection, load_collections
from hygor.errors import CollectionError
from hygor.settings import default_collections_dir

EXPECTED = {
    "sentinel-2-l1c",
    "sentinel-2-l2a-esa",
    "sentinel-1-grd",
    "cams-aerosol",
    "dem-tiles",  # inputs
    "maja-l2a",
    "lis-snow",
    "surfwater-water",
    "s1tiling-backscatter",  # per-acquisition outputs
    "maja-l3a-monthly",
    "lis-snow-yearly",  # periodic outputs
}
DEFINITIONS = load_collections(default_collections_dir())


def test_every_expected_collection_is_defined() -> None:
    assert {d.id for d in DEFINITIONS} == EXPECTED


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: d.id)
def test_collection_is_complete(definition) -> None:  # type: ignore[no-untyped-def]
    content = definition.content
    assert content["stac_version"] == "1.1.0"
    assert content["providers"] and all(p.get("roles") for p in content["providers"])
    assert content["license"] and content["summaries"] and content["item_assets"]
    assert content["stac_extensions"]
    assert content["links"] and all(link.get("title") for link in content["links"])
    assert any(link["rel"] == "license" for link in content["links"])
    for key, asset in content["item_assets"].items():
        assert asset.get("roles") and asset.get("type") and asset.get("title"), key


def test_a_collection_id_must_match_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "renamed"
    shutil.copytree(default_collections_dir() / "lis-snow", folder)
    with pytest.raises(CollectionError, match="differs from its folder name 'renamed'"):
        load_collection(folder)


def test_an_unknown_extension_schema_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "lis-snow"
    shutil.copytree(default_collections_dir() / "lis-snow", folder)
    document = json.loads((folder / "collection.json").read_text())
    document["stac_extensions"].append("https://example.com/unknown/v1.0.0/schema.json")
    (folder / "collection.json").write_text(json.dumps(document))
    with pytest.raises(CollectionError, match="not shipped"):
        load_collection(folder)


def test_sync_creates_then_leaves_unchanged(empty_db_url: str) -> None:
    catalog = Catalog(Settings(database_url=empty_db_url))
    first = catalog.init()
    assert sorted(first.collections.created) == sorted(EXPECTED)
    assert first.collections.queryables == "updated"
    second = catalog.sync_collections()
    assert sorted(second.unchanged) == sorted(EXPECTED) and not second.created and not second.updated
    assert second.queryables == "unchanged"

    listed = {c.id: c for c in catalog.collections()}
    assert listed["maja-l2a"].partition_trunc == "year"
    assert listed["dem-tiles"].partition_trunc is None
    with psycopg.connect(empty_db_url) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM pgstac.queryables")}
        indexed = {
            row[0] for row in conn.execute("SELECT name FROM pgstac.queryables WHERE property_index_type IS NOT NULL")
        }
    assert PORTAL_FILTERS <= names
    assert {"grid:code", "eo:cloud_cover"} <= indexed


def test_a_changed_collection_is_updated_and_repartitioned(tmp_path: Path, db_url: str) -> None:
    collections = tmp_path / "collections"
    shutil.copytree(default_collections_dir(), collections)
    path = collections / "dem-tiles" / "collection.json"
    document = json.loads(path.read_text())
    document["title"] = "Renamed DEM"
    path.write_text(json.dumps(document))
    (collections / "lis-snow-yearly" / "catalogue.yaml").write_text("partition_trunc: year\n")

    catalog = Catalog(Settings(database_url=db_url, collections_dir=collections))
    summary = catalog.sync_collections()
    assert sorted(summary.updated) == ["dem-tiles", "lis-snow-yearly"]
    listed = {c.id: c for c in catalog.collections()}
    assert listed["dem-tiles"].title == "Renamed DEM"
    assert listed["lis-snow-yearly"].partition_trunc == "year"
