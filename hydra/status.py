"""The state of production, read from the job queue in one snapshot (``hymotep.queue_status``): jobs per
collection and state, throughput, running jobs and their leases, failures grouped by error kind."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel

from hymotep.campaigns import CampaignProgress, progress
from hymotep.job_history import Latency
from hymotep.queue_status import CollectionCounts, FailedJobs, RunningJob, queue_snapshot
from hymotep.work_units import Connect

KIND_LENGTH = 120
_JOB_PREFIX = re.compile(r"^job \d+: ")
_PATH = re.compile(r"(?<![\w.])/[^\s:'\",;]+")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+Z?)?")
_TILE = re.compile(r"\b\d{2}[A-Z]{3}\b")
_NUMBER = re.compile(r"\b\d{3,}\b")


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
    latency: Latency | None = None  # acquisition to product, watched sources (set by `hesp status`)
    campaigns: list[CampaignProgress] = []  # every campaign's jobs by state


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
    with connect() as conn:
        snapshot = queue_snapshot(conn, collections)
        campaigns = progress(conn)
    return Status(
        at=snapshot.at,
        collections=snapshot.collections,
        running=snapshot.running,
        stale_leases=sum(job.stale for job in snapshot.running),
        failures=group_failures(snapshot.failed),
        campaigns=campaigns,
    )


def group_failures(failed: list[FailedJobs]) -> list[FailureKind]:
    """Failed jobs folded by collection and error kind; most jobs first."""
    groups: dict[tuple[str, str], FailureKind] = {}
    for row in failed:
        key = (row.collection, error_kind(row.error))
        group = groups.get(key)
        if group is None:
            group = groups[key] = FailureKind(
                collection=key[0], kind=key[1], failed=0, retrying=0, example_job=row.job,
                example_error=row.error, example_log=row.log_path, last_seen=row.last_seen,
            )  # fmt: skip
        elif row.last_seen > group.last_seen:
            group.example_job, group.example_error = row.job, row.error
            group.example_log, group.last_seen = row.log_path, row.last_seen
        if row.state == "failed":
            group.failed += row.jobs
        else:
            group.retrying += row.jobs
    return sorted(groups.values(), key=lambda g: (-(g.failed + g.retrying), g.collection, g.kind))
