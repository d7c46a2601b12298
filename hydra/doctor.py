"""``hesp doctor``: is this installation fit to produce? One verdict per check, never an exception.

The checks read and never change anything, except a temporary file created and removed in the storage and work
folders (created when missing) to prove they are writable. Checks that need the database say so and fail
("skipped: no database") when it cannot be reached; the workers check runs only with a Dask scheduler address.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import psycopg
from pydantic import BaseModel

from hydra.cluster_doctor import BatchSite
from hygor.collections import SyncAction, load_collections, load_queryables, out_of_sync
from hygor.db import Database, fetch_all, fetch_one, redact, relation_exists
from hygor.errors import HespError
from hygor.migrations import PGSTAC_VERSION, pgstac_version, schema_state
from hymotep.adapters import configuration_problems
from hymotep.chains import load_chains
from hymotep.migrations import STREAMS
from hymotep.queue_status import stale_leases
from hymotep.run_request import JobQueueSpec
from hymotep.settings import ProductionSettings, command_search_path
from hymotep.storage import ObjectStorage, StorageError

DEFAULT_MIN_FREE_GB = 10.0
SCHEDULER_TIMEOUT = "5s"
GB = 1024**3
LISTED = 5  # names or ids shown in one line before "and N more"
NO_DATABASE = "skipped: no database"

# Jobs whose worker stopped renewing the lease; the next claim puts them back in the queue (hymotep queue.sql).

Connection = psycopg.Connection[dict[str, Any]]


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


class CheckResult(BaseModel):
    name: str
    outcome: Outcome
    detail: str


class DoctorReport(BaseModel):
    checks: list[CheckResult]

    @property
    def ok(self) -> bool:
        return all(check.outcome is not Outcome.FAIL for check in self.checks)


class CheckFailed(Exception):
    """A check's fault, as its one line."""


@dataclass
class _Context:
    settings: ProductionSettings
    min_free_gb: float
    scheduler: str | None
    batch: BatchSite | None = None
    conn: Connection | None = None
    open_connections: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    storage_ok: bool = True


def diagnose(
    settings: ProductionSettings | None = None,
    *,
    min_free_gb: float = DEFAULT_MIN_FREE_GB,
    scheduler: str | None = None,
    jobqueue: JobQueueSpec | None = None,
) -> DoctorReport:
    """Run every check in turn; the embedded database is not started (a stopped one is a failure). The batch checks
    run only with ``jobqueue``, the batch workers a run would submit."""
    settings = settings or ProductionSettings()
    batch = BatchSite(jobqueue, settings) if jobqueue is not None else None
    ctx = _Context(settings, min_free_gb, scheduler, batch)
    with ctx.open_connections:
        checks = CHECKS + (BATCH_CHECKS if batch is not None else ())
        return DoctorReport(checks=[_run(name, check, ctx) for name, check in checks])


def _run(name: str, check: Callable[[_Context], tuple[Outcome, str] | str], ctx: _Context) -> CheckResult:
    try:
        verdict = check(ctx)
    except (CheckFailed, HespError) as exc:
        return CheckResult(name=name, outcome=Outcome.FAIL, detail=str(exc))
    except psycopg.Error as exc:
        return CheckResult(name=name, outcome=Outcome.FAIL, detail=f"database error: {_first_line(exc)}")
    except Exception as exc:  # a doctor reports whatever breaks as that check's line, never a traceback
        return CheckResult(name=name, outcome=Outcome.FAIL, detail=f"unexpected {type(exc).__name__}: {exc}")
    outcome, detail = verdict if isinstance(verdict, tuple) else (Outcome.PASS, verdict)
    return CheckResult(name=name, outcome=outcome, detail=detail)


# -- the database ---------------------------------------------------------------------------------------------


def _database(ctx: _Context) -> str:
    database = Database.from_settings(ctx.settings, start=False)
    if not database.url:
        raise CheckFailed(f"the embedded database of {ctx.settings.home} is not running: start it with `hesp db up`")
    try:
        ctx.conn = psycopg.connect(database.url, autocommit=True, row_factory=psycopg.rows.dict_row, connect_timeout=5)
    except psycopg.Error as exc:
        raise CheckFailed(f"cannot connect to {redact(database.url)}: {_first_line(exc)}") from None
    version = fetch_one(ctx.conn, "server_versions")["postgres"]
    kind = "embedded, " if database.embedded is not None else ""
    return f"reachable at {redact(database.url)} ({kind}PostgreSQL {version})"


