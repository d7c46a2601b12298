"""``hesp db init`` against an external server (HESP_DATABASE_URL): migrations, idempotence, reset."""

from __future__ import annotations

import psycopg
import pytest
from conftest import hesp

from hygor import Catalog, Settings
from hygor.errors import MigrationError


def snapshot(url: str) -> tuple[object, ...]:
    with psycopg.connect(url) as conn:
        return (
            conn.execute("SELECT version, name, checksum, applied_at FROM hesp.schema_migrations").fetchall(),
            conn.execute("SELECT version, datetime FROM pgstac.migrations").fetchall(),
            conn.execute("SELECT content, partition_trunc FROM pgstac.collections ORDER BY id").fetchall(),
            conn.execute("SELECT name, definition FROM pgstac.queryables ORDER BY id").fetchall(),
        )


def test_init_on_an_empty_external_database_then_again(empty_db_url: str) -> None:
    env = {"HESP_DATABASE_URL": empty_db_url}
    first = hesp("db", "init", env=env)
    assert first.returncode == 0, first.stderr
    assert "pgSTAC 0.10.0 (was not installed)" in first.stdout
    state = snapshot(empty_db_url)

    again = hesp("db", "init", env=env)
    assert again.returncode == 0 and "nothing changed" in again.stdout
    assert snapshot(empty_db_url) == state

    status = hesp("db", "status", env=env)
    assert status.returncode == 0 and "external PostgreSQL" in status.stdout and "pgSTAC 0.10.0" in status.stdout


def test_an_edited_applied_migration_is_refused(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE hesp.schema_migrations SET checksum = 'edited' WHERE version = 1")
    with pytest.raises(MigrationError, match="0001_hesp_schema was edited"):
        Catalog(Settings(database_url=db_url)).init()


def test_reset_drops_items_and_initialises_again(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("""SELECT pgstac.create_item('{"type": "Feature", "stac_version": "1.1.0", "id": "x",
            "collection": "dem-tiles", "geometry": {"type": "Point", "coordinates": [1, 43]},
            "properties": {"datetime": "2020-01-01T00:00:00Z"}, "links": [], "assets": {}}'::jsonb)""")
    catalog = Catalog(Settings(database_url=db_url))
    assert {c.id: c.items for c in catalog.collections()}["dem-tiles"] == 1
    result = hesp("db", "reset", "--yes", env={"HESP_DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    assert all(c.items == 0 for c in catalog.collections())
