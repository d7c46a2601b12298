"""Running one job: claim it, prepare its work directory, run its chain, store and register its products.

What a worker does for each job, wherever it runs (a local process, a Dask worker on a cluster node):

1. claim the next job (``FOR UPDATE SKIP LOCKED``) and keep its lease renewed from a thread while it runs;
2. find its inputs and prepare its private work directory and command (``hymotep.adapters``);
3. run the command, its output and errors written to the job's log, within the chain's time limit; a lost
   lease stops it;
4. read the outputs with the chain's reader, check them (tile, chain version, valid STAC, COGs), give their
   files checksums and each item a thumbnail (``hymotep.publication``), move or upload them into the storage
   (``hymotep.storage``), add ``derived_from`` links to the inputs and a link to the log;
5. register the items (``hygor.loader.register_items``) and mark the job succeeded in one transaction, which
   the lease guards: a job whose lease was lost registers nothing. When that transaction fails, what this
   attempt stored is removed unless an item of the product is registered (a re-run writes the same keys as the
   registered copy). A failure is recorded with its error and log, and retried after a back-off.

A run asking for batches (``RunRequest.batch``, light chains) claims that many jobs in one statement, starts all
their chains (steps 2-3) then finishes each as it ends (step 4), all from one thread: the chains' processes overlap,
and the worker's own steps do not take turns on the interpreter lock with 15 other threads (a job in threads cost a
fifth more processor time, benchmarks/run.py); it registers them all in one transaction, from a thread of its own
while the worker claims and runs the next batch; when that fails, each job registers on its own as in step 5, so that
one job's failure fails that job alone.

A driver that stops (``hymotep.watch``, on SIGTERM) asks its workers, through ``stop_run``, first to claim nothing
more, then to stop the chains still running: their jobs are released (back to the queue at once), their work
directories removed; nothing of them was stored yet.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal

from hygor.caching import shared_cache
from hygor.collections import load_collections
from hygor.db import ConnectionPool
from hygor.errors import DatabaseUnreachable, HespError
from hygor.ingest import Checker, IngestOptions, find_products, input_folders
from hygor.items import derived_from_link
from hygor.loader import register_items, registration
from hygor.readers.base import Rejection, reader
from hymotep import storage
from hymotep.adapters import FAILURE_NOTE, Invocation, Workspace, expected_outputs, prepare
from hymotep.chain_guard import chain_guard
from hymotep.chains import ChainDefinition, load_chains
from hymotep.errors import HymotepError
from hymotep.input_cache import CachePolicy, InputCache, has_remote_assets
from hymotep.job_inputs import JobInputs, MissingInput, resolve_batch, resolve_inputs
from hymotep.publication import annotate_outputs
from hymotep.queue import Job, JobQueue, JobScope, LeaseLost
from hymotep.run_request import RunRequest
from hymotep.settings import child_environment
from hymotep.sql import run_query

POLL_S = 0.2
Outcome = Literal["succeeded", "retried", "failed", "lost", "released"]
StopLevel = Literal["drain", "release"]
# The runs (``RunConfig.run_id``) whose driver asked this worker process to stop: ``drain``, claim nothing more;
# ``release``, stop the chains running too and give their jobs back. Set by ``stop_run``.
_STOPPING: dict[str, StopLevel] = {}


class ChainFailed(HymotepError):
    """The chain ran but did not make a usable product."""


class Released(HymotepError):
    """The run's driver stopped: the chain was stopped and the job goes back to the queue, not failed."""


def stop_run(run_id: str, level: StopLevel) -> None:
    """Ask the jobs of run ``run_id`` in this process to stop (the driver runs it on every worker): ``drain``
    claims nothing more, ``release`` also stops the chains running and releases their jobs."""
    if _STOPPING.get(run_id) != "release":
        _STOPPING[run_id] = level


def _stopping(config: RunConfig, level: StopLevel) -> bool:
    asked = _STOPPING.get(config.run_id) if config.run_id else None
    return asked is not None and (level == "drain" or asked == "release")