def _connection(ctx: _Context) -> Connection:
    if ctx.conn is None:
        raise CheckFailed(NO_DATABASE)
    return ctx.conn


def _versions(ctx: _Context) -> str:
    conn = _connection(ctx)
    versions = fetch_one(conn, "server_versions")
    pgstac = pgstac_version(conn)
    line = (
        f"PostgreSQL {versions['postgres']}, PostGIS {versions['postgis'] or 'not installed'}, "
        f"pgSTAC {pgstac or 'not installed'} (pinned {PGSTAC_VERSION})"
    )
    if versions["postgis"] is None or pgstac != PGSTAC_VERSION:
        raise CheckFailed(f"{line}: run `hesp db init`")
    return line


def _migrations(ctx: _Context) -> str:
    schema = schema_state(_connection(ctx), STREAMS)
    known, pending = schema.known, schema.pending
    if pending:
        raise CheckFailed(f"{len(pending)} of {len(known)} pending: {_listed(pending)}: run `hesp db init`")
    if schema.unknown:
        raise CheckFailed(f"applied but unknown to this version of hesp: {_listed(schema.unknown)} (upgrade hesp)")
    return f"all {len(known)} applied"


def _collections(ctx: _Context) -> str:
    conn = _connection(ctx)
    root = ctx.settings.collections_dir
    definitions = load_collections(root)
    queryables = load_queryables(root)
    if not relation_exists(conn, "pgstac.collections"):
        raise CheckFailed("pgSTAC is not installed in this database: run `hesp db init`")
    stale = [
        f"{root / 'queryables.json'} (differs)" if name == "queryables" else
        f"{name} ({'missing' if action is SyncAction.CREATED else 'differs'})"
        for name, action in out_of_sync(conn, definitions, queryables)
    ]  # fmt: skip
    if stale:
        raise CheckFailed(f"out of sync with {root}: {_listed(stale)}: run `hesp collections sync`")
    extra = sorted({row["id"] for row in fetch_all(conn, "collection_ids")} - {d.id for d in definitions})
    also = f" (in the database only: {_listed(extra)})" if extra else ""
    return f"{len(definitions)} in sync with {root}{also}"


def _stale_leases(ctx: _Context) -> str:
    found = stale_leases(_connection(ctx), LISTED)
    if not found.stale:
        return "no running job past its lease"
    ids = ", ".join(str(i) for i in found.ids) + (" ..." if found.stale > LISTED else "")
    oldest = f"{found.oldest:%Y-%m-%d %H:%M:%S %Z}"
    raise CheckFailed(
        f"{found.stale} running job(s) past their lease (ids {ids}; the oldest expired {oldest}):"
        " their worker stopped; the next `hesp run` puts them back in the queue"
    )


# -- this machine ---------------------------------------------------------------------------------------------


def _chain_commands(ctx: _Context) -> tuple[Outcome, str] | str:
    chains = load_chains(ctx.settings.collections_dir)
    search = command_search_path(ctx.settings.chain_search)
    found: list[str] = []
    missing: list[str] = []
    for collection, chain in chains.items():
        if chain.run is None:
            continue
        if chain.run.container is not None:
            engine = chain.run.container.engine
            if shutil.which(engine, path=search) is None:
                missing.append(f"{collection}: container engine {engine} not found on HESP_CHAIN_PATH or PATH")
            else:
                found.append(engine)
        elif shutil.which(chain.run.command[0], path=search) is None:
            missing.append(f"{collection}: {chain.run.command[0]} not found on HESP_CHAIN_PATH or PATH")
        else:
            found.append(chain.run.command[0])
        missing += [f"{collection}: {problem}" for problem in configuration_problems(chain, ctx.settings.home)]
    if missing:
        raise CheckFailed("; ".join(missing))
    if not found:
        return Outcome.SKIP, "no chain with a run section"
    return f"{len(found)} found ({', '.join(sorted(set(found)))})"


