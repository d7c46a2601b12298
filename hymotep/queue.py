"""The job queue in PostgreSQL (``hesp.jobs``): gaps become jobs, workers claim them with renewed leases.

The database is the single source of truth for job state, whichever executor runs the work:

- ``plan_jobs``: runnable units, and outdated ones that a reprocessing campaign replays (or made from a
  superseded input), become queued jobs, keyed by collection, chain version, tile and unit, so planning twice
  changes nothing; a campaign's jobs carry its name and priority;
- ``JobQueue.claim``: the next job of a run's scope (``JobScope``: the same filter as its planning; never a job
  of a paused campaign) by priority, ``FOR UPDATE SKIP LOCKED`` so that concurrent workers never take the same
  one, with a lease the worker renews while it runs;
- jobs whose lease expired (a worker killed mid-job) go back to the queue before each claim;
- ``succeed`` runs in the transaction that registers the job's products, and refuses when the lease was lost;
  ``fail`` puts the job back after an exponential back-off, or fails it for good after its attempts;
  ``release`` gives a running job back at once (its worker was asked to stop), the attempt not counted;
- every attempt is kept in ``hesp.job_attempts`` by the same statements (``hymotep.job_history``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from psycopg import sql
from psycopg.rows import class_row

from hygor.db import translate_errors
from hymotep.chains import ChainDefinition, downstream
from hymotep.errors import HymotepError
from hymotep.sql import queue_query
from hymotep.work_units import Connect, Connection, GapFilter, State, gap_statements, gap_transaction

PLANNED_STATES: tuple[State, ...] = ("runnable", "outdated")
DEFAULT_MAX_ATTEMPTS = 3
LEASE_S = 300.0
BACKOFF_S = 60.0


class LeaseLost(HymotepError):
    """The job's lease expired and another worker may have it: its outcome must not be recorded."""


@dataclass(frozen=True)
class Job:
    id: int
    collection: str
    chain_version: str
    tile: str
    slot: int
    mode: str | None
    priority: int
    attempts: int
    max_attempts: int


@dataclass(frozen=True)
class JobScope:
    """Which queued jobs a run claims: those of the filter its planning used (``of``); everything left empty
    keeps all. ``asked_as``: (collection, chain) when a request naming the chain asks for the collection;
    ``periods``: (collection, period) of the per-period chains."""

    collections: tuple[str, ...] = ()
    tiles: tuple[str, ...] = ()
    requests: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    asked_as: tuple[tuple[str, str], ...] = ()
    periods: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, chains: dict[str, ChainDefinition], wanted: GapFilter) -> JobScope:
        return cls(
            collections=tuple(wanted.collections),
            tiles=tuple(wanted.tiles),
            requests=tuple(wanted.requests),
            since=wanted.since,
            until=wanted.until,
            asked_as=tuple((c, chain) for c in sorted(chains) for chain in downstream(chains, c)),
            periods=tuple((c, chain.period) for c, chain in sorted(chains.items()) if chain.period is not None),
        )

    def params(self) -> dict[str, Any]:
        return {
            "collections": list(self.collections) or None,
            "tiles": list(self.tiles) or None,
            "requests": list(self.requests) or None,
            "since": self.since,
            "until": self.until,
            "dated": bool(self.requests) or self.since is not None or self.until is not None,
            "asked_collections": [c for c, _ in self.asked_as],
            "asked_as": [chain for _, chain in self.asked_as],
            "period_collections": [c for c, _ in self.periods],
            "periods": [period for _, period in self.periods],
        }


ANY_JOB = JobScope()


def _scoped(name: str) -> sql.Composed:
    return sql.SQL(queue_query(name)).format(
        in_scope=sql.SQL(queue_query("in_scope")), unpaused=sql.SQL(queue_query("unpaused"))
    )


def plan_jobs(connect: Connect, chains: dict[str, ChainDefinition], wanted: GapFilter) -> int:
    """Queue a job for every runnable unit of ``wanted`` and every outdated one a campaign replays (or made from a
    superseded input, see ``gaps.sql``); the number of jobs queued."""
    queued = 0
    runnable = replace(wanted, states=PLANNED_STATES)
    for statement, params in gap_statements(connect, chains, runnable, ordered=False):
        enqueue = sql.SQL(queue_query("enqueue")).format(gaps=statement)
        with gap_transaction(connect) as conn:  # the gap query planned as it is for `hesp gaps`
            run = chains[params["collection"]].run
            attempts = run.max_attempts if run else DEFAULT_MAX_ATTEMPTS
            rows = conn.execute(enqueue, {**params, "max_attempts": attempts, "planning": True}).fetchall()
            queued += len(rows)
    return queued