@dataclass(frozen=True)
class RunConfig:
    """What a worker needs to run the jobs of a run; plain values, sent to Dask workers as they are."""

    database_url: str
    collections_dir: Path
    storage: storage.StorageSpec
    log_root: Path  # where the job logs are kept (a folder, whatever the storage)
    work_root: Path
    request: RunRequest
    chain_path: str = ""
    input_cache: CachePolicy | None = None  # None: a job with remote inputs fails
    home: Path = Path(".hesp")  # HESP_HOME, what {home} stands for in the chains' settings
    run_id: str = ""  # names the run to ``stop_run``; empty: a run that is never asked to stop


@dataclass(frozen=True)
class JobResult:
    job: int
    collection: str
    tile: str
    outcome: Outcome
    seconds: float
    items: tuple[str, ...] = ()
    error: str | None = None
    log: str | None = None
    worker: str = field(default="")


@dataclass(frozen=True)
class NoDatabase:
    """A worker could not reach the database to claim a job."""

    error: str


def claim_and_run(config: RunConfig) -> JobResult | NoDatabase | None:
    """Claim the next ready job and run it; None when no job is ready."""
    claimed = _claim(config, 1)
    if isinstance(claimed, NoDatabase):
        return claimed
    queue, jobs = claimed
    return run_jobs(config, queue, jobs)[0] if jobs else None


def _claim(config: RunConfig, limit: int) -> tuple[JobQueue, list[Job]] | NoDatabase:
    """Up to ``limit`` ready jobs of the run, leased to this worker in one statement."""
    worker = f"{socket.gethostname()}:{os.getpid()}"
    request = config.request
    queue = JobQueue(_pool(config.database_url).connect, worker, lease_s=request.lease_s, backoff_s=request.backoff_s)
    try:
        return queue, queue.claim_many(JobScope.of(_chains(config.collections_dir), request.scope), limit)
    except DatabaseUnreachable as exc:
        return NoDatabase(str(exc))


@dataclass(frozen=True)
class Batch:
    """What one Dask task did: the jobs it ran, and why it stopped."""

    results: tuple[JobResult, ...]
    idle: bool = False  # no job was ready
    no_database: str | None = None  # the database could not be reached to claim


def run_for(config: RunConfig, budget_s: float, limit: int | None = None) -> Batch:
    """Claim and run jobs, ``config.request.batch`` at a time, until ``budget_s`` seconds have passed (a long
    job: just one), ``limit`` jobs ran, or none is ready. The function Dask workers run: a task per batch of short
    jobs spares a scheduler round trip per job. A batch registers from a thread of its own while the next one is
    claimed and run: the worker does not wait for the database between batches."""
    started = time.monotonic()
    results: list[JobResult] = []
    claimed = 0
    idle, no_database = False, None
    with ThreadPoolExecutor(1, thread_name_prefix="register") as registrar:
        registering: Future[list[JobResult]] | None = None
        while limit is None or claimed < limit:
            if _stopping(config, "drain"):
                idle = True
                break
            size = config.request.batch if limit is None else min(config.request.batch, limit - claimed)
            claim = _claim(config, size)
            if isinstance(claim, NoDatabase):
                no_database = claim.error
                break
            queue, jobs = claim
            if not jobs:
                idle = True
                break
            claimed += len(jobs)
            register = _produce(config, queue, jobs)
            if registering is not None:
                results.extend(registering.result())
            registering = registrar.submit(register)
            if time.monotonic() - started > budget_s:
                break
        if registering is not None:
            results.extend(registering.result())
    return Batch(tuple(results), idle=idle, no_database=no_database)


