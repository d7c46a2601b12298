"""Job throughput: no-op jobs through plan + queue + registration, on the local executor and on Dask, same run.

    .venv/bin/python benchmarks/run.py [--jobs 10000] [--work DIR] [--database-url URL]

A produced collection ``bench-noop`` whose chain copies a ready-made STAC item into its output folder
(``cp <items>/{tile}_{slot}.json {output_dir}/``, read back by the ``stac-json`` reader), over ``--jobs``
Sentinel-2 L1C items (100 tiles, every 5 days from 2022-01-01) and one request covering them. The same jobs run
in each phase; jobs and produced items are removed between phases (their files set aside, removed at the end of the
run: see ``set_aside``).

1. baseline: the chain's commands alone, one after another in a plain Python loop (``subprocess.run``), no
   database: what the chain costs; and the same two at a time (the ceiling of 2 workers on 2 cores);
2. queue only: ``plan_jobs``, then ``JobQueue.claim`` + ``succeed`` from ``--queue-workers`` processes (no
   chain, no registration): the queue's own rate, with a connection per call as the worker opens them, and
   with one connection kept per worker (what connecting costs);
3. full path, local executor: ``Production.run`` on ``dask_client(ExecutorSpec("local", workers=2))``: plan, claim, work
   directory, chain, reader, storage, validation, registration;
4. full path, Dask: an external ``dask scheduler`` and 2 ``dask worker`` processes on loopback (``--workers``
   processes in phases 3 and 4);
   phases 3 and 4 run twice: a job at a time, then ``--batch`` jobs a worker at once (``RunRequest.batch``); their
   workers are started and warmed (``warm``: modules, chains, checker, connections) before the timing;
   inline: the batches run one after another in this process (``run_for``), no Dask: the worker's own cost;
6. Slurm: the full path on 2 single-core worker jobs submitted by dask-jobqueue to a one-node Slurm cluster
   (``scripts/slurm-cluster``, needs root and slurm-wlm; skipped, saying why, without them), counted from the
   first finished job: the per-job overhead through Slurm-started workers; their processes' CPU ("Slurm jobs", under
   slurmd's step daemons) is counted from their start, Python's imports included;
5. profile: ``claim_and_run`` in-line in this process for ``--profile-jobs`` jobs, each step timed (self time),
   then cProfile over as many jobs (``profile.pstats`` in the work folder).

Prints jobs/s, milliseconds of worker time per job, the overhead per job over the chain alone, and ratios to the
baseline measured in the same run; and the processor time a job costs (``CpuMeter``: this process, its other
processes, PostgreSQL's), which says how many jobs a second the machine's cores could carry whatever its load.
``--jobs 500`` takes about a minute. The embedded cluster lives in
``<work>/home``; ``--work`` of an earlier run reuses its database and files when ``--jobs`` is the same.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any

import orjson
import psycopg
from cpu import CpuMeter
from psycopg import sql
from psycopg.rows import dict_row

from hygor import Catalog, Settings
from hygor.db import Database
from hygor.grid import all_tiles, land_tiles
from hygor.ingest import Checker
from hygor.items import file_asset, stac_datetime, tiled_item
from hygor.loader import ItemLoader
from hygor.settings import default_collections_dir
from hymotep import execution, queue
from hymotep.chains import load_chains
from hymotep.execution import JobResult, RunConfig, claim_and_run
from hymotep.executors import dask_client
from hymotep.production import Production
from hymotep.queue import JobQueue
from hymotep.run_request import ExecutorSpec, JobQueueSpec, RunRequest
from hymotep.settings import ProductionSettings
from hymotep.work_units import GapFilter

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
COLLECTION = "bench-noop"
VERSION = "1.0.0"
TILES = 100
FIRST = datetime(2022, 1, 1, 10, 30, tzinfo=UTC)
PRODUCT_DELAY = timedelta(minutes=2)
WORKERS = 2
TARGET_JOBS_S = 200.0
BATCH = 8  # jobs a worker claims, runs side by side and registers at once in the batched phases
PHASES = ("queue", "local", "dask", "inline", "slurm", "profile")
CHAIN = """# A no-op chain for benchmarks/run.py: copies a ready-made STAC item of the unit into the output folder.
chain: {name: noop, version: "%(version)s"}
unit: {kind: per-acquisition}
inputs:
  - {collection: sentinel-2-l1c, role: primary, match: same-acquisition}
