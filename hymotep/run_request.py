"""What a run is asked to do, built once (by ``hesp run``): the filter that bounds both its planning and its
claims, where its jobs run, and how."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal, get_args

from hymotep.queue import BACKOFF_S, LEASE_S
from hymotep.work_units import GapFilter

ExecutorKind = Literal["local", "dask"]
EXECUTOR_KINDS: tuple[ExecutorKind, ...] = get_args(ExecutorKind)
BatchSystem = Literal["slurm", "pbs"]
BATCH_SYSTEMS: tuple[BatchSystem, ...] = get_args(BatchSystem)


@dataclass(frozen=True)
class JobQueueSpec:
    """Workers submitted to a batch system by dask-jobqueue: at most ``jobs`` batch jobs at once, each one worker
    of ``cores`` threads, started after the ``prologue`` lines with ``environment`` exported (the site file's)."""

    system: BatchSystem
    queue: str | None = None
    cores: int = 4
    memory: str = "16GB"
    walltime: str = "04:00:00"
    jobs: int = 1
    account: str | None = None
    prologue: tuple[str, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()
    python: str | None = None
    interface: str | None = None
    database_url: str | None = None  # the workers' (None: ``Catalog.worker_url``)
    job_directives: tuple[str, ...] = ()
    log_directory: str | None = None  # the batch jobs' output (None: the submitting folder)


@dataclass(frozen=True)
class ExecutorSpec:
    """Where jobs run: a local Dask cluster of ``workers`` processes, the scheduler at ``scheduler`` (kind
    ``dask``), or workers submitted to a batch system (``jobqueue``)."""

    kind: ExecutorKind = "local"
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    scheduler: str | None = None
    jobqueue: JobQueueSpec | None = None


@dataclass(frozen=True)
class RunRequest:
    """A run: the units of ``scope`` are planned, and only jobs of ``scope`` are claimed (``JobScope.of``).
    Its collections are those of the chains that have a command when ``scope`` names none."""

    scope: GapFilter = field(default_factory=GapFilter)
    executor: ExecutorSpec = field(default_factory=ExecutorSpec)
    plan: bool = True  # plan the runnable units first, and again as finished jobs make new ones runnable
    max_jobs: int | None = None
    lease_s: float = LEASE_S
    backoff_s: float = BACKOFF_S
    keep_work: bool = False
    # Jobs a worker claims at once, runs side by side (their chains' processes overlap) and registers in one
    # transaction: more than 1 only for light chains (a worker runs this many chains at a time).
    batch: int = 1