class _Chain:
    """A job's chain that was started: its process (a session leader), told to this worker's guard."""

    def __init__(self, process: subprocess.Popen[bytes], name: str, timeout_s: float | None) -> None:
        self.process = process
        self.name = name  # its command's, for the messages
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s if timeout_s else None
        self.staged = ExitStack()  # the job's cached inputs, kept until the chain ends
        self.stopped: str | None = None  # why it was killed
        try:
            self.pidfd: int | None = os.pidfd_open(process.pid)
        except OSError:  # an old kernel
            self.pidfd = None
        chain_guard().started(process.pid)

    def ended(self) -> bool:
        """Whether it ended (not reaped yet)."""
        if self.pidfd is not None:
            return bool(select.select([self.pidfd], [], [], 0)[0])
        return os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)

    def reap(self) -> None:
        """The ended (or killed) chain reaped, the guard told first: its number cannot have gone to another
        process yet; its cached inputs released."""
        with self.staged:
            chain_guard().ended(self.process.pid)
            self.process.wait()
            if self.pidfd is not None:
                os.close(self.pidfd)


@dataclass
class _Attempt:
    """One claimed job on its way through ``run_jobs``: set as it goes, ``outcome`` once it is known short of
    success."""

    job: Job
    kept_log: Path
    result: Callable[..., JobResult]
    lease_lost: threading.Event
    workspace: Workspace | None = None
    inputs: JobInputs | MissingInput | None = None  # found for the whole batch (None: to find on its own)
    chain: _Chain | None = None
    stored: storage.StoredProduct | None = None
    outcome: JobResult | None = None


def run_jobs(config: RunConfig, queue: JobQueue, jobs: list[Job]) -> list[JobResult]:
    """Run the claimed ``jobs`` and register the products of those that made one, with their successes, in one
    transaction; each job falls back to a transaction of its own when that one fails. Their results, in the order
    of ``jobs``."""
    return _produce(config, queue, jobs)()


def _produce(config: RunConfig, queue: JobQueue, jobs: list[Job]) -> Callable[[], list[JobResult]]:
    """Start the claimed ``jobs``' chains, and finish each job as its chain ends (its product read, checked and
    stored); what registers them (``run_jobs``), to call once, from any thread: their leases are kept until
    then."""
    started = time.monotonic()
    leases = ExitStack()
    lost = leases.enter_context(_leases_kept(queue, jobs))
    try:
        attempts = [
            _Attempt(job, kept_log, _result_factory(job, started, kept_log, queue.worker), lost[job.id])
            for job in jobs
            for kept_log in [storage.log_path(config.log_root, job.collection, job.tile, job.id, job.attempts)]
        ]
        _resolve_batch(config, attempts)
        start = partial(_start_attempt, config, queue)
        if _fetching(attempts):  # a fetch can take seconds: the batch's inputs are staged side by side
            with ThreadPoolExecutor(len(attempts), thread_name_prefix="stage") as starters:
                list(starters.map(start, attempts))
        else:
            for attempt in attempts:
                start(attempt)
        _finish_as_they_end(config, queue, [attempt for attempt in attempts if attempt.chain is not None])
    except BaseException:
        leases.close()  # the leases end with the error, else with the registration
        raise

    def register() -> list[JobResult]:
        with leases:
            _register_all(config, queue, [attempt for attempt in attempts if attempt.outcome is None])
        return [_finished(config, attempt) for attempt in attempts]

    return register


def _fetching(attempts: list[_Attempt]) -> bool:
    """Whether several jobs of the batch start, and one of them has remote inputs to stage."""
    return len(attempts) > 1 and any(
        isinstance(attempt.inputs, JobInputs) and has_remote_assets(attempt.inputs) for attempt in attempts
    )


def _resolve_batch(config: RunConfig, attempts: list[_Attempt]) -> None:
    """The inputs of the batch's jobs (``attempt.inputs``), found together in two queries; left to each job when
    the database cannot be reached (each then says so) or its chain is gone."""
    chains = _chains(config.collections_dir)
    known = [attempt for attempt in attempts if attempt.job.collection in chains]
    try:
        with _pool(config.database_url).connect() as conn:
            found = resolve_batch(conn, [(attempt.job, chains[attempt.job.collection]) for attempt in known])
    except HespError:
        return
    for attempt, inputs in zip(known, found, strict=True):
        attempt.inputs = inputs