resources: {cpu_hours: 0.001, memory_gb: 0.1, wall_minutes: 0.1, output_mb: 0.01}
run:
  command: [cp, "%(items)s/{tile}_{slot}.json", "{output_dir}/"]
  outputs: {reader: stac-json, expect: "{tile}_*.json"}
  max_attempts: 1
  timeout_minutes: 5
"""
CATALOGUE = "partition_trunc: year\nproduced: true\nreader: stac-json\n"
REQUEST = """name: bench
requester: {name: Benchmark}
zone: {tiles: [%s]}
chains: [%s]
period: {start: 2022-01-01}
"""


@dataclass(frozen=True)
class Bench:
    """Where everything of one benchmark run is."""

    work: Path
    url: str
    production: Production
    units: list[tuple[str, int]]  # (tile, slot) of every job
    batch: int = 1  # RunRequest.batch of the full-path phases
    workers: int = WORKERS  # worker processes of the local executor and of the Dask phase

    @property
    def items_dir(self) -> Path:
        return self.work / "products"

    @property
    def wanted(self) -> GapFilter:
        return GapFilter(collections=(COLLECTION,))

    @property
    def request(self) -> RunRequest:
        return RunRequest(scope=self.wanted, batch=self.batch)

    def config(self) -> RunConfig:
        return self.production.run_config(self.request)


@dataclass
class Phase:
    """One measured phase: ``jobs`` in ``seconds`` of wall time, on ``workers`` processes."""

    name: str
    jobs: int
    seconds: float
    workers: int
    note: str = ""
    job_seconds: list[float] = field(default_factory=list)  # JobResult.seconds (from the claim of its batch)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of the phase, by whose (CpuMeter)

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds

    @property
    def worker_ms(self) -> float:
        """Worker time per job: what one job costs a worker, waiting included."""
        return 1000 * self.seconds * self.workers / self.jobs

    def cpu_ms(self, whose: str | None = None) -> float:
        """CPU milliseconds per job, of ``whose`` processes (all by default)."""
        seconds = sum(self.cpu.values()) if whose is None else self.cpu.get(whose, 0.0)
        return 1000 * seconds / self.jobs


# -- setting up ----------------------------------------------------------------------------------------------


def database_url(args: argparse.Namespace, work: Path) -> tuple[str, Catalog | None]:
    """The benchmark's database: ``--database-url`` as it is, else a database of the embedded cluster in
    ``<work>/home``; the embedded catalogue to stop at the end."""
    if args.database_url:
        return args.database_url, None
    catalog = Catalog(Settings(home=work / "home", database_url=None, port=args.port))
    return catalog.url().rsplit("/", 1)[0] + "/bench_run", catalog


def fresh_database(url: str) -> None:
    admin_url, name = url.rsplit("/", 1)
    with psycopg.connect(admin_url + "/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))


def write_collections(work: Path, items_dir: Path) -> Path:
    """The project's collections and ``bench-noop``, whose chain copies the unit's item from ``items_dir``."""
    root = work / "collections"
    shutil.copytree(default_collections_dir(), root, dirs_exist_ok=True)
    folder = root / COLLECTION
    folder.mkdir(exist_ok=True)
    content = json.loads((default_collections_dir() / "surfwater-water" / "collection.json").read_text())
    content.update(id=COLLECTION, title="No-op benchmark products", stac_extensions=[], summaries={},
                   item_assets={}, links=[], description="Products of benchmarks/run.py's no-op chain.")  # fmt: skip
    (folder / "collection.json").write_text(json.dumps(content, indent=2))
    (folder / "catalogue.yaml").write_text(CATALOGUE)
    (folder / "chain.yaml").write_text(CHAIN % {"version": VERSION, "items": items_dir})
    return root


def source_items(jobs: int, l1c_dir: Path) -> Iterator[dict[str, Any]]:
    """``jobs`` L1C items over the first 100 land tiles, every 5 days, each with an (empty) product file."""
    grid = all_tiles()
    tiles = [grid[t] for t in sorted(land_tiles())[: min(TILES, jobs)]]
    for n in range(jobs):
        tile = tiles[n % len(tiles)]
        when = FIRST + timedelta(days=5 * (n // len(tiles)), seconds=n % 600)
        item_id = f"L1C_{tile.id}_{when:%Y%m%dT%H%M%S}"
        product = l1c_dir / f"{item_id}.zip"
        product.touch()
        asset = file_asset(product, media_type="application/zip", roles=["data"], title="Product")
        properties = {"datetime": stac_datetime(when), "hesp:valid": True}
        yield tiled_item(item_id=item_id, collection="sentinel-2-l1c", tile=tile, properties=properties,
                         assets={"product": asset})  # fmt: skip


def unit_slots(url: str) -> list[tuple[str, int, datetime]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tile, slot, acquired FROM hesp.inventory WHERE collection = 'sentinel-2-l1c' ORDER BY tile, slot"
        ).fetchall()
    return [(str(tile), int(slot), acquired) for tile, slot, acquired in rows]


def write_products(units: list[tuple[str, int, datetime]], items_dir: Path) -> None:
    """The item each job's chain copies: valid, on the unit's tile and slot, made by the chain's version."""
    grid = all_tiles()
    items_dir.mkdir(parents=True, exist_ok=True)
    for tile_id, slot, acquired in units:
        properties = {"datetime": stac_datetime(acquired + PRODUCT_DELAY), "processing:version": VERSION,
                      "hesp:valid": True}  # fmt: skip
        item = tiled_item(item_id=f"NOOP_{tile_id}_{slot}", collection=COLLECTION, tile=grid[tile_id],
                          properties=properties, assets={})  # fmt: skip
        (items_dir / f"{tile_id}_{slot}.json").write_bytes(orjson.dumps(item))