def _storage(ctx: _Context) -> str:
    ctx.storage_ok = False
    for root in _folders(ctx.settings):
        try:
            root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=root, prefix=".hesp-doctor-"):
                pass
        except OSError as exc:
            raise CheckFailed(f"{root} is not writable: {exc.strerror or exc}") from None
    ctx.storage_ok = True
    return " and ".join(f"{root}" for root in _folders(ctx.settings)) + " writable"


def _free_space(ctx: _Context) -> str:
    if not ctx.storage_ok:
        raise CheckFailed("skipped: storage not writable")
    lines, low = [], []
    by_device = {root.stat().st_dev: root for root in reversed(_folders(ctx.settings))}  # one line a filesystem
    for root in reversed(by_device.values()):
        free = shutil.disk_usage(root).free / GB
        lines.append(f"{root}: {free:.1f} GB free")
        if free < ctx.min_free_gb:
            low.append(f"{root}: {free:.1f} GB free")
    if low:
        raise CheckFailed(f"{'; '.join(low)}, below the minimum of {ctx.min_free_gb:g} GB")
    return "; ".join(lines) + f" (minimum {ctx.min_free_gb:g} GB)"


def _folders(settings: ProductionSettings) -> list[Path]:
    """The storage root (with object storage: the job logs' folder), and the work root unless it is the same."""
    return list(dict.fromkeys([settings.log_root if settings.object_storage else settings.storage_root,
                               settings.work_root]))  # fmt: skip


def _object_storage(ctx: _Context) -> tuple[Outcome, str] | str:
    if not ctx.settings.object_storage:
        return Outcome.SKIP, "the storage is a folder"
    try:
        bucket = ObjectStorage(ctx.settings.storage_location, "")
        bucket.probe()
    except StorageError as exc:
        raise CheckFailed(f"cannot write to the object storage: {exc}") from None
    return f"{bucket.url} reachable and writable"


def _public_url(ctx: _Context) -> str:
    try:
        spec = ctx.settings.storage_spec
    except StorageError as exc:
        raise CheckFailed(str(exc)) from None
    return f"products published at {spec.public_url}/<key>"


def _workers(ctx: _Context) -> tuple[Outcome, str] | str:
    if not ctx.scheduler:
        return Outcome.SKIP, "skipped (no --scheduler)"
    from distributed import Client as _Client  # imported only when asked: it takes a while

    client_type: Any = _Client  # untyped
    try:
        with client_type(ctx.scheduler, timeout=SCHEDULER_TIMEOUT) as client:
            workers = len(client.nthreads())
    except (OSError, TimeoutError) as exc:
        raise CheckFailed(f"cannot reach the scheduler at {ctx.scheduler}: {_first_line(exc)}") from None
    if not workers:
        raise CheckFailed(f"the scheduler at {ctx.scheduler} has no worker")
    return f"{workers} worker(s) at {ctx.scheduler}"


def _batch(check: Callable[[BatchSite], str]) -> Callable[[_Context], str]:
    """A check of the batch workers (``hydra.cluster_doctor``): only asked with --jobqueue."""

    def run(ctx: _Context) -> str:
        assert ctx.batch is not None
        return check(ctx.batch)

    return run


def _listed(names: Sequence[str]) -> str:
    more = f" and {len(names) - LISTED} more" if len(names) > LISTED else ""
    return ", ".join(names[:LISTED]) + more


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


CHECKS: tuple[tuple[str, Callable[[_Context], tuple[Outcome, str] | str]], ...] = (
    ("database", _database),
    ("versions", _versions),
    ("migrations", _migrations),
    ("collections", _collections),
    ("chain commands", _chain_commands),
    ("storage", _storage),
    ("free space", _free_space),
    ("object storage", _object_storage),
    ("public URL", _public_url),
    ("stale leases", _stale_leases),
    ("workers", _workers),
)
BATCH_CHECKS: tuple[tuple[str, Callable[[_Context], tuple[Outcome, str] | str]], ...] = (
    ("batch commands", _batch(BatchSite.commands)),
    ("batch queue", _batch(BatchSite.queue)),
    ("workers' database", _batch(BatchSite.database)),
    ("shared storage", _batch(BatchSite.storage)),
)