def _start_attempt(config: RunConfig, queue: JobQueue, attempt: _Attempt) -> None:
    """Prepare the job's work directory and start its chain (``attempt.chain``), or record why not
    (``attempt.outcome``)."""
    job = attempt.job
    try:
        chain = _chains(config.collections_dir)[job.collection]
        workspace = attempt.workspace = Workspace.create(config.work_root, job)
    except (KeyError, HespError, OSError) as exc:  # no chain for it any more, a work directory out of reach
        attempt.outcome = _failed(queue, job, f"cannot prepare the job: {_one_line(exc)}", None, attempt.result)
        return

    def start() -> None:
        attempt.chain = _start_chain(config, chain, job, workspace, attempt)

    _settled(queue, attempt, start)


def _finish_as_they_end(config: RunConfig, queue: JobQueue, attempts: list[_Attempt]) -> None:
    """Wait for the started chains; as each ends, store its job's product (``attempt.stored``) or record why not.
    A chain that outlives its time or its lease, or whose run stops, is killed (its process group)."""
    waiting = list(attempts)
    try:
        while waiting:
            _any_ended([_running(attempt) for attempt in waiting], POLL_S)
            for attempt in list(waiting):
                chain = _running(attempt)
                if not chain.ended():
                    chain.stopped = _stop_reason(config, chain, attempt.lease_lost)
                    if chain.stopped is None:
                        continue
                    chain.kill()
                waiting.remove(attempt)
                _settled(queue, attempt, partial(_finish, config, attempt))
    finally:
        for attempt in waiting:  # only when this worker is stopping with an error: nothing of them is kept
            _running(attempt).kill()
            _running(attempt).reap()


def _running(attempt: _Attempt) -> _Chain:
    assert attempt.chain is not None
    return attempt.chain


def _settled(queue: JobQueue, attempt: _Attempt, step: Callable[[], None]) -> None:
    """Run a step of the job; when it raises, record the job's outcome: lost (nothing recorded, the lease
    expires), released (the run stopped), or failed."""
    job, kept_log, workspace = attempt.job, attempt.kept_log, attempt.workspace
    assert workspace is not None
    try:
        step()
    except (LeaseLost, DatabaseUnreachable) as exc:  # nothing recorded: the lease expires, the job comes back
        _keep_log(workspace, kept_log, f"hesp: outcome not recorded: {exc}")
        attempt.outcome = attempt.result("lost", error=str(exc))
    except Released as exc:
        _keep_log(workspace, kept_log, f"hesp: {exc}")
        shutil.rmtree(workspace.root, ignore_errors=True)
        attempt.outcome = _released(queue, job, str(exc), kept_log, attempt.result)
    except (HespError, OSError) as exc:
        error = _one_line(exc)
        _keep_log(workspace, kept_log, f"{FAILURE_NOTE} {error}")
        attempt.outcome = _failed(queue, job, error, kept_log, attempt.result)


def _register_all(config: RunConfig, queue: JobQueue, ready: list[_Attempt]) -> None:
    """Register the stored products of ``ready`` and their jobs' successes in one transaction. When it fails (a
    lease lost, an item refused, a partition race), each job registers in a transaction of its own: one job's
    failure fails that job alone, its stored product discarded."""
    if len(ready) > 1:
        try:
            items = [item for attempt in ready for item in _stored(attempt).items]
            with _pool(config.database_url).connect() as conn, registration(conn, items):
                register_items(conn, items)
                queue.succeed_many(conn, [(attempt.job, str(attempt.kept_log)) for attempt in ready])
            return
        except Exception:  # noqa: BLE001 - whatever it was, the jobs on their own say whose it is
            pass
    for attempt in ready:
        _settled(queue, attempt, partial(_register, config, queue, attempt.job, _stored(attempt), attempt.kept_log))


def _stored(attempt: _Attempt) -> storage.StoredProduct:
    assert attempt.stored is not None
    return attempt.stored


def _finished(config: RunConfig, attempt: _Attempt) -> JobResult:
    if attempt.outcome is not None:
        return attempt.outcome
    if not config.request.keep_work and attempt.workspace is not None:
        attempt.workspace.retire()
    return attempt.result("succeeded", items=tuple(i["id"] for i in _stored(attempt).items))