def setup(args: argparse.Namespace, work: Path) -> tuple[Bench, Catalog | None]:
    """The database, collections, source items, request and ready-made products; reused from an earlier run
    in the same ``--work`` with the same ``--jobs``."""
    url, embedded = database_url(args, work)
    items_dir = work / "products"
    collections = write_collections(work, items_dir)
    settings = ProductionSettings(
        database_url=url, collections_dir=collections, storage=work / "storage", work_dir=work / "jobs"
    )
    production = Production(Catalog(settings))
    marker = work / "setup.json"
    if not marker.exists() or json.loads(marker.read_text()) != {"jobs": args.jobs, "url": url}:
        started = time.perf_counter()
        fresh_database(url)
        production.init()
        l1c_dir = work / "l1c"
        shutil.rmtree(l1c_dir, ignore_errors=True)
        l1c_dir.mkdir()
        with ItemLoader(Database(url)) as loader:
            loader.load(list(source_items(args.jobs, l1c_dir)))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE hesp.inventory")
        units = unit_slots(url)
        shutil.rmtree(items_dir, ignore_errors=True)
        write_products(units, items_dir)
        request = work / "request.yaml"
        request.write_text(REQUEST % (", ".join(sorted({tile for tile, _, _ in units})), COLLECTION))
        production.add_request(request)
        marker.write_text(json.dumps({"jobs": args.jobs, "url": url}))
        print(f"set up {len(units):,} L1C items, products and the request in {time.perf_counter() - started:.0f} s")
    else:
        production.catalog.sync_collections()
        units = unit_slots(url)
    if len(units) != args.jobs:
        raise SystemExit(f"{len(units)} units in the inventory, not {args.jobs}: several L1C share a slot")
    return Bench(work, url, production, [(tile, slot) for tile, slot, _ in units]), embedded


def reset(bench: Bench) -> None:
    """No jobs, no bench-noop products, empty storage and work folders: every phase starts from the same state."""
    with psycopg.connect(bench.url, autocommit=True) as conn:
        conn.execute("DELETE FROM hesp.jobs")
        conn.execute("DELETE FROM pgstac.items WHERE collection = %s", (COLLECTION,))
        conn.execute("VACUUM ANALYZE hesp.jobs")
        conn.execute("VACUUM ANALYZE hesp.inventory")
    settings = bench.production.settings
    for folder in (settings.storage_root, settings.work_root, bench.work / "baseline"):
        set_aside(bench.work, folder)


def set_aside(work: Path, folder: Path) -> None:
    """Move ``folder`` into ``<work>/trash``, emptied at the end of the run: on an ext4 file system without a
    journal, every inode made within 30 s of others being freed searches past them, so removing a phase's thousands
    of files would slow the next phase down (its jobs' own removals are theirs to pay)."""
    trash = work / "trash"
    trash.mkdir(exist_ok=True)
    if folder.exists():
        folder.rename(trash / f"{folder.name}-{time.monotonic_ns()}")


