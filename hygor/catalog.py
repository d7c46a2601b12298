"""``Catalog``: the catalogue's Python API, used by the ``hesp`` CLI, the API server and notebooks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from hygor import grid, regions
from hygor.cluster import EmbeddedCluster
from hygor.collections import (
    SyncReport,
    load_collections,
    load_queryables,
    sync_collections,
)
from hygor.db import Database, fetch_all, fetch_one, redact, relation_exists
from hygor.errors import CollectionError, DatabaseError
from hygor.migrations import (
    CATALOGUE,
    PGSTAC_VERSION,
    MigrationReport,
    MigrationStream,
    migrate,
    pgstac_version,
    schema_state,
)
from hygor.settings import Settings
from hygor.sql import query
from hygor.tiles import TileInfo, count_per_region, select_tiles, sync_grid

if TYPE_CHECKING:
    from fastapi import FastAPI
    from shapely.geometry.base import BaseGeometry

    from hygor.harvest import HarvestQuery, HarvestReport, UnitDone
    from hygor.ingest import Checker, IngestOptions, IngestReport, Progress

EXACT_COUNT_BELOW = 1_000_000


class ServerInfo(BaseModel):
    kind: Literal["embedded", "external"]
    url: str
    running: bool
    home: str | None = None
    port: int | None = None
    pid: int | None = None


class CollectionInfo(BaseModel):
    id: str
    title: str | None
    items: int
    estimated: bool
    partition_trunc: str | None


class MigrationInfo(BaseModel):
    name: str
    applied: bool


class CatalogStatus(BaseModel):
    server: ServerInfo
    postgres: str | None = None
    postgis: str | None = None
    pgstac: str | None = None
    pgstac_pinned: str = PGSTAC_VERSION
    migrations: list[MigrationInfo] = []
    collections: list[CollectionInfo] = []


class SyncSummary(BaseModel):
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    queryables: str

    @classmethod
    def from_report(cls, report: SyncReport) -> SyncSummary:
        by_action: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": []}
        for result in report.collections:
            by_action[result.action.value].append(result.id)
        return cls(**by_action, queryables=report.queryables.value)


class InitReport(BaseModel):
    pgstac_before: str | None
    pgstac_after: str
    migrations_applied: list[str]
    collections: SyncSummary
    grid_tiles_loaded: int = 0

    @property
    def changed(self) -> bool:
        return (
            self.pgstac_before != self.pgstac_after
            or bool(self.migrations_applied)
            or bool(self.grid_tiles_loaded)
            or bool(self.collections.created or self.collections.updated)
            or self.collections.queryables != "unchanged"
        )


class Catalog:
    """The product inventory: a pgSTAC database plus the project's ``hesp`` schema."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()

    # -- the server -----------------------------------------------------------------------------

    @property
    def embedded(self) -> bool:
        return not self.settings.database_url

    def cluster(self) -> EmbeddedCluster:
        return EmbeddedCluster(self.settings.home, self.settings.port, self.settings.pg_bindir, self.settings.db_access)

    def database(self, *, start: bool = True) -> Database:
        """The database, the embedded cluster started on demand unless ``start`` is False."""
        return Database.from_settings(self.settings, start=start)

    def up(self) -> ServerInfo:
        """Start the embedded cluster (or check the external server) and say where it is."""
        database = self.database()
        with database.connect():
            pass
        return self._server_info(database)

    def down(self) -> bool:
        """Stop the embedded cluster; False when it was not running. External servers are left alone."""
        if not self.embedded:
            raise DatabaseError("HESP_DATABASE_URL is set: hesp does not stop external servers")
        return self.cluster().down()

    def url(self) -> str:
        return self.database().url

    def worker_url(self, *, start: bool = True) -> str:
        """The URL workers on other machines connect with: the embedded cluster's on its remote address when it
        listens beyond 127.0.0.1, else the one this process uses ("" for a stopped cluster not ``start``ed)."""
        database = self.database(start=start)
        if database.embedded is None or database.embedded.port is None:
            return database.url
        return self.cluster().remote_url(database.embedded.port) or database.url

    def api(self) -> FastAPI:
        """The STAC API application over this catalogue; writes only with the settings' API token."""
        from hygor.api import create_app  # FastAPI and friends only for those who serve

        token = self.settings.api_token
        return create_app(self.database(), token.get_secret_value() if token else None, self.settings.api_pool)

    # -- schema and collections -----------------------------------------------------------------

    def init(self, streams: Sequence[MigrationStream] = (CATALOGUE,)) -> InitReport:
        """Migrate pgSTAC and the ``streams`` of the schema (the catalogue's alone by default; a production
        database adds production's), then sync the collections; idempotent."""
        definitions = load_collections(self.settings.collections_dir)  # fail on a bad file before any change
        queryables = load_queryables(self.settings.collections_dir)
        database = self.database()
        report: MigrationReport = migrate(database, streams)
        with database.connect() as conn:
            sync = sync_collections(conn, definitions, queryables)
            grid_tiles = sync_grid(conn)
        return InitReport(
            pgstac_before=report.pgstac_before,
            pgstac_after=report.pgstac_after,
            migrations_applied=list(report.applied),
            collections=SyncSummary.from_report(sync),
            grid_tiles_loaded=grid_tiles,
        )

    def ingest(
        self, paths: Sequence[Path], options: IngestOptions | None = None, progress: Progress | None = None
    ) -> IngestReport:
        """Read the products under ``paths`` into items and load them, resumably (see ``hygor.ingest``)."""
        from hygor.ingest import IngestOptions, ingest  # the readers and the loader: for those who load only
        from hygor.loader import LoaderProcess

        database, checker = self._ingest_context(options or IngestOptions())
        with LoaderProcess(database) as loader:
            return ingest(paths, loader, checker, progress, database)

    def _ingest_context(self, options: IngestOptions) -> tuple[Database, Checker]:
        from hygor.ingest import Checker

        definitions = {d.id: d for d in load_collections(self.settings.collections_dir)}
        database = self.database()
        with database.connect() as conn:
            self._require_pgstac(conn)
            known = {row["id"] for row in fetch_all(conn, "collection_ids")}
        if options.collection is not None and options.collection not in known:
            raise CollectionError(f"unknown collection {options.collection!r} (known: {', '.join(sorted(known))})")
        return database, Checker(definitions, known, options)

    def harvest(
        self, query: HarvestQuery, on_unit: UnitDone | None = None, settle: timedelta = timedelta(0)
    ) -> HarvestReport:
        """Pull items from an upstream STAC API into one of our collections (see ``hygor.harvest``)."""
        from hygor.harvest import harvest
        from hygor.ingest import IngestOptions

        database, checker = self._ingest_context(IngestOptions(collection=query.collection))
        return harvest(database, query, checker, on_unit, settle=settle)

    def tiles(
        self,
        *,
        zone: BaseGeometry | None = None,
        ids: list[str] | None = None,
        land_only: bool = False,
        with_footprint: bool = False,
    ) -> list[TileInfo]:
        """Tiles of the grid touching ``zone`` and/or named in ``ids`` (see ``hygor.regions`` for zones)."""
        if ids is not None:
            ids = [grid.tile(value).id for value in ids]
        with self.database().connect() as conn:
            return select_tiles(conn, zone=zone, ids=ids, land_only=land_only, with_footprint=with_footprint)

    def tile_counts_by_continent(self, land_only: bool = False) -> dict[str, int]:
        with self.database().connect() as conn:
            return count_per_region(conn, regions.continents(), land_only)

    def reset(self, streams: Sequence[MigrationStream] = (CATALOGUE,)) -> InitReport:
        """Drop every object of the ``hesp`` and ``pgstac`` schemas (items included) and initialise again."""
        load_collections(self.settings.collections_dir)
        with self.database().connect() as conn:
            conn.execute(query("drop_catalogue"))
        return self.init(streams)

    def sync_collections(self) -> SyncSummary:
        definitions = load_collections(self.settings.collections_dir)
        queryables = load_queryables(self.settings.collections_dir)
        with self.database().connect() as conn:
            self._require_pgstac(conn)
            return SyncSummary.from_report(sync_collections(conn, definitions, queryables))

    def collections(self) -> list[CollectionInfo]:
        with self.database().connect() as conn:
            self._require_pgstac(conn)
            return self._collections(conn)

    def status(self, streams: Sequence[MigrationStream] = (CATALOGUE,)) -> CatalogStatus:
        """What runs where, at which versions (the migrations of ``streams``), with which collections; never
        starts anything."""
        database = self.database(start=False)
        server = self._server_info(database)
        if not server.running:
            return CatalogStatus(server=server)
        with database.connect() as conn:
            versions = fetch_one(conn, "server_versions")
            schema = schema_state(conn, streams)
            has_pgstac = pgstac_version(conn)
            return CatalogStatus(
                server=server,
                postgres=versions["postgres"],
                postgis=versions["postgis"],
                pgstac=has_pgstac,
                migrations=[MigrationInfo(name=name, applied=name not in schema.pending) for name in schema.known],
                collections=self._collections(conn) if has_pgstac else [],
            )

    # -- helpers --------------------------------------------------------------------------------

    def _server_info(self, database: Database) -> ServerInfo:
        if database.embedded is None:
            return ServerInfo(kind="external", url=redact(database.url), running=True)
        state = database.embedded
        return ServerInfo(
            kind="embedded",
            url=redact(database.url) if database.url else "",
            running=state.running,
            home=str(state.home),
            port=state.port,
            pid=state.pid,
        )

    @staticmethod
    def _collections(conn: Any) -> list[CollectionInfo]:
        rows = fetch_all(conn, "collection_counts", exact_below=EXACT_COUNT_BELOW)
        return [CollectionInfo(**row) for row in rows]

    @staticmethod
    def _require_pgstac(conn: Any) -> None:
        if not relation_exists(conn, "pgstac.collections"):
            raise DatabaseError("pgSTAC is not installed in this database: run `hesp db init`")
