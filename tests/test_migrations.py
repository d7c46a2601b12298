"""``hesp db init`` against an external server (HESP_DATABASE_URL): migrations, idempotence, reset; each
workshop's objects made by its own migrations; a database made by hesp 0.1 upgraded in place."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import psycopg
import pytest
from conftest import REPO, hesp
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pypgstac.db import PgstacDB
from pypgstac.migrate import Migrate
from stac_items import l2a_item

from hygor import Catalog, Settings
from hygor.errors import MigrationError
from hygor.migrations import PGSTAC_VERSION
from hygor.tiles import sync_grid
from hymotep.production import Production

SCHEMA_0_1 = REPO / "tests" / "fixtures" / "schema-0.1"
# What production owns in the hesp schema: tables and functions.
# (version_key is the catalogue's too since 0009: it decides which product supersedes which.)
PRODUCTION_OBJECTS = {
    "requests", "request_tiles", "jobs", "request_scope", "product_rank", "made_verdict", "outdated_verdict",
    "job_verdict", "lacks", "missing_verdict", "period_start", "period_end", "request_history",
    "not_accepted_verdict", "campaigns", "campaign_tiles", "campaign_cover", "cascade_campaign", "stale_input",
    "replay_verdict",
}  # fmt: skip
# Every production table's rows, and the catalogue's a production database keeps.
KEPT_ROWS = {
    table: f"SELECT * FROM hesp.{table} ORDER BY 1, 2"
    for table in ("requests", "request_tiles", "jobs", "inventory", "harvests", "harvest_units")
}


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
        conn.execute("UPDATE hesp.schema_migrations SET checksum = 'edited' WHERE stream = 'hygor' AND version = 1")
    with pytest.raises(MigrationError, match=r"0001_hesp_schema \(hygor\) was edited"):
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


def test_the_catalogue_makes_no_production_object(empty_db_url: str) -> None:
    catalogue = Catalog(Settings(database_url=empty_db_url))
    assert catalogue.init().migrations_applied == [f"{n} (hygor)" for n in (
        "0001_hesp_schema", "0002_harvests", "0003_tiles", "0005_inventory", "0006_fetchable", "0007_ingest_runs",
        "0008_collection_delete", "0009_publication", "0010_lineage_links", "0011_lineage",
        "0012_inventory_statement_triggers", "0013_inventory_cheaper_rows")]  # fmt: skip
    assert not hesp_objects(empty_db_url) & PRODUCTION_OBJECTS
    production = Production(catalogue).init()
    assert production.migrations_applied == ["0001_requests (hymotep)", "0002_production (hymotep)",
                                             "0003_job_start (hymotep)", "0004_decisions (hymotep)",
                                             "0005_campaigns (hymotep)", "0006_watch (hymotep)"]  # fmt: skip
    assert PRODUCTION_OBJECTS <= hesp_objects(empty_db_url)


def test_a_database_of_hesp_0_1_is_upgraded_in_place(empty_db_url: str, db_url: str) -> None:
    build_0_1(empty_db_url)
    with psycopg.connect(empty_db_url, row_factory=dict_row) as conn:
        fill(conn)
        before = {table: conn.execute(sql).fetchall() for table, sql in KEPT_ROWS.items()}
        old = {row["version"]: row for row in conn.execute("SELECT * FROM hesp.schema_migrations")}
    assert all(before.values())

    production = Production(Catalog(Settings(database_url=empty_db_url)))
    pending = [m.name for m in production.database_status().migrations if not m.applied]
    moved_in = ["0001_requests (hymotep)", "0002_production (hymotep)", "0003_job_start (hymotep)"]
    # Newer than hesp 0.1 (whose 0006 and 0007 are hymotep's 0002 and 0003 now).
    new = [
        "0006_fetchable (hygor)",
        "0007_ingest_runs (hygor)",
        "0008_collection_delete (hygor)",
        "0009_publication (hygor)",
        "0010_lineage_links (hygor)",
        "0011_lineage (hygor)",
        "0012_inventory_statement_triggers (hygor)",
        "0013_inventory_cheaper_rows (hygor)",
    ]
    newer = ["0004_decisions (hymotep)", "0005_campaigns (hymotep)", "0006_watch (hymotep)"]
    assert pending == [*new, *moved_in, *newer]
    assert production.init().migrations_applied == [*new, *newer]
    with psycopg.connect(empty_db_url, row_factory=dict_row) as conn:
        after = {table: conn.execute(sql).fetchall() for table, sql in KEPT_ROWS.items()}
    assert all(row.pop("fetchable") is False for row in after["inventory"])  # the item of fill() has no asset
    assert all(row.pop("superseded") is False for row in after["inventory"])
    for row in after["requests"]:  # requests of hesp 0.1 are accepted, as they were produced
        assert (row.pop("decision"), row.pop("decision_reason"), row.pop("decided_at"), row.pop("decided_by")) == (
            "accepted", None, None, None)  # fmt: skip
    assert all(row.pop("campaign") is None for row in after["jobs"])
    assert after == before
    with psycopg.connect(empty_db_url, row_factory=dict_row) as conn:
        records = conn.execute("SELECT * FROM hesp.schema_migrations ORDER BY stream, version").fetchall()
    assert [(r["stream"], r["version"], r["name"]) for r in records] == [
        ("hygor", 1, "hesp_schema"), ("hygor", 2, "harvests"), ("hygor", 3, "tiles"), ("hygor", 5, "inventory"),
        ("hygor", 6, "fetchable"), ("hygor", 7, "ingest_runs"), ("hygor", 8, "collection_delete"),
        ("hygor", 9, "publication"), ("hygor", 10, "lineage_links"), ("hygor", 11, "lineage"),
        ("hygor", 12, "inventory_statement_triggers"), ("hygor", 13, "inventory_cheaper_rows"),
        ("hymotep", 1, "requests"), ("hymotep", 2, "production"), ("hymotep", 3, "job_start"),
        ("hymotep", 4, "decisions"), ("hymotep", 5, "campaigns"), ("hymotep", 6, "watch"),
    ]  # fmt: skip
    with psycopg.connect(db_url) as conn:  # the checksums of the files of today
        current = dict(conn.execute("SELECT stream || version, checksum FROM hesp.schema_migrations").fetchall())
    assert {r["stream"] + str(r["version"]): r["checksum"] for r in records} == current
    moved = {("hymotep", 1): 4, ("hymotep", 2): 6, ("hymotep", 3): 7}
    assert all(
        r["applied_at"] == old[moved.get((r["stream"], r["version"]), r["version"])]["applied_at"]
        for r in records
        if (r["stream"], r["version"]) in moved or (r["stream"], r["version"]) < ("hygor", 6)  # others: newer than 0.1
    )
    assert schema(empty_db_url) == schema(db_url)  # the objects, as a database made now has them
    assert (
        production.database_status().migrations
        == Production(Catalog(Settings(database_url=db_url))).database_status().migrations
    )

    again = production.init()
    assert again.migrations_applied == [] and not again.changed
    with psycopg.connect(empty_db_url, row_factory=dict_row) as conn:
        assert conn.execute("SELECT * FROM hesp.schema_migrations ORDER BY stream, version").fetchall() == records


def test_lineage_links_written_relative_to_the_item_are_mended_to_the_api_root(db_url: str) -> None:
    """Items registered before 0010 said ``../../<collection>/items/<id>``, which the API resolved against its root
    into a URL that answers 404; the migration rewrites them, and only them."""
    item = l2a_item("31TCJ", datetime(2023, 1, 3, 10, 56), cloud_cover=10.0)
    item["links"] = [{"rel": "derived_from", "href": "../../sentinel-2-l1c/items/S2A_X", "type": "application/json"},
                     {"rel": "license", "href": "https://example.org/licence"}]  # fmt: skip
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SELECT pgstac.create_item(%s)", (Jsonb(item),))
        conn.execute("DELETE FROM hesp.schema_migrations WHERE stream = 'hygor' AND version = 10")
    assert "0010_lineage_links (hygor)" in Catalog(Settings(database_url=db_url)).init().migrations_applied
    with psycopg.connect(db_url) as conn:
        (served,) = conn.execute("SELECT pgstac.get_item(%s, 'maja-l2a')", (item["id"],)).fetchone()
    assert [link["href"] for link in served["links"]] == [
        "collections/sentinel-2-l1c/items/S2A_X",
        "https://example.org/licence",
    ]


def build_0_1(url: str) -> None:
    """pgSTAC, then hesp 0.1's migrations (``tests/fixtures/schema-0.1``) applied and recorded as its runner did,
    then the Sentinel-2 grid as its ``hesp db init`` loaded it."""
    with psycopg.connect(url, autocommit=True) as conn:
        Migrate(PgstacDB(connection=conn)).run_migration(toversion=PGSTAC_VERSION)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        conn.execute((SCHEMA_0_1 / "schema_migrations.sql").read_text())
        for path in sorted(SCHEMA_0_1.glob("[0-9][0-9][0-9][0-9]_*.sql")):
            sql = path.read_text()
            conn.execute(sql)
            version, name = path.stem.split("_", 1)
            conn.execute(
                "INSERT INTO hesp.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (int(version), name, hashlib.sha256(sql.encode()).hexdigest()),
            )
        sync_grid(conn)


def fill(conn: psycopg.Connection[Any]) -> None:
    """A request on a tile, a job that ran, an item of a collection (its inventory row made by the trigger) and a
    harvest."""
    conn.execute("""INSERT INTO hesp.requests (name, requester, zone, chains, start_date, priority)
        VALUES ('garonne', '{"name": "A. User"}', '{"kind": "tiles", "value": ["31TCJ"]}', '{maja-l2a}', '2023-01-01',
                2)""")  # fmt: skip
    conn.execute("INSERT INTO hesp.request_tiles (request, tile) VALUES ('garonne', '31TCJ')")
    conn.execute("""INSERT INTO hesp.jobs (collection, chain_version, tile, slot, state, attempts, last_error, worker,
                                           started_at, log_path)
        VALUES ('maja-l2a', '4.10', '31TCJ', 38750, 'failed', 3, 'maja exited with code 66', 'node-1',
                now() - interval '1 hour', '/storage/logs/job-1-3.log')""")  # fmt: skip
    extent = {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}}
    collection = {"type": "Collection", "id": "legacy-l2a", "stac_version": "1.1.0", "description": "kept",
                  "license": "proprietary", "links": [], "extent": extent}  # fmt: skip
    properties = {"datetime": "2023-01-03T10:56:00Z", "grid:code": "MGRS-31TCJ", "processing:version": "4.10"}
    item = {"type": "Feature", "stac_version": "1.1.0", "id": "L2A_31TCJ_1", "collection": "legacy-l2a",
            "geometry": {"type": "Point", "coordinates": [1, 43.5]}, "links": [], "assets": {},
            "properties": properties}  # fmt: skip
    conn.execute("SELECT pgstac.create_collection(%s)", (Jsonb(collection),))
    conn.execute("SELECT pgstac.create_item(%s)", (Jsonb(item),))
    harvest = conn.execute("""INSERT INTO hesp.harvests (key, source_url, source_collection, target_collection, query)
        VALUES ('k', 'https://example.org/stac', 'sentinel-2-l1c', 'sentinel-2-l1c', '{}') RETURNING id""").fetchone()
    assert harvest is not None
    conn.execute(
        "INSERT INTO hesp.harvest_units (harvest_id, unit, items) VALUES (%s, '31TCJ/2023-01', 12)", (harvest["id"],)
    )


def hesp_objects(url: str) -> set[str]:
    """Names of the tables and functions of the hesp schema."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("""SELECT relname FROM pg_class WHERE relnamespace = 'hesp'::regnamespace AND relkind = 'r'
            UNION SELECT proname FROM pg_proc WHERE pronamespace = 'hesp'::regnamespace""").fetchall()
    return {row[0] for row in rows}


def schema(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """The hesp schema's columns, indexes, functions (with their bodies), triggers (but on partitions, which are
    the items') and event triggers, and constraints."""
    queries = {
        "columns": """SELECT table_name, column_name, data_type, is_nullable, column_default
                      FROM information_schema.columns WHERE table_schema = 'hesp' ORDER BY 1, 2""",
        "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'hesp' ORDER BY 1",
        "functions": """SELECT oid::regprocedure::text, prosrc, provolatile, proretset FROM pg_proc
                        WHERE pronamespace = 'hesp'::regnamespace ORDER BY 1""",
        "constraints": """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
                          WHERE connamespace = 'hesp'::regnamespace ORDER BY 1, 2""",
        "triggers": """SELECT tgname, tgrelid::regclass::text FROM pg_trigger JOIN pg_class ON pg_class.oid = tgrelid
                       WHERE tgname LIKE 'hesp%' AND NOT relispartition ORDER BY 1, 2""",
        "event_triggers": "SELECT evtname, evtevent, evttags, evtenabled FROM pg_event_trigger ORDER BY 1",
    }
    with psycopg.connect(url) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in queries.items()}