def counts(bench: Bench) -> tuple[dict[str, int], int]:
    """Jobs per state, and bench-noop products in the inventory."""
    with psycopg.connect(bench.url) as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM hesp.jobs GROUP BY state").fetchall())
        row = conn.execute("SELECT count(*) FROM hesp.inventory WHERE collection = %s", (COLLECTION,)).fetchone()
    return states, int(row[0]) if row else 0


def check_done(bench: Bench, phase: Phase, products: bool = True) -> None:
    states, made = counts(bench)
    if states.get("succeeded", 0) != len(bench.units) or (products and made != len(bench.units)):
        raise SystemExit(f"{phase.name}: jobs {states}, {made} products: expected {len(bench.units)} of each")


# -- 1. baseline: the chain alone ----------------------------------------------------------------------------


def chain_command(command: tuple[str, ...], tile: str, slot: int, output_dir: Path) -> list[str]:
    """The chain's argument list for one unit, its executable looked up as the adapter does."""
    values = {"tile": tile, "slot": str(slot), "output_dir": str(output_dir)}
    argv = [part.format_map(values) for part in command]
    return [shutil.which(argv[0]) or argv[0], *argv[1:]]


def baseline(bench: Bench, workers: int) -> Phase:
    """The chain's commands, each into a fresh output folder, ``workers`` at a time."""
    root = bench.work / "baseline"
    run_spec = load_chains(bench.production.catalog.settings.collections_dir)[COLLECTION].run
    assert run_spec is not None
    commands = []
    for n, (tile, slot) in enumerate(bench.units):
        output = root / f"job-{n}" / "output"
        output.mkdir(parents=True)
        commands.append(chain_command(run_spec.command, tile, slot, output))

    def run(command: list[str]) -> None:
        subprocess.run(command, check=True, stdin=subprocess.DEVNULL)

    meter = CpuMeter(bench.url)
    meter.start()
    started = time.perf_counter()
    if workers == 1:
        for command in commands:
            run(command)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, commands))
    seconds = time.perf_counter() - started
    cpu = meter.stop()
    set_aside(bench.work, root)
    name = "chain alone, in a loop" if workers == 1 else f"chain alone, {workers} at a time"
    return Phase(name, len(commands), seconds, workers, "subprocess.run, no database", cpu=cpu)


# -- 2. the queue alone --------------------------------------------------------------------------------------


def kept_connection(url: str) -> Callable[[], Any]:
    """A ``connect`` for ``JobQueue`` that hands out the same open connection every time."""
    conn = psycopg.connect(url, row_factory=dict_row)

    @contextmanager
    def connect() -> Iterator[psycopg.Connection[dict[str, Any]]]:
        yield conn

    return connect


def queue_worker(url: str, name: str, keep: bool, go: Any, results: Any) -> None:
    """Claim and succeed jobs until none is left; put (jobs, seconds) in ``results``."""
    connect = kept_connection(url) if keep else Database(url).connect
    jobs = JobQueue(connect, name)
    done = 0
    go.wait()
    started = time.perf_counter()
    while (job := jobs.claim()) is not None:
        with connect() as conn, conn.transaction():
            jobs.succeed(conn, job)
        done += 1
    results.put((done, time.perf_counter() - started))


def plan(bench: Bench) -> tuple[int, float]:
    started = time.perf_counter()
    chains = load_chains(bench.production.catalog.settings.collections_dir)
    queued = queue.plan_jobs(bench.production.catalog.database().connect, chains, bench.wanted)
    return queued, time.perf_counter() - started


def queue_only(bench: Bench, workers: int, keep: bool) -> Phase:
    """Plan, then claim + succeed from ``workers`` processes started beforehand (their start-up not timed)."""
    context = multiprocessing.get_context("spawn")
    go, results = context.Event(), context.Queue()
    processes = [
        context.Process(target=queue_worker, args=(bench.url, f"bench-{n}", keep, go, results)) for n in range(workers)
    ]
    for process in processes:
        process.start()
    time.sleep(3)  # the workers import and connect
    queued, plan_s = plan(bench)
    started = time.perf_counter()
    go.set()
    done = [results.get() for _ in processes]
    seconds = time.perf_counter() - started
    for process in processes:
        process.join()
    if queued != len(bench.units) or sum(n for n, _ in done) != queued:
        raise SystemExit(f"queue: planned {queued}, claimed {[n for n, _ in done]}")
    how = "a connection kept per worker" if keep else "a connection per call"
    phase = Phase(f"queue: claim + succeed, {how}", queued, seconds, workers, f"plan {plan_s:.2f} s apart")
    check_done(bench, phase, products=False)
    return phase


