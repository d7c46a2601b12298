"""What production keeps of every job attempt (``hesp.job_attempts``, written by the queue's own statements):
a job's history for ``hesp status --job ID``, the latency from acquisition to registered product per collection
and the freshness of the sources ``hesp watch`` harvests, for ``hesp status``, ``/metrics`` and the dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from psycopg.rows import class_row
from pydantic import BaseModel

from hygor.db import translate_errors
from hymotep.chains import ChainDefinition, source_collection
from hymotep.errors import HymotepError
from hymotep.sql import history_query
from hymotep.work_units import Connection

T = TypeVar("T", bound=BaseModel)


class UnknownJob(HymotepError):
    """No job has that id."""


class Attempt(BaseModel):
    attempt: int
    worker: str | None
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    outcome: str  # running, succeeded, failed, lease-expired, released
    error: str | None
    log_path: str | None


class JobHistory(BaseModel):
    """A job as it is now, with every attempt it had, oldest first."""

    id: int
    collection: str
    chain_version: str
    tile: str
    slot: int
    mode: str | None
    priority: int
    state: str
    attempts: int
    max_attempts: int
    last_error: str | None
    log_path: str | None
    worker: str | None
    lease_until: datetime | None
    run_after: datetime
    created_at: datetime
    updated_at: datetime
    history: list[Attempt] = []


class CollectionLatency(BaseModel):
    """Acquisition to registered product, over the products of ``collection`` registered in the last 24 hours."""

    collection: str
    products: int
    median_s: float
    p95_s: float


class SourceFreshness(BaseModel):
    """A watched source: the newest acquisition of its collection on its tiles, and its last harvest."""

    source: str
    collection: str
    newest_acquired: datetime | None
    age_s: float | None
    last_harvest: datetime
    last_harvest_end: datetime | None
    last_items: int | None
    last_error: str | None


class Latency(BaseModel):
    collections: list[CollectionLatency]
    sources: list[SourceFreshness]


def job_history(conn: Connection, job_id: int) -> JobHistory:
    """Job ``job_id`` and its attempts; ``UnknownJob`` when there is none."""
    with translate_errors():
        job = conn.cursor(row_factory=class_row(JobHistory)).execute(history_query("job"), {"id": job_id}).fetchone()
        if job is None:
            raise UnknownJob(f"no job {job_id}")
        job.history = _rows(conn, Attempt, "attempts", {"id": job_id})
    return job


def production_latency(conn: Connection, chains: dict[str, ChainDefinition]) -> Latency:
    """The latency of the per-acquisition chains of ``chains``, and the freshness of the watched sources."""
    per_acquisition = sorted(c for c, chain in chains.items() if chain.period is None)
    params = {"collections": per_acquisition, "sources": [source_collection(chains, c) for c in per_acquisition]}
    with translate_errors():
        return Latency(
            collections=_rows(conn, CollectionLatency, "latency", params),
            sources=_rows(conn, SourceFreshness, "sources", {}),
        )


def _rows(conn: Connection, model: type[T], name: str, params: dict[str, Any]) -> list[T]:
    return conn.cursor(row_factory=class_row(model)).execute(history_query(name), params).fetchall()
