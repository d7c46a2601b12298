"""The job queue as supervision reads it (``hesp status``, ``/metrics``, the dashboard, ``hesp doctor``,
capacity analyses): typed snapshots of ``hesp.jobs``, so that nothing above hymotep reads its tables.

Only what the queue stores is reported: a running job shows its worker's last heartbeat (its claim or last lease
renewal) and the time left on its lease; a job keeps its current attempt only (``started_at`` when it was
claimed, ``updated_at`` when it ended); every attempt is in ``hesp.job_attempts`` (``hymotep.job_history``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from psycopg.rows import class_row
from pydantic import BaseModel

from hygor.db import relation_exists, translate_errors
from hymotep.errors import HymotepError
from hymotep.sql import queue_status_query
from hymotep.work_units import Connection

T = TypeVar("T", bound=BaseModel)


class NoJobQueue(HymotepError):
    """no job queue (hesp.jobs) in this database: run `hesp db init`"""


class CollectionCounts(BaseModel):
    """Jobs of one collection by state; ``retrying`` are the queued ones that failed before (a subset of
    ``queued``), the throughput is the jobs that succeeded in the last hour and the last 24 hours."""

    collection: str
    queued: int
    retrying: int
    running: int
    succeeded: int
    failed: int
    succeeded_last_hour: int
    succeeded_last_day: int


class RunningJob(BaseModel):
    """A running job; ``heartbeat`` is its claim or last lease renewal, ``stale`` when its lease has expired
    (its worker stopped renewing it: the next claim of any worker puts it back in the queue)."""

    id: int
    collection: str
    tile: str
    slot: int
    worker: str | None
    attempt: int
    max_attempts: int
    heartbeat: datetime
    heartbeat_age_s: float
    lease_until: datetime | None
    lease_left_s: float | None
    stale: bool


class FailedJobs(BaseModel):
    """The jobs of a collection in one state (``failed``, or ``queued`` for a retry) with the same last error; the
    newest of them as an example."""

    collection: str
    state: str
    error: str | None
    jobs: int
    job: int
    log_path: str | None
    last_seen: datetime


class QueueSnapshot(BaseModel):
    """The queue at one instant: jobs per collection and state, running jobs, failed ones by error."""

    at: datetime
    collections: list[CollectionCounts]
    running: list[RunningJob]
    failed: list[FailedJobs]


class RecentFailure(BaseModel):
    """A job whose last attempt failed (for good, or queued again for a retry)."""

    job: int
    collection: str
    tile: str
    state: str
    attempts: int
    error: str | None
    log_path: str | None
    at: datetime


class StaleLeases(BaseModel):
    """Running jobs past their lease: how many, the oldest expiry, the first ids."""

    stale: int
    oldest: datetime | None
    ids: list[int]


class DurationBucket(BaseModel):
    """Runs of a collection whose duration falls in bucket ``bucket`` of the bounds asked (see ``run_durations``)."""

    collection: str
    bucket: int
    runs: int
    seconds: float


class JobRun(BaseModel):
    """A job's current attempt that ran: claimed at ``started_at``; no end or duration while it runs. ``state`` is
    the job's state now: ``queued`` for one waiting to be retried after a failed attempt."""

    job: int
    collection: str
    tile: str
    slot: int
    state: str
    attempts: int
    worker: str | None
    started_at: datetime
    ended_at: datetime | None
    duration_s: float | None


def _collections(collections: Sequence[str] | None) -> dict[str, list[str] | None]:
    return {"collections": list(collections) if collections else None}


def queue_snapshot(conn: Connection, collections: Sequence[str] | None = None) -> QueueSnapshot:
    """The jobs of ``collections`` (all when None or empty) read in one snapshot; ``conn`` must not be in a
    transaction yet (this one is read-only, repeatable read)."""
    params = _collections(collections)
    with translate_errors():
        conn.execute(queue_status_query("snapshot"))
        at = conn.execute(queue_status_query("now")).fetchone()
        assert at is not None
        return QueueSnapshot(
            at=at["now"],
            collections=_rows(conn, CollectionCounts, "counts", params),
            running=_rows(conn, RunningJob, "running", params),
            failed=_rows(conn, FailedJobs, "failed", params),
        )


def recent_failures(conn: Connection, limit: int) -> list[RecentFailure]:
    """The ``limit`` newest failed attempts."""
    with translate_errors():
        return _rows(conn, RecentFailure, "recent_failures", {"limit": limit})


def stale_leases(conn: Connection, listed: int) -> StaleLeases:
    """The running jobs past their lease, with the first ``listed`` ids; ``NoJobQueue`` in a database without it."""
    if not relation_exists(conn, "hesp.jobs"):
        raise NoJobQueue()
    with translate_errors():
        (found,) = _rows(conn, StaleLeases, "stale_leases", {"listed": listed})
    return found


def run_durations(conn: Connection, bounds: Sequence[float]) -> list[DurationBucket]:
    """How long the last run of each succeeded job took, per collection, counted in the buckets of ``bounds``:
    bucket i holds the runs in [bounds[i-1], bounds[i]) (0: below the first, len(bounds): at or above the last)."""
    with translate_errors():
        return _rows(conn, DurationBucket, "durations", {"bounds": list(bounds)})


def job_runs(conn: Connection, collections: Sequence[str] | None = None) -> list[JobRun]:
    """Every job of ``collections`` (all when None or empty) whose current attempt ran, oldest first."""
    with translate_errors():
        return _rows(conn, JobRun, "runs", _collections(collections))


def _rows(conn: Connection, model: type[T], name: str, params: dict[str, Any]) -> list[T]:
    return conn.cursor(row_factory=class_row(model)).execute(queue_status_query(name), params).fetchall()
