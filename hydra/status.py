"""The state of production, read from the job queue (``hesp.jobs``) in one snapshot: jobs per collection and
state, throughput, running jobs and their leases, failures grouped by error kind.

Only what the table stores is reported: the time a job was claimed is not kept (a lease renewal updates the same
``updated_at``), so a running job shows its worker's last heartbeat and the time left on its lease, not its age.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from hydra.sql import status_query
from hygor.db import translate_errors
from hymotep.work_units import Connect

KIND_LENGTH = 120
_JOB_PREFIX = re.compile(r"^job \d+: ")
_PATH = re.compile(r"(?<![\w.])/[^\s:'\",;]+")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+Z?)?")
_TILE = re.compile(r"\b\d{2}[A-Z]{3}\b")
_NUMBER = re.compile(r"\b\d{3,}\b")


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


class FailureKind(BaseModel):
    """Jobs of a collection whose last error has the same kind (see ``error_kind``): ``failed`` for good, or
    queued again and ``retrying``; the newest of them as an example."""

    collection: str
    kind: str
    failed: int
    retrying: int
    example_job: int
    example_error: str | None
    example_log: str | None
    last_seen: datetime


class Status(BaseModel):
    at: datetime
    collections: list[CollectionCounts]
    running: list[RunningJob]
    stale_leases: int
    failures: list[FailureKind]


def error_kind(error: str | None) -> str:
    """A job's error folded into a kind, so that errors differing only in their details group together:

    1. its first line, without a leading ``job <id>: ``;
    2. cut at the first ``": "`` (hesp's messages say what failed, then the detail: ``maja exited with code 66:
       <last line of its log>``, ``lease expired: worker … stopped renewing it``, ``cannot prepare the job: …``);
    3. absolute paths become ``<path>``, quoted text ``'…'``, dates ``<date>``, tile ids ``<tile>`` and numbers of
       three digits or more ``<n>`` (exit codes stay: they tell failures apart);
    4. at most 120 characters.
    """
    text = (error or "").strip()
    if not text:
        return "no error recorded"
    line = _JOB_PREFIX.sub("", text.splitlines()[0].strip())
    head = line.split(": ", 1)[0].strip() or line
    head = _PATH.sub("<path>", head)
    head = _QUOTED.sub("'…'", head)
    head = _DATE.sub("<date>", head)
    head = _TILE.sub("<tile>", head)
    head = _NUMBER.sub("<n>", head)
    return head[:KIND_LENGTH]


def production_status(connect: Connect, collections: Sequence[str] | None = None) -> Status:
    """The status of the jobs of ``collections`` (all when None or empty), read in one snapshot."""
    params = {"collections": list(collections) if collections else None}
    with connect() as conn, translate_errors():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        at = conn.execute(status_query("now")).fetchone()
        counts = conn.execute(status_query("counts"), params).fetchall()
        running = conn.execute(status_query("running"), params).fetchall()
        errors = conn.execute(status_query("errors"), params).fetchall()
    assert at is not None
    jobs = [_running(row) for row in running]
    return Status(
        at=at["now"],
        collections=[CollectionCounts(**row) for row in counts],
        running=jobs,
        stale_leases=sum(job.stale for job in jobs),
        failures=group_failures(errors),
    )


def group_failures(rows: list[dict[str, Any]]) -> list[FailureKind]:
    """Rows of (collection, state, error, jobs, job, log_path, last_seen) folded by collection and error kind;
    most jobs first."""
    groups: dict[tuple[str, str], FailureKind] = {}
    for row in rows:
        key = (row["collection"], error_kind(row["error"]))
        group = groups.get(key)
        if group is None:
            group = groups[key] = FailureKind(
                collection=key[0], kind=key[1], failed=0, retrying=0, example_job=row["job"],
                example_error=row["error"], example_log=row["log_path"], last_seen=row["last_seen"],
            )  # fmt: skip
        elif row["last_seen"] > group.last_seen:
            group.example_job, group.example_error = row["job"], row["error"]
            group.example_log, group.last_seen = row["log_path"], row["last_seen"]
        if row["state"] == "failed":
            group.failed += row["jobs"]
        else:
            group.retrying += row["jobs"]
    return sorted(groups.values(), key=lambda g: (-(g.failed + g.retrying), g.collection, g.kind))


def _running(row: dict[str, Any]) -> RunningJob:
    return RunningJob(
        id=row["id"], collection=row["collection"], tile=row["tile"], slot=row["slot"], worker=row["worker"],
        attempt=row["attempts"], max_attempts=row["max_attempts"], heartbeat=row["heartbeat"],
        heartbeat_age_s=row["heartbeat_age_s"], lease_until=row["lease_until"], lease_left_s=row["lease_left_s"],
        stale=row["stale"],
    )  # fmt: skip
