"""Where jobs run: Dask, on a local cluster of processes, an existing scheduler, or an HPC batch system.

The executor only carries work: each Dask task claims jobs from the database and runs them, for about a second
or one long job (``hymotep.execution.run_for``), so the database stays the single source of truth for job state
whatever the executor, and a worker that dies leaves a lease that expires. The driver keeps as many tasks in
flight as the cluster has threads, re-plans when finished jobs make new units runnable (MAJA's next
acquisition, the snow map of a new L2A) and stops when nothing is ready.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, PrivateAttr, computed_field

from hymotep.errors import HymotepError
from hymotep.execution import Batch, JobResult, RunConfig, run_for
from hymotep.run_request import ExecutorSpec, JobQueueSpec
from hymotep.site import job_prologue

REPLAN_S = 2.0  # at most one re-planning every so often while jobs are still running
TASK_BUDGET_S = 1.0  # a task claims jobs for about this long: short jobs share a scheduler round trip
DATABASE_WAIT_S = 60.0  # how long a run waits for a database that went away before it stops
RETRY_WAIT_S = 300.0  # a run waits for the retries due within this time, rather than leave them to the next run
WORKER_ORPHAN_S = 60  # a batch worker whose scheduler (the run) is gone this long exits, ending its batch job
ADAPT_SCALE_DOWN_WAIT = 30  # adaptive checks (one a second) that must agree before a worker is retired
# Dask's statistical profiler samples the stacks of all a worker's threads a hundred times a second: with a batch's
# job threads, milliseconds of processor time a job (benchmarks/run.py). The workers hesp starts run without it.
NO_PROFILER = {"distributed.worker.profile.enabled": False}


class ExecutorError(HymotepError):
    """The Dask cluster cannot be reached or started."""


class RunReport(BaseModel):
    """What a run did: jobs planned, and jobs run by outcome (with those that did not succeed)."""

    planned: int = 0
    succeeded: int = 0
    retried: int = 0
    failed: int = 0
    lost: int = 0
    released: int = 0  # given back to the queue when the run stopped (hymotep.watch)
    seconds: float = 0.0
    errors: list[JobResult] = []
    _succeeded_jobs: set[int] = PrivateAttr(default_factory=set)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ran(self) -> int:
        return self.succeeded + self.retried + self.failed + self.lost + self.released

    def count(self, result: JobResult) -> None:
        setattr(self, result.outcome, getattr(self, result.outcome) + 1)
        if result.outcome == "succeeded":
            self._succeeded_jobs.add(result.job)
        else:
            self.errors.append(result)

    @property
    def finished_well(self) -> bool:
        """No job failed for good, and every job that lost an attempt (its worker cut off) succeeded later in
        the run: a run that recovered from a lost worker did its work."""
        if self.failed:
            return False
        return all(r.job in self._succeeded_jobs for r in self.errors if r.outcome == "lost")


class _Outage:
    """How long the database has been out of reach; a run waits for it up to DATABASE_WAIT_S, then stops."""

    def __init__(self) -> None:
        self.since: float | None = None

    def wait(self, error: str) -> None:
        self.since = self.since or time.monotonic()
        if time.monotonic() - self.since > DATABASE_WAIT_S:
            raise ExecutorError(
                f"{error}; stopped after {DATABASE_WAIT_S:g} s without the database: jobs still running return to "
                "the queue when their leases expire, and the next `hesp run` takes them"
            )
        time.sleep(1.0)

    def clear(self) -> None:
        self.since = None


def jobqueue_cluster(spec: JobQueueSpec) -> Any:
    """The dask-jobqueue cluster of ``spec`` (no job submitted yet: ``.job_script()`` shows what it would)."""
    from dask_jobqueue.pbs import PBSCluster
    from dask_jobqueue.slurm import SLURMCluster

    cluster_class = SLURMCluster if spec.system == "slurm" else PBSCluster
    return cluster_class(
        queue=spec.queue,
        account=spec.account,
        cores=spec.cores,
        processes=1,  # one worker process a batch job, with as many threads as cores: one chain a thread
        memory=spec.memory,
        walltime=spec.walltime,
        python=spec.python or sys.executable,
        interface=spec.interface,
        job_script_prologue=[*job_prologue(spec), "export DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False"],
        job_extra_directives=list(spec.job_directives),
        log_directory=spec.log_directory,
        death_timeout=WORKER_ORPHAN_S,
        scheduler_options={"dashboard_address": None},
    )


def adapt(cluster: Any, spec: JobQueueSpec) -> None:
    """Between none and ``spec.jobs`` batch jobs, as the run's tasks need: the driver keeps two tasks a thread in
    flight while jobs are ready, so a short target duration grows the cluster to its bound while there is work,
    and a worker lost with its batch job (scancel, node failure, walltime) is replaced. Workers go only after a
    long quiet spell: retiring one stops the job it runs, whose lease must then expire."""
    cluster.adapt(minimum_jobs=0, maximum_jobs=spec.jobs, target_duration="1s", interval="1s",
                  wait_count=ADAPT_SCALE_DOWN_WAIT)  # fmt: skip


@contextmanager
def dask_client(spec: ExecutorSpec) -> Iterator[Any]:
    """A Dask client: a local cluster of ``spec.workers`` single-threaded processes, the scheduler at
    ``spec.scheduler``, or workers submitted to a batch system."""
    import dask.config
    from distributed import Client, LocalCluster

    try:
        if spec.jobqueue is not None:
            cluster = jobqueue_cluster(spec.jobqueue)
            adapt(cluster, spec.jobqueue)
            with cluster, Client(cluster) as client:
                yield client
        elif spec.kind == "dask":
            if not spec.scheduler:
                raise ExecutorError("--executor dask needs --scheduler tcp://host:port")
            with Client(spec.scheduler, timeout="10s") as client:
                yield client
        else:
            with (
                dask.config.set(NO_PROFILER),  # handed to the worker processes by their nannies
                LocalCluster(
                    n_workers=spec.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    # Outcomes reach the report through the tasks (a dead worker's jobs come back as lost); the
                    # workers' own log would only add tracebacks of heartbeats cut by the cluster's shutdown.
                    silence_logs=logging.CRITICAL,
                ) as cluster,
                Client(cluster) as client,
            ):
                yield client
    except OSError as exc:
        raise ExecutorError(f"cannot reach the Dask scheduler: {exc}") from exc


def run_jobs(
    client: Any,
    config: RunConfig,
    *,
    plan: Callable[[], int] | None = None,
    on_result: Callable[[JobResult], None] | None = None,
    retry_in: Callable[[], float | None] | None = None,
    stop: threading.Event | None = None,
) -> RunReport:
    """Run ready jobs on ``client``'s workers until none is ready (or the request's ``max_jobs`` ran); ``plan``
    queues the
    units that finished jobs made runnable, and returns how many; ``retry_in`` says how soon a job waiting for
    its retry is ready: the run waits for it when that is within RETRY_WAIT_S. Once ``stop`` is set, nothing more
    is submitted nor planned: the run ends when the tasks in flight have."""
    from distributed import as_completed

    max_jobs = config.request.max_jobs
    report = RunReport()
    started = time.monotonic()
    pending = as_completed()
    in_flight = 0
    exhausted = False
    progressed = False
    last_plan = time.monotonic()
    outage = _Outage()
    # Bumped whenever jobs may have become claimable (a plan queued some, a retry is due): a task submitted before
    # may have found the queue empty just before, so only the idle answer of a task of the current epoch says
    # that nothing is left to claim.
    epoch = 0
    epochs: dict[Any, int] = {}

    def top_up() -> None:
        nonlocal in_flight
        if stopping():
            return
        slots = 2 * max(1, sum(client.nthreads().values()))  # one task waiting on each thread: no idle round trip
        while not exhausted and in_flight < slots and (max_jobs is None or report.ran + in_flight < max_jobs):
            limit = 1 if max_jobs is not None else None  # with a limit, a job a task: never more than asked
            future = client.submit(run_for, config, TASK_BUDGET_S, limit, pure=False)
            epochs[future] = epoch
            pending.add(future)
            in_flight += 1

    def stopping() -> bool:
        return stop is not None and stop.is_set()

    top_up()
    while in_flight:
        future = next(pending)
        in_flight -= 1
        batch: Batch = future.result()
        current = epochs.pop(future) == epoch
        for result in batch.results:
            report.count(result)
            progressed |= result.outcome == "succeeded"
            if on_result is not None:
                on_result(result)
        if batch.no_database is not None:
            outage.wait(batch.no_database)  # the claim could not reach the database: wait for it, then claim again
            top_up()
            continue
        outage.clear()
        exhausted |= batch.idle and current
        replan_due = not in_flight or time.monotonic() - last_plan > REPLAN_S
        if exhausted and not stopping() and progressed and plan is not None and replan_due:
            queued = plan()
            report.planned += queued
            last_plan, progressed = time.monotonic(), False
            exhausted = queued == 0
            epoch += queued > 0
        if exhausted and not in_flight and not stopping() and retry_in is not None:
            wait = retry_in()
            if wait is not None and wait <= RETRY_WAIT_S:
                time.sleep(max(0.0, wait))
                exhausted = False
                epoch += 1
        top_up()
    report.seconds = time.monotonic() - started
    return report
