"""Schema migrations: pgSTAC to the pinned pypgstac version, then the workshops' numbered SQL files.

Each workshop owns its tables and functions and ships them as a stream of numbered files (``MigrationStream``):
the catalogue's (``CATALOGUE``, here), then those of the workshops built on it, which the caller names (hygor
knows none of them). One runner applies them in order and records each in ``hesp.schema_migrations`` by stream
and version, with the checksum of its file: an applied file that was edited is refused.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pypgstac

from hygor.db import Database, fetch_all, fetch_one, relation_exists
from hygor.errors import MigrationError
from hygor.sql import Migration, migrations, query

PGSTAC_VERSION: str = pypgstac.__version__
Connection = psycopg.Connection[dict[str, Any]]


@dataclass(frozen=True)
class Moved:
    """A migration first shipped, and recorded, as ``version`` of stream ``stream``."""

    stream: str
    version: int


@dataclass(frozen=True)
class MigrationStream:
    """The numbered files of ``<package>/migrations/``, recorded under ``name``.

    When objects move between workshops, files change hands or content, and a database made before has what
    they make already: ``moved`` are this stream's migrations that an older hesp shipped in another stream (by
    version), whose records move here; ``replaced`` the checksums some files had before objects moved out of or
    into them (by version), which their records take again. Neither runs again.
    """

    name: str
    package: str
    moved: Mapping[int, Moved] = field(default_factory=dict)
    replaced: Mapping[int, str] = field(default_factory=dict)

    def migrations(self) -> tuple[Migration, ...]:
        return migrations(self.package)

    def label(self, migration: Migration) -> str:
        return f"{migration.version:04d}_{migration.name} ({self.name})"


# hesp 0.1's 0005_inventory also made the chain versions' and periods' functions, now production's.
CATALOGUE = MigrationStream(
    "hygor", "hygor.sql", replaced={5: "1750f569b88c8e5ccde51cb5d7552b1caa30952ea94b7b90081aa24b67bc3e60"}
)


@dataclass(frozen=True)
class MigrationReport:
    pgstac_before: str | None
    pgstac_after: str
    applied: tuple[str, ...]


@dataclass(frozen=True)
class SchemaState:
    """The migrations of some streams (labels, in order), those not applied yet, and the records that none of
    them explains (made by a newer hesp)."""

    known: tuple[str, ...]
    pending: tuple[str, ...]
    unknown: tuple[str, ...]


def pgstac_version(conn: Connection) -> str | None:
    if not relation_exists(conn, "pgstac.migrations"):
        return None
    return str(fetch_one(conn, "pgstac_version")["version"])


def applied_migrations(conn: Connection) -> dict[tuple[str, int], dict[str, Any]]:
    """The records by (stream, version); those of a record not upgraded yet are the catalogue's."""
    if not relation_exists(conn, "hesp.schema_migrations"):
        return {}
    rows = fetch_all(conn, "applied_migrations")
    return {(row.get("stream", CATALOGUE.name), row["version"]): row for row in rows}


def schema_state(conn: Connection, streams: Sequence[MigrationStream]) -> SchemaState:
    """Which migrations of ``streams`` this database has; a moved one counts once its record has moved."""
    recorded = applied_migrations(conn)
    known, pending = [], []
    moved_from = {(old.stream, old.version) for stream in streams for old in stream.moved.values()}
    explained = set(moved_from)
    for stream in streams:
        for migration in stream.migrations():
            known.append(stream.label(migration))
            key = (stream.name, migration.version)
            explained.add(key)
            record = recorded.get(key)
            # A record still where a moved migration was is that one's, not this one's (same number, other name).
            if record is None or (key in moved_from and record["name"] != migration.name):
                pending.append(stream.label(migration))
    unknown = [
        f"{row['version']:04d}_{row['name']} ({key[0]})" for key, row in recorded.items() if key not in explained
    ]
    return SchemaState(tuple(known), tuple(pending), tuple(unknown))


def migrate(database: Database, streams: Sequence[MigrationStream] = (CATALOGUE,)) -> MigrationReport:
    """Bring pgSTAC and the ``hesp`` schema up to date, stream after stream; a second run changes nothing."""
    with database.connect() as conn:
        before = pgstac_version(conn)
    if before != PGSTAC_VERSION:
        _migrate_pgstac(database)
    return MigrationReport(before, PGSTAC_VERSION, _apply_own_migrations(database, streams))


def _migrate_pgstac(database: Database) -> None:
    from pypgstac.db import PgstacDB  # here: pypgstac's migrations bring smart_open and boto3 (0.1 s to import)
    from pypgstac.migrate import Migrate

    # pypgstac logs each step at INFO on the root logger; the CLI reports the outcome itself.
    logging.getLogger("pypgstac").setLevel(logging.WARNING)
    with psycopg.connect(database.url, autocommit=True) as conn:
        try:
            Migrate(PgstacDB(connection=conn)).run_migration(toversion=PGSTAC_VERSION)
        except Exception as exc:  # pypgstac raises bare Exceptions and driver errors alike
            raise MigrationError(f"pgSTAC migration to {PGSTAC_VERSION} failed: {exc}") from exc


def _apply_own_migrations(database: Database, streams: Sequence[MigrationStream]) -> tuple[str, ...]:
    applied: list[str] = []
    with database.connect() as conn:
        conn.execute(query("lock_migrations"))
        conn.execute(query("bootstrap_migrations"))
        _move_records(conn, streams)
        done = applied_migrations(conn)
        for stream in streams:
            for migration in stream.migrations():
                checksum = hashlib.sha256(migration.sql.encode()).hexdigest()
                label = stream.label(migration)
                record = done.get((stream.name, migration.version))
                params = {"stream": stream.name, "version": migration.version, "name": migration.name}
                if record is not None:
                    if record["checksum"] == stream.replaced.get(migration.version):
                        conn.execute(query("replace_checksum"), {**params, "checksum": checksum})
                    elif record["checksum"] != checksum:
                        raise MigrationError(f"migration {label} was edited after it was applied: add a new one")
                    continue
                conn.execute(migration.sql)
                conn.execute(query("record_migration"), {**params, "checksum": checksum})
                applied.append(label)
    return tuple(applied)


def _move_records(conn: Connection, streams: Sequence[MigrationStream]) -> None:
    """Records of moved migrations follow them into their new stream, before any stream runs: the old numbers
    may be taken again."""
    for stream in streams:
        names = {m.version: m.name for m in stream.migrations()}
        for version, old in stream.moved.items():
            params = {"stream": stream.name, "version": version, "name": names[version]}
            conn.execute(query("move_migration"), {**params, "from_stream": old.stream, "from_version": old.version})