def _start_chain(
    config: RunConfig, chain: ChainDefinition, job: Job, workspace: Workspace, attempt: _Attempt
) -> _Chain:
    """The job's inputs found (unless the batch found them) and staged, its command prepared and started."""
    if attempt.inputs is None:
        with _pool(config.database_url).connect() as conn:
            attempt.inputs = resolve_inputs(conn, job, chain)
    if isinstance(attempt.inputs, MissingInput):
        raise attempt.inputs
    assert chain.run is not None
    timeout_s = chain.run.timeout_minutes * 60 if chain.run.timeout_minutes else None
    with ExitStack() as staged:  # the cached copies are not evicted while the chain runs
        inputs = staged.enter_context(_staged(config, attempt.inputs, workspace))
        invocation = prepare(job, chain, inputs, workspace, config.chain_path, config.home)
        started = _launch(invocation, workspace, timeout_s)
        started.staged.enter_context(staged.pop_all())
        return started


def _finish(config: RunConfig, attempt: _Attempt) -> None:
    """The ended chain's product read, checked and stored (``attempt.stored``): everything short of registering
    it."""
    job, workspace, inputs, started = attempt.job, attempt.workspace, attempt.inputs, _running(attempt)
    assert workspace is not None and isinstance(inputs, JobInputs)
    started.reap()
    _check_exit(started, workspace, attempt.lease_lost)
    chain = _chains(config.collections_dir)[job.collection]
    items = _read_outputs(chain, job, workspace)
    if attempt.lease_lost.is_set():
        raise LeaseLost(f"job {job.id}: lease lost while it ran, its products are not kept")
    acquired = inputs.unit.acquired
    name = items[0]["id"] if len(items) == 1 else f"{job.tile}_{job.slot}"
    key = storage.product_key(job.collection, job.tile, acquired, name)
    storage.check_links(workspace.output_dir)
    checker = _checker(config.collections_dir)  # checked where the chain wrote them: a refused product is not kept
    problems = [(i["id"], checker.problem(i, input_folders([workspace.output_dir]))) for i in items]
    bad = next(((item_id, p) for item_id, p in problems if p), None)
    if bad:
        raise ChainFailed(f"output {bad[0]} is not a valid product: {bad[1]}")
    items = annotate_outputs(workspace.output_dir, items)  # checksums and thumbnail, stored with the product
    stored = _storage(config.storage).store(workspace.output_dir, key, items)
    lineage = [_with_lineage(item, inputs, job, attempt.kept_log) for item in stored.items]
    attempt.stored = replace(stored, items=lineage)
    _keep_log(workspace, attempt.kept_log, "hesp: registering the products")


@contextmanager
def _staged(config: RunConfig, inputs: JobInputs, workspace: Workspace) -> Iterator[JobInputs]:
    """``inputs`` with their remote assets fetched into the input cache, the fetches noted in the job's log."""
    if config.input_cache is None:
        yield inputs
        return

    def note(line: str) -> None:
        with workspace.log_path.open("a") as log:
            log.write(f"{line}\n")

    with InputCache(config.input_cache).staged(inputs, note) as staged:
        yield staged