# -- 3. and 4. the full path ---------------------------------------------------------------------------------


def batched(bench: Bench) -> str:
    return f", batch {bench.batch}" if bench.batch > 1 else ""


def full_path(
    bench: Bench, name: str, client: Any, workers: int | None = None, done_at: list[float] | None = None,
    slurm: bool = False,
) -> Phase:  # fmt: skip
    """``Production.run`` (plan, then jobs until none is ready) on ``client``'s workers (``workers`` threads: those
    of the client by default); ``done_at`` gets the time each job's result came; ``slurm``: the CPU of the Slurm
    jobs' processes counted too."""
    times: list[float] = []
    failures: list[JobResult] = []

    def on_result(result: JobResult) -> None:
        times.append(result.seconds)
        if done_at is not None:
            done_at.append(time.perf_counter())
        if result.outcome != "succeeded":
            failures.append(result)

    workers = workers or max(1, sum(client.nthreads().values()))
    meter = CpuMeter(bench.url, slurm)
    meter.start()
    started = time.perf_counter()
    report = bench.production.run(bench.request, on_result=on_result, client=client)
    seconds = time.perf_counter() - started
    cpu = meter.stop()
    if failures:
        first = failures[0]
        raise SystemExit(f"{name}: {len(failures)} jobs did not succeed, e.g. job {first.job}: {first.error}")
    phase = Phase(name, report.succeeded, seconds, workers, f"plan included ({report.planned} planned)", times, cpu)
    check_done(bench, phase)
    return phase


def warm(config: RunConfig, item: Path) -> None:
    """What a worker process loads once, at its first batch: the modules, the chains, the checker (its schemas and
    the tiling grid, by checking ``item``), the connection pool. Done before the timing, with the cluster's start:
    a second of processor time a worker, which a run of a thousand jobs would count as a millisecond a job."""
    execution._chains(config.collections_dir)
    execution._checker(config.collections_dir).problem(orjson.loads(item.read_bytes()))
    execution._pool(config.database_url)


def warm_workers(bench: Bench, client: Any) -> None:
    client.run(warm, bench.config(), next(bench.items_dir.iterdir()))


def local_executor(bench: Bench) -> Phase:
    started = time.perf_counter()
    with dask_client(ExecutorSpec("local", workers=bench.workers)) as client:
        client.wait_for_workers(bench.workers)
        warm_workers(bench, client)
        start_s = time.perf_counter() - started
        processes = f", {bench.workers} workers" if bench.workers != WORKERS else ""
        phase = full_path(bench, f"full path, local executor{processes}{batched(bench)}", client)
    phase.note += f"; cluster start and warm-up {start_s:.1f} s apart"
    return phase


@contextmanager
def dask_cluster(work: Path, port: int, workers: int) -> Iterator[str]:
    """A ``dask scheduler`` and ``workers`` single-threaded ``dask worker`` processes on loopback."""
    address = f"tcp://127.0.0.1:{port}"
    logs = work / "dask-logs"
    logs.mkdir(exist_ok=True)
    dask = str(BIN / "dask")
    commands = [[dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]]
    commands += [[dask, "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                  "--name", f"bench-{n}"] for n in range(workers)]  # fmt: skip
    processes: list[subprocess.Popen[bytes]] = []
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}  # as hesp's own workers run
    try:
        for n, command in enumerate(commands):
            with (logs / f"{command[1]}-{n}.log").open("wb") as log:
                processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=work, env=env))
            if n == 0:
                time.sleep(2)  # the scheduler listens before the workers dial it
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def dask_executor(bench: Bench, port: int) -> Phase:
    started = time.perf_counter()
    with (
        dask_cluster(bench.work, port, bench.workers) as address,
        dask_client(ExecutorSpec("dask", scheduler=address)) as client,
    ):
        client.wait_for_workers(bench.workers, timeout=60)
        warm_workers(bench, client)
        start_s = time.perf_counter() - started
        phase = full_path(bench, f"full path, Dask scheduler + {bench.workers} workers{batched(bench)}", client)
    phase.note += f"; cluster start and warm-up {start_s:.1f} s apart"
    return phase


