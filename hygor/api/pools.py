"""The API's connection pools: one per pgSTAC role, sized per worker process, with searches that write nothing.

pgSTAC keeps bookkeeping of every search (``searches``, ``search_wheres``: usage counters, cached counts), written
on each request unless ``pgstac.readonly`` is on. Under many readers those writes are what requests queue on, so
the read pool runs read-only. ``numberMatched`` stays, kept cheap: pgSTAC counts exactly while the planner
expects few items and returns the planner's estimate beyond ``ESTIMATED_BEYOND`` (``pgstac.context = auto``).
"""

from __future__ import annotations

import os

from psycopg.conninfo import conninfo_to_dict
from stac_fastapi.pgstac.config import PostgresSettings, ServerSettings

from hygor.db import Database

READ_ROLE = "pgstac_read"
WRITE_ROLE = "pgstac_ingest"
# Matched items (planner's estimate, and its cost) beyond which numberMatched is the estimate, not a count.
ESTIMATED_BEYOND = 10_000
WRITE_POOL = 2  # writes (token-protected transactions) are rare: a small pool beside the reads

READ_ONLY_SEARCHES = {
    "pgstac.readonly": "true",
    "pgstac.context": "auto",
    "pgstac.context_estimated_count": str(ESTIMATED_BEYOND),
    "pgstac.context_estimated_cost": str(ESTIMATED_BEYOND),
    # A page or a count reads a few hundred index entries: starting parallel workers costs far more (a grid:code
    # page took 60 ms in a Gather for 1 ms of scans) and takes cores from the other requests.
    "max_parallel_workers_per_gather": "0",
}


def postgres_settings(database: Database, role: str, max_size: int) -> PostgresSettings:
    """Pool settings for ``database`` whose sessions act as ``role`` (the login must be a member of it); the
    application name carries the worker's pid, so that ``pg_stat_activity`` tells the workers apart."""
    params = conninfo_to_dict(database.url)
    server = {"role": role, "application_name": f"hesp-api-{role}-{os.getpid()}"}
    return PostgresSettings(
        pguser=str(params.get("user", "")),
        pgpassword=str(params.get("password", "")),
        pghost=str(params.get("host", "localhost")),
        pgport=int(params.get("port") or 5432),
        pgdatabase=str(params.get("dbname", "")),
        db_min_conn_size=1,
        db_max_conn_size=max_size,
        server_settings=ServerSettings(**server, **(READ_ONLY_SEARCHES if role == READ_ROLE else {})),
    )


def read_pool(database: Database, size: int) -> PostgresSettings:
    return postgres_settings(database, READ_ROLE, size)


def write_pool(database: Database) -> PostgresSettings:
    return postgres_settings(database, WRITE_ROLE, WRITE_POOL)


def connections_per_worker(pool: int, writes: bool) -> int:
    """The most connections one worker process holds."""
    return pool + (WRITE_POOL if writes else 0)