def _launch(invocation: Invocation, workspace: Workspace, timeout_s: float | None) -> _Chain:
    """Start the command in a session of its own (its process group is what a lost lease kills; a signal to the
    run's group does not reach it, the guard kills it when this worker dies: ``hymotep.chain_guard``), output to
    the job's log."""
    chain_guard()  # started before the chain, when it is this process's first
    with workspace.log_path.open("ab") as log:
        log.write(f"$ {' '.join(invocation.argv)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            invocation.argv, cwd=workspace.root, env=child_environment(invocation.env), stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    return _Chain(process, Path(invocation.argv[0]).name, timeout_s)


RELEASED = "the run was stopped, the job released"


def _stop_reason(config: RunConfig, chain: _Chain, lease_lost: threading.Event) -> str | None:
    """Why the chain, still running, must be killed: its lease lost, its run stopped, its time out; None: it goes
    on."""
    if lease_lost.is_set():
        return "its lease was lost"
    if _stopping(config, "release"):
        return RELEASED
    if chain.deadline is not None and chain.timeout_s is not None and time.monotonic() > chain.deadline:
        return f"it ran longer than its {chain.timeout_s / 60:g} minutes"
    return None


def _check_exit(chain: _Chain, workspace: Workspace, lease_lost: threading.Event) -> None:
    """``ChainFailed`` unless the chain exited 0; ``Released`` when the run's driver stopped it."""
    if lease_lost.is_set():
        raise LeaseLost("lease lost while the chain ran: it was stopped")
    if chain.stopped == RELEASED:
        raise Released(f"{chain.name} stopped: {RELEASED}")
    if chain.stopped:
        raise ChainFailed(f"{chain.name} stopped: {chain.stopped}")
    if chain.process.returncode != 0:
        tail = _tail(workspace.log_path, 1)
        raise ChainFailed(f"{chain.name} exited with code {chain.process.returncode}: {tail}")


def _any_ended(chains: list[_Chain], seconds: float) -> None:
    """Wait until one of ``chains`` ends, at most ``seconds``: woken as it ends by the Linux pidfds (``Popen.wait``
    with a timeout polls with growing sleeps: milliseconds lost on every short chain)."""
    pidfds = [chain.pidfd for chain in chains if chain.pidfd is not None]
    if len(pidfds) == len(chains):
        select.select(pidfds, [], [], seconds)
        return
    deadline = time.monotonic() + seconds
    while not any(chain.ended() for chain in chains) and time.monotonic() < deadline:
        time.sleep(0.01)


def _read_outputs(chain: ChainDefinition, job: Job, workspace: Workspace) -> list[dict[str, Any]]:
    """The items of what the chain wrote, checked against the job: expected names, tile, collection, version."""
    assert chain.run is not None
    pattern = expected_outputs(chain.run, job)
    if pattern and not any(workspace.output_dir.glob(pattern)):
        raise ChainFailed(f"the chain wrote no output matching {pattern}")
    items: list[dict[str, Any]] = []
    for found in find_products([workspace.output_dir], recursive=True, readers=[reader(chain.run.outputs.reader)]):
        if isinstance(found, Rejection):
            continue  # other files the chain leaves (its own logs, temporary files)
        path, output_reader = found
        for item in output_reader.items(path):
            if isinstance(item, Rejection):
                raise ChainFailed(f"output {Path(item.path).name} cannot be read: {item.reason}")
            items.append(item)
    if not items:
        raise ChainFailed(f"the chain wrote nothing that the {chain.run.outputs.reader} reader reads")
    for item in items:
        _check_item(item, job)
    return items


def _check_item(item: dict[str, Any], job: Job) -> None:
    properties = item["properties"]
    if item.get("collection") != job.collection:
        raise ChainFailed(f"output {item['id']} belongs to {item.get('collection')}, not {job.collection}")
    if properties.get("grid:code") != f"MGRS-{job.tile}":
        raise ChainFailed(f"output {item['id']} is on {properties.get('grid:code')}, not tile {job.tile}")
    version = properties.get("processing:version")
    if version != job.chain_version:
        raise ChainFailed(f"output {item['id']} says chain version {version}, the job runs {job.chain_version}")


def _with_lineage(item: dict[str, Any], inputs: JobInputs, job: Job, kept_log: Path) -> dict[str, Any]:
    lineage = [derived_from_link(collection, item_id) for collection, item_id in inputs.lineage()]
    log_link = {"rel": "related", "href": kept_log.as_uri(), "type": "text/plain",
                "title": f"processing log of job {job.id}, attempt {job.attempts}"}  # fmt: skip
    kept = [link for link in item.get("links", []) if link.get("rel") != "derived_from"]
    return {**item, "links": [*kept, *lineage, log_link]}


def _register(config: RunConfig, queue: JobQueue, job: Job, stored: storage.StoredProduct, kept_log: Path) -> None:
    """Register the items and record the job's success in one transaction (rolled back when the lease is lost);
    ``register_items`` retries pgSTAC's partition races inside it. When it fails, the stored product goes too,
    unless one of its items is registered."""
    try:
        with _pool(config.database_url).connect() as conn, registration(conn, stored.items):
            register_items(conn, stored.items)
            queue.succeed(conn, job, str(kept_log))
    except BaseException:
        _discard_unregistered(config, stored)
        raise


def _discard_unregistered(config: RunConfig, stored: storage.StoredProduct) -> None:
    """Remove ``stored`` from the storage when none of its items is registered; left in place when that cannot
    be known or done (``hesp storage orphans`` finds it)."""
    collections = [str(item["collection"]) for item in stored.items]
    ids = [str(item["id"]) for item in stored.items]
    try:
        with _pool(config.database_url).connect() as conn:
            if conn.execute(run_query("registered"), {"collections": collections, "ids": ids}).fetchone():
                return
        _storage(config.storage).discard(stored.key)
    except Exception:  # noqa: BLE001 - best effort: the failure being handled is what the job reports
        pass


@contextmanager
def _leases_kept(queue: JobQueue, jobs: list[Job]) -> Iterator[dict[int, threading.Event]]:
    """Renew the jobs' leases every third of their length while the block runs, from one thread; a job's event
    is set once its lease is lost. A database out of reach is retried at the next renewal: the lease lasts
    meanwhile."""
    lost = {job.id: threading.Event() for job in jobs}
    done = threading.Event()

    def renew() -> None:
        while not done.wait(queue.lease_s / 3):
            for job in jobs:
                if lost[job.id].is_set():
                    continue
                try:
                    if not queue.renew(job):
                        lost[job.id].set()
                except HespError:
                    continue

    thread = threading.Thread(target=renew, name=f"lease-{jobs[0].id}", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        done.set()
        thread.join()


def _result_factory(job: Job, started: float, kept_log: Path, worker: str) -> Callable[..., JobResult]:
    def result(outcome: Outcome, **fields: Any) -> JobResult:
        log = str(kept_log) if kept_log.exists() else None
        return JobResult(job.id, job.collection, job.tile, outcome, time.monotonic() - started, log=log,
                         worker=worker, **fields)  # fmt: skip

    return result


def _failed(
    queue: JobQueue, job: Job, error: str, kept_log: Path | None, result: Callable[..., JobResult]
) -> JobResult:
    """Record the failure: the job is retried after a back-off, or failed for good after its attempts."""
    try:
        state = queue.fail(job, error, str(kept_log) if kept_log else None)
    except (LeaseLost, DatabaseUnreachable) as lost:
        return result("lost", error=f"{error}; not recorded: {lost}")
    return result("failed" if state == "failed" else "retried", error=error)


def _released(queue: JobQueue, job: Job, reason: str, kept_log: Path, result: Callable[..., JobResult]) -> JobResult:
    """Give the job back to the queue: its attempt is kept as released, not counted against its attempts."""
    try:
        queue.release(job, reason, str(kept_log) if kept_log.exists() else None)
    except (LeaseLost, DatabaseUnreachable) as lost:
        return result("lost", error=f"{reason}; not recorded: {lost}")
    return result("released", error=reason)


def _keep_log(workspace: Workspace, kept_log: Path, note: str) -> None:
    """Add the runner's own line to the job's log and keep a copy under the storage root."""
    try:
        with workspace.log_path.open("a") as log:
            log.write(f"{note}\n")
        storage.archive_log(workspace.log_path, kept_log)
    except OSError:
        pass  # a log that cannot be kept does not change the job's outcome


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:]) or "(no output)"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:1000]


@shared_cache
def _pool(url: str) -> ConnectionPool:
    """The worker process's connections to the database, kept between jobs."""
    return ConnectionPool(url)


@shared_cache
def _storage(spec: storage.StorageSpec) -> storage.Storage:
    return spec.open()


@shared_cache
def _chains(collections_dir: Path) -> dict[str, ChainDefinition]:
    return load_chains(collections_dir)


@shared_cache
def _checker(collections_dir: Path) -> Checker:
    definitions = {d.id: d for d in load_collections(collections_dir)}
    return Checker(definitions, set(definitions), IngestOptions())