def inline_batches(bench: Bench) -> Phase:
    """The full path's batches in this process, one after another (``run_for``): no Dask, no second worker; what
    a job costs the worker itself, apart from PostgreSQL and the chain's process."""
    queued, plan_s = plan(bench)
    warm(bench.config(), next(bench.items_dir.iterdir()))
    meter = CpuMeter(bench.url)
    meter.start()
    started = time.perf_counter()
    batch = execution.run_for(bench.config(), float("inf"))
    seconds = time.perf_counter() - started
    cpu = meter.stop()
    failed = [result for result in batch.results if result.outcome != "succeeded"]
    if failed:
        raise SystemExit(f"in-line: {len(failed)} jobs did not succeed, e.g. {failed[0]}")
    phase = Phase(f"full path, in-line in this process{batched(bench)}", len(batch.results), seconds, 1,
                  f"no Dask; plan {plan_s:.2f} s apart", cpu=cpu)  # fmt: skip
    check_done(bench, phase)
    return phase


# -- 6. Slurm: workers started by sbatch ---------------------------------------------------------------------


def slurm_executor(bench: Bench) -> Phase | None:
    """The full path on ``WORKERS`` single-core worker jobs that dask-jobqueue submits to a one-node Slurm cluster
    (``scripts/slurm-cluster``, started and stopped here); None, said why, when Slurm cannot run here. The rate
    counts from the first finished job (the batch jobs' start apart, in the note)."""
    missing = [tool for tool in ("munged", "slurmctld", "slurmd", "sbatch") if shutil.which(tool) is None]
    if missing or os.geteuid() != 0:
        why = f"{', '.join(missing)} not installed" if missing else "the one-node cluster needs root"
        print(f"slurm phase skipped: {why}", flush=True)
        return None
    state = bench.work / "slurm"
    env = {**os.environ, "HESP_SLURM_DIR": str(state)}
    subprocess.run([str(REPO / "scripts" / "slurm-cluster"), "start"], env=env, check=True, capture_output=True)
    os.environ["SLURM_CONF"] = str(state / "slurm.conf")  # what dask-jobqueue's sbatch reads
    spec = JobQueueSpec("slurm", queue="hesp", cores=1, memory="1GB", walltime="00:30:00", jobs=WORKERS,
                        python=sys.executable, log_directory=str(bench.work / "slurm-logs"))  # fmt: skip
    finished: list[float] = []
    try:
        started = time.perf_counter()
        with dask_client(ExecutorSpec(jobqueue=spec)) as client:
            phase = full_path(bench, f"full path, Slurm, {WORKERS} worker jobs{batched(bench)}", client, WORKERS,
                              finished, slurm=True)  # fmt: skip
    finally:
        subprocess.run([str(REPO / "scripts" / "slurm-cluster"), "stop"], env=env, capture_output=True)
    first = finished[0] - started
    phase.note = f"from the first job done; batch jobs queued, started and first job done in {first:.1f} s"
    phase.seconds = finished[-1] - finished[0]
    phase.jobs -= 1  # the first, whose time is the start's
    return phase


# -- 5. where a job's time goes ------------------------------------------------------------------------------


class StepTimer:
    """Self time of the wrapped functions (time in nested wrapped functions counted there, not in the caller)."""

    def __init__(self) -> None:
        self.self_s: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._children: list[float] = []

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._children.append(0.0)
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                children = self._children.pop()
                self.self_s[name] += elapsed - children
                self.calls[name] += 1
                if self._children:
                    self._children[-1] += elapsed

        return timed


STEPS: list[tuple[Any, str, str]] = [
    (JobQueue, "claim", "claim: requeue_expired + claim (SQL)"),
    (psycopg, "connect", "psycopg.connect (a new connection)"),
    (execution.Workspace, "create", "work folder: create"),
    (execution, "_resolve_batch", "inputs: inventory + items (SQL)"),
    (execution, "prepare", "prepare: links, job.json, inputs.txt, which"),
    (execution, "_launch", "chain: start (cp)"),
    (execution, "_any_ended", "chain: wait for its end"),
    (execution, "_read_outputs", "read outputs: find_products + reader"),
    (execution.storage.PosixStorage, "store", "storage: move into the storage root"),
    (execution, "annotate_outputs", "checksums and thumbnail"),
    (Checker, "problem", "validate the item (STAC schema)"),
    (execution, "_with_lineage", "lineage links"),
    (execution, "_keep_log", "log: append + link into the storage"),
    (execution, "_register", "register: register_items + succeed (SQL)"),
    (execution, "_register_all", "register a batch: register_items + succeed (SQL)"),
    (execution.Workspace, "retire", "work folder: emptied, kept as a spare"),
    (execution, "run_jobs", "other (lease thread, results, ...)"),
]


