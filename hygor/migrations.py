"""Schema migrations: pgSTAC to the pinned pypgstac version, then the project's numbered SQL files."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import psycopg
import pypgstac
from pypgstac.db import PgstacDB
from pypgstac.migrate import Migrate

from hygor.db import Database, fetch_all, fetch_one, relation_exists
from hygor.errors import MigrationError
from hygor.sql import Migration, migrations, query

PGSTAC_VERSION: str = pypgstac.__version__


@dataclass(frozen=True)
class MigrationReport:
    pgstac_before: str | None
    pgstac_after: str
    applied: tuple[str, ...]


def pgstac_version(conn: psycopg.Connection[dict[str, Any]]) -> str | None:
    if not relation_exists(conn, "pgstac.migrations"):
        return None
    return str(fetch_one(conn, "pgstac_version")["version"])


def applied_migrations(conn: psycopg.Connection[dict[str, Any]]) -> list[dict[str, Any]]:
    if not relation_exists(conn, "hesp.schema_migrations"):
        return []
    return fetch_all(conn, "applied_migrations")


def migration_label(migration: Migration) -> str:
    return f"{migration.version:04d}_{migration.name}"


def migrate(database: Database) -> MigrationReport:
    """Bring pgSTAC and the ``hesp`` schema up to date; a second run changes nothing."""
    with database.connect() as conn:
        before = pgstac_version(conn)
    if before != PGSTAC_VERSION:
        _migrate_pgstac(database)
    return MigrationReport(before, PGSTAC_VERSION, _apply_own_migrations(database))


def _migrate_pgstac(database: Database) -> None:
    # pypgstac logs each step at INFO on the root logger; the CLI reports the outcome itself.
    logging.getLogger("pypgstac").setLevel(logging.WARNING)
    with psycopg.connect(database.url, autocommit=True) as conn:
        try:
            Migrate(PgstacDB(connection=conn)).run_migration(toversion=PGSTAC_VERSION)
        except Exception as exc:  # pypgstac raises bare Exceptions and driver errors alike
            raise MigrationError(f"pgSTAC migration to {PGSTAC_VERSION} failed: {exc}") from exc


def _apply_own_migrations(database: Database) -> tuple[str, ...]:
    applied: list[str] = []
    with database.connect() as conn:
        conn.execute(query("bootstrap_migrations"))
        conn.execute(query("lock_migrations"))
        done = {row["version"]: row for row in fetch_all(conn, "applied_migrations")}
        for migration in migrations():
            checksum = hashlib.sha256(migration.sql.encode()).hexdigest()
            label = migration_label(migration)
            if migration.version in done:
                if done[migration.version]["checksum"] != checksum:
                    raise MigrationError(f"migration {label} was edited after it was applied: add a new one")
                continue
            conn.execute(migration.sql)
            conn.execute(
                query("record_migration"),
                {"version": migration.version, "name": migration.name, "checksum": checksum},
            )
            applied.append(label)
    return tuple(applied)