def retry_failed(connect: Connect, collections: list[str] | None, tiles: list[str] | None) -> int:
    """Give failed jobs (of ``collections`` on ``tiles``, all when None) their attempts again; how many."""
    with connect() as conn, translate_errors():
        rows = conn.execute(queue_query("retry_failed"), {"collections": collections, "tiles": tiles}).fetchall()
    return len(rows)


def next_retry(connect: Connect, scope: JobScope) -> float | None:
    """Seconds until the first job of ``scope`` waiting for a retry is ready; None when no job waits."""
    with connect() as conn, translate_errors():
        row = conn.execute(_scoped("next_retry"), scope.params()).fetchone()
    return None if row is None or row["seconds"] is None else float(row["seconds"])


class JobQueue:
    """One worker's view of the queue; ``worker`` names it in the jobs it holds."""

    def __init__(self, connect: Connect, worker: str, *, lease_s: float = LEASE_S, backoff_s: float = BACKOFF_S):
        self._connect = connect
        self.worker = worker
        self.lease_s = lease_s
        self.backoff_s = backoff_s

    def claim(self, scope: JobScope = ANY_JOB) -> Job | None:
        """The next job of ``scope`` to run, now leased to this worker; None when nothing is ready."""
        jobs = self.claim_many(scope, 1)
        return jobs[0] if jobs else None

    def claim_many(self, scope: JobScope, limit: int) -> list[Job]:
        """The next ``limit`` jobs of ``scope`` to run (fewer when fewer are ready), leased to this worker in one
        statement."""
        with self._connect() as conn, translate_errors(), conn.transaction():
            conn.execute(queue_query("requeue_expired"))
            params = {**scope.params(), "worker": self.worker, "lease_s": self.lease_s, "limit": limit}
            return conn.cursor(row_factory=class_row(Job)).execute(_scoped("claim"), params).fetchall()

    def renew(self, job: Job) -> bool:
        """Extend the lease; False when it was lost (expired and taken back)."""
        with self._connect() as conn, translate_errors():
            params = {"id": job.id, "worker": self.worker, "lease_s": self.lease_s}
            return conn.execute(queue_query("renew"), params).fetchone() is not None

    def succeed(self, conn: Connection, job: Job, log_path: str | None = None) -> None:
        """Record success in ``conn``'s transaction, the one that registers the products; ``LeaseLost`` if the
        lease was lost, so that the caller's transaction rolls back and nothing is registered twice."""
        self.succeed_many(conn, [(job, log_path)])

    def succeed_many(self, conn: Connection, jobs: list[tuple[Job, str | None]]) -> None:
        """``succeed`` for several jobs (each with its log) in one statement; ``LeaseLost`` if any lease was
        lost."""
        params = {"ids": [job.id for job, _ in jobs], "log_paths": [log for _, log in jobs], "worker": self.worker}
        with translate_errors():
            recorded = {row["id"] for row in conn.execute(queue_query("succeed"), params).fetchall()}
        lost = [job.id for job, _ in jobs if job.id not in recorded]
        if lost:
            raise LeaseLost(f"job {lost[0]}: lease lost, its outcome is not recorded")

    def release(self, job: Job, reason: str, log_path: str | None = None) -> None:
        """Give the job back to the queue at once (its chain was stopped, not failed); ``LeaseLost`` if it was not
        this worker's any more."""
        params = {"id": job.id, "worker": self.worker, "reason": reason, "log_path": log_path}
        with self._connect() as conn, translate_errors():
            if conn.execute(queue_query("release"), params).fetchone() is None:
                raise LeaseLost(f"job {job.id}: lease lost, its release is not recorded")

    def fail(self, job: Job, error: str, log_path: str | None = None) -> str:
        """Record a failure: the job's new state, ``queued`` (retried after a back-off) or ``failed``."""
        params = {
            "id": job.id,
            "worker": self.worker,
            "error": error,
            "log_path": log_path,
            "backoff_s": self.backoff_s,
        }
        with self._connect() as conn, translate_errors():
            row = conn.execute(queue_query("fail"), params).fetchone()
        if row is None:
            raise LeaseLost(f"job {job.id}: lease lost, its failure is not recorded")
        return str(row["state"])