@contextmanager
def timed_steps(timer: StepTimer) -> Iterator[None]:
    """Wrap the steps of ``claim_and_run`` in this process for the block's duration."""
    saved = []
    for owner, attribute, label in STEPS:
        original = owner.__dict__[attribute]
        function = original.__func__ if isinstance(original, classmethod) else original
        wrapped = timer.wrap(label, function)
        setattr(owner, attribute, classmethod(wrapped) if isinstance(original, classmethod) else wrapped)
        saved.append((owner, attribute, original))
    try:
        yield
    finally:
        for owner, attribute, original in saved:
            setattr(owner, attribute, original)


def run_inline(config: RunConfig, limit: int) -> tuple[int, float]:
    """``claim_and_run`` in this process until ``limit`` jobs ran or none is ready."""
    ran = 0
    started = time.perf_counter()
    while ran < limit:
        result = claim_and_run(config)
        if result is None:
            break
        if not isinstance(result, JobResult) or result.outcome != "succeeded":
            raise SystemExit(f"in-line job did not succeed: {result}")
        ran += 1
    return ran, time.perf_counter() - started


def profile(bench: Bench, jobs: int, top: int) -> tuple[Phase, StepTimer]:
    """Step times over ``jobs`` in-line jobs, then cProfile over as many more (printed, and saved)."""
    plan(bench)
    config = bench.config()
    run_inline(config, 5)  # warm the caches (chains, checker, schemas) before timing
    timer = StepTimer()
    with timed_steps(timer):
        total = timer.wrap("claim_and_run itself", claim_and_run)
        ran, seconds = run_inline_with(total, config, jobs)
    phase = Phase("full path, in-line in one process (profiled)", ran, seconds, 1, "no Dask, step timers on")
    profiler = cProfile.Profile()
    profiler.enable()
    profiled, _ = run_inline(config, jobs)
    profiler.disable()
    path = bench.work / "profile.pstats"
    profiler.dump_stats(path)
    print(f"\ncProfile of {profiled} in-line jobs (saved to {path}), top {top} by own time:")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)
    return phase, timer


def run_inline_with(total: Callable[[RunConfig], Any], config: RunConfig, limit: int) -> tuple[int, float]:
    ran = 0
    started = time.perf_counter()
    while ran < limit and total(config) is not None:
        ran += 1
    return ran, time.perf_counter() - started


def print_steps(timer: StepTimer, jobs: int) -> None:
    total = sum(timer.self_s.values())
    print(f"\nwhere an in-line job's time goes ({jobs} jobs, self time of each step, ms per job):")
    print(f"{'step':46} {'ms/job':>8} {'share':>7} {'calls/job':>10}")
    for label, seconds in sorted(timer.self_s.items(), key=lambda kv: -kv[1]):
        print(f"{label:46} {1000 * seconds / jobs:8.2f} {seconds / total:7.1%} {timer.calls[label] / jobs:10.1f}")
    print(f"{'total (claim_and_run)':46} {1000 * total / jobs:8.2f}")


# -- the report ----------------------------------------------------------------------------------------------


def print_table(phases: list[Phase], serial: Phase, parallel: Phase) -> None:
    """jobs/s, worker ms per job, overhead per job over the chain alone, ratios to the two baselines."""
    chain_ms = serial.worker_ms
    print(f"\n{serial.jobs:,} jobs a phase; the chain alone costs {chain_ms:.2f} ms a job (one at a time)")
    header = f"{'phase':46} {'jobs':>6} {'seconds':>8} {'jobs/s':>8} {'worker ms/job':>14} {'overhead ms/job':>16}"
    print(f"{header} {'vs loop':>8} {'vs 2 at a time':>15}  notes")
    for phase in phases:
        overhead = "" if phase.name.startswith(("chain", "queue")) else f"{phase.worker_ms - chain_ms:16.2f}"
        print(
            f"{phase.name:46} {phase.jobs:6,} {phase.seconds:8.2f} {phase.rate:8.1f} {phase.worker_ms:14.2f} "
            f"{overhead:>16} {phase.rate / serial.rate:7.2f}x {phase.rate / parallel.rate:14.2f}x  {phase.note}"
        )
        if phase.job_seconds:
            mean_ms = 1000 * sum(phase.job_seconds) / len(phase.job_seconds)
            print(f"{'':46} a job from its claim to its outcome: {mean_ms:.2f} ms (mean)")
        if phase.cpu:
            shares = ", ".join(f"{whose} {phase.cpu_ms(whose):.2f}" for whose in phase.cpu)
            print(f"{'':46} CPU a job: {phase.cpu_ms():.2f} ms ({shares})")
    print(f"\ntarget: {TARGET_JOBS_S:.0f} jobs/s through the queue")
    for phase in phases:
        if phase.name.startswith(("queue", "full path, local", "full path, Dask", "full path, in-line")):
            verdict = "met" if phase.rate >= TARGET_JOBS_S else "NOT met"
            print(f"  {phase.name:46} {phase.rate:8.1f} jobs/s: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--work", type=Path, help="work folder (reused when it holds a run of the same --jobs)")
    parser.add_argument("--database-url", help="a database to fill (dropped and created again); default: embedded")
    parser.add_argument("--port", type=int, default=54396, help="port of the embedded cluster")
    parser.add_argument("--dask-port", type=int, default=54395, help="port of the Dask scheduler")
    parser.add_argument("--queue-workers", type=int, default=WORKERS)
    parser.add_argument("--profile-jobs", type=int, default=200, help="in-line jobs profiled (0: no profile)")
    parser.add_argument("--top", type=int, default=25, help="cProfile lines printed")
    parser.add_argument("--batch", type=int, default=BATCH, help="RunRequest.batch of the batched full-path phases")
    parser.add_argument("--workers", type=int, default=WORKERS, help="worker processes of the local and Dask phases")
    parser.add_argument(
        "--phases",
        type=lambda text: set(text.split(",")),
        default=set(PHASES),
        help=f"phases to run, comma-separated, of {','.join(PHASES)} (the baseline always runs)",
    )
    args = parser.parse_args()

    work = (args.work or Path(tempfile.mkdtemp(prefix="hesp-bench-run-", dir="/var/tmp"))).absolute()
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {work}")
    bench, embedded = setup(args, work)
    bench = replace(bench, workers=args.workers)
    try:
        phases: list[Phase] = []
        batched_bench = replace(bench, batch=args.batch)
        steps: list[tuple[str, Callable[[], Phase | None]]] = [
            ("baseline", lambda: baseline(bench, 1)),
            ("baseline", lambda: baseline(bench, WORKERS)),
            ("queue", lambda: queue_only(bench, args.queue_workers, keep=False)),
            ("queue", lambda: queue_only(bench, args.queue_workers, keep=True)),
            ("local", lambda: local_executor(bench)),
            ("local", lambda: local_executor(batched_bench)),
            ("dask", lambda: dask_executor(bench, args.dask_port)),
            ("dask", lambda: dask_executor(batched_bench, args.dask_port)),
            ("inline", lambda: inline_batches(batched_bench)),
            ("slurm", lambda: slurm_executor(bench)),
            ("slurm", lambda: slurm_executor(batched_bench)),
        ]
        for name, step in steps:
            if name != "baseline" and name not in args.phases:
                continue
            reset(bench)
            phase = step()
            if phase is not None:
                phases.append(phase)
                cpu = f", CPU {phase.cpu_ms():.2f} ms a job" if phase.cpu else ""
                print(f"{phase.name}: {phase.rate:.1f} jobs/s{cpu}", flush=True)
        timer = None
        if args.profile_jobs and "profile" in args.phases:
            reset(bench)
            inline, timer = profile(bench, min(args.profile_jobs, (len(bench.units) - 5) // 2), args.top)
            phases.append(inline)
        print_table(phases, phases[0], phases[1])
        if timer is not None:
            print_steps(timer, phases[-1].jobs)
        reset(bench)
    finally:
        shutil.rmtree(work / "trash", ignore_errors=True)
        if embedded is not None:
            embedded.down()


if __name__ == "__main__":
    main()
