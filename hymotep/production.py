"""``Production``: the production workshop's Python API, over a ``hygor.Catalog``; the CLI and notebooks use it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from hygor import Catalog
from hygor.acting import acting_user
from hygor.catalog import CatalogStatus, InitReport
from hygor.tiles import select_tiles
from hymotep import decisions, queue, store, work_units
from hymotep.campaign_book import Campaigns
from hymotep.chains import ChainDefinition, ChainError, load_chains, source_collection
from hymotep.decisions import Decision, HistoryEvent
from hymotep.estimate import CapacityPlan, EstimateReport, RequestDemand, TileDemand, estimate, plan_capacity
from hymotep.job_history import JobHistory, Latency, job_history, production_latency
from hymotep.migrations import STREAMS
from hymotep.orphans import ORPHAN_AGE, Orphans, find_orphans
from hymotep.requests import load_request_file, produced_chains
from hymotep.run_request import RunRequest
from hymotep.settings import ProductionSettings
from hymotep.store import StoredRequest

if TYPE_CHECKING:
    from hymotep.execution import JobResult, RunConfig
    from hymotep.executors import RunReport


class PlanReport(BaseModel):
    """What ``hesp plan`` did: jobs queued, and failed jobs queued again (None when not asked)."""

    queued: int
    requeued: int | None = None


class Production:
    """Production over ``catalog`` (from the environment by default), with its settings (``ProductionSettings``:
    the catalogue's when they are production's, else read from the environment)."""

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or Catalog(ProductionSettings())
        self.settings = ProductionSettings.of(self.catalog.settings)

    def init(self) -> InitReport:
        """The catalogue initialised with production's tables and functions (``Catalog.init``)."""
        return self.catalog.init(STREAMS)

    def reset(self) -> InitReport:
        """The catalogue and production dropped, items, requests and jobs with them, then initialised again."""
        return self.catalog.reset(STREAMS)

    def database_status(self) -> CatalogStatus:
        """The catalogue's status, production's migrations included (``Catalog.status``)."""
        return self.catalog.status(STREAMS)

    def add_request(self, path: Path, *, replace: bool = False, by: str | None = None) -> StoredRequest:
        """Validate a request file, resolve its zone to tiles and store it, recorded in its history as done by
        ``by`` (the OS user by default); nothing is stored on any fault. A replaced request keeps its decision and
        releases the queued jobs of what it no longer asks for."""
        request = load_request_file(path, produced_chains(self.catalog.settings.collections_dir))
        with self._changing() as (conn, chains):
            before = decisions.asked(conn, request.name) if replace else None
            stored = store.add_request(conn, request, replace=replace, by=acting_user(by))
            decisions.release_jobs(conn, chains, before)
            return stored

    def requests(self) -> list[StoredRequest]:
        with self.catalog.database().connect() as conn:
            return store.list_requests(conn)

    def request(self, name: str) -> StoredRequest:
        with self.catalog.database().connect() as conn:
            return store.get_request(conn, name)

    def remove_request(self, name: str, *, by: str | None = None) -> None:
        """Remove a request (its history stays) and the queued jobs only it asked for."""
        with self._changing() as (conn, chains):
            before = decisions.asked(conn, name)
            store.remove_request(conn, name, by=acting_user(by))
            decisions.release_jobs(conn, chains, before)

    def decide(self, name: str, decision: Decision, reason: str | None = None, *, by: str | None = None) -> bool:
        """Accept request ``name`` or leave it out (overriding the capacity plan), recorded in its history; a request
        left out releases its queued jobs that no accepted request asks for. False when it was so already."""
        with self._changing() as (conn, chains):
            before = decisions.asked(conn, name)
            changed = decisions.decide(conn, name, decision, reason, acting_user(by))
            if changed and decision == "left-out":
                decisions.release_jobs(conn, chains, before)
            return changed

    def request_history(self, name: str | None = None) -> list[HistoryEvent]:
        """Every change to request ``name`` (to all requests when None), oldest first, removed requests included."""
        with self.catalog.database().connect() as conn:
            return decisions.history(conn, name)

    @contextmanager
    def _changing(self) -> Iterator[tuple[store.Connection, dict[str, ChainDefinition]]]:
        """A connection in the transaction of a change to requests, and the chains."""
        chains = load_chains(self.catalog.settings.collections_dir)
        with self.catalog.database().connect() as conn, conn.transaction():
            yield conn, chains

    @property
    def campaigns(self) -> Campaigns:
        """The reprocessing campaigns (``hymotep.campaigns``)."""
        return Campaigns(self.catalog)

    def gaps(self, wanted: work_units.GapFilter) -> Iterator[dict[str, Any]]:
        """The units of work in ``wanted.states``, streamed (see ``hymotep.work_units``)."""
        chains = load_chains(self.catalog.settings.collections_dir)
        yield from work_units.iter_gaps(self.catalog.database().connect, chains, wanted)

    def gaps_csv(self, wanted: work_units.GapFilter) -> Iterator[bytes]:
        """The same as CSV, written by the database server."""
        chains = load_chains(self.catalog.settings.collections_dir)
        yield from work_units.copy_gaps_csv(self.catalog.database().connect, chains, wanted)

    def plan(self, wanted: work_units.GapFilter, *, retry_failed: bool = False) -> PlanReport:
        """``plan_jobs``; with ``retry_failed``, failed jobs of ``wanted`` get their attempts again first."""
        requeued = self.retry_failed(wanted) if retry_failed else None
        return PlanReport(queued=self.plan_jobs(wanted), requeued=requeued)

    def plan_jobs(self, wanted: work_units.GapFilter) -> int:
        """Queue a job for every runnable unit and every outdated one a campaign replays; the number queued."""
        chains = load_chains(self.catalog.settings.collections_dir)
        return queue.plan_jobs(self.catalog.database().connect, chains, wanted)

    def retry_failed(self, wanted: work_units.GapFilter) -> int:
        """Failed jobs of ``wanted``'s collections and tiles queued again with fresh attempts; how many."""
        tiles = list(wanted.tiles) or None
        return queue.retry_failed(self.catalog.database().connect, list(wanted.collections) or None, tiles)

    def job_queue(self, worker: str, **options: float) -> queue.JobQueue:
        """A worker's handle on the job queue (``lease_s``, ``backoff_s``)."""
        return queue.JobQueue(self.catalog.database().connect, worker, **options)

    def runnable_collections(self, wanted: Sequence[str] = ()) -> tuple[str, ...]:
        """The produced collections whose chain has a command (all of them, or those of ``wanted``)."""
        chains = load_chains(self.catalog.settings.collections_dir)
        for name in wanted:
            if name not in chains:
                raise ChainError(f"{name} is not a produced collection (known: {', '.join(sorted(chains))})")
            if chains[name].run is None:
                raise ChainError(f"the chain of {name} has no run section in its chain.yaml: it cannot run here")
        return tuple(sorted(wanted or [c for c, chain in chains.items() if chain.run is not None]))

    def run_config(self, request: RunRequest, chain_path: str | None = None) -> RunConfig:
        """What workers need to run the jobs of ``request``, its collections made explicit (those that can run);
        ``chain_path``: where the chains' commands are, instead of the setting (HESP_CHAIN_PATH)."""
        from hymotep.execution import RunConfig  # the workers' side (readers, loader, Dask): for runs only

        settings = self.settings
        scope = replace(request.scope, collections=self.runnable_collections(request.scope.collections))
        return RunConfig(
            database_url=self.worker_database_url(request),
            collections_dir=settings.collections_dir.absolute(),
            storage=settings.storage_spec,
            log_root=settings.log_root,
            work_root=settings.work_root,
            chain_path=settings.chain_search if chain_path is None else chain_path,
            home=settings.home.absolute(),
            request=replace(request, scope=scope),
            input_cache=settings.input_cache_policy,
        )

    def worker_database_url(self, request: RunRequest) -> str:
        """The URL the run's workers claim jobs with: the site file's, else this process's for a local cluster,
        else the one for other machines (``Catalog.worker_url``)."""
        executor = request.executor
        if executor.jobqueue is not None and executor.jobqueue.database_url:
            return executor.jobqueue.database_url
        if executor.kind == "local" and executor.jobqueue is None:
            return self.catalog.database().url
        return self.catalog.worker_url()

    def orphans(
        self, collection: str | None = None, *, delete: bool = False, min_age: timedelta = ORPHAN_AGE
    ) -> Orphans:
        """The products under the storage (of ``collection``) that no registered item references, stored at least
        ``min_age`` ago; removed too with ``delete``."""
        storage = self.settings.storage_spec.open()
        with self.catalog.database().connect() as conn:
            keys = find_orphans(conn, storage, collection, min_age)
        for key in keys if delete else []:
            storage.discard(key)
        return Orphans(storage=self.settings.storage_location, keys=keys, deleted=delete)

    def job_history(self, job_id: int) -> JobHistory:
        """Job ``job_id`` and every attempt it had (``hymotep.job_history``)."""
        with self.catalog.database().connect() as conn:
            return job_history(conn, job_id)

    def latency(self) -> Latency:
        """Acquisition to registered product per collection over the last day, and the watched sources' newest
        acquisitions."""
        chains = load_chains(self.catalog.settings.collections_dir)
        with self.catalog.database().connect() as conn:
            return production_latency(conn, chains)

    def run(
        self,
        request: RunRequest,
        *,
        on_result: Callable[[JobResult], None] | None = None,
        chain_path: str | None = None,
        client: Any = None,
        stop: threading.Event | None = None,
        run_id: str = "",
    ) -> RunReport:
        """Plan the units of ``request.scope`` (unless ``request.plan`` is False), then run the ready jobs of that
        same scope on its executor until none is ready, planning again as finished jobs make new units runnable
        and waiting for the retries due within a few minutes. ``client``: an open Dask client to run them on
        instead of the request's executor; ``stop``: set, the run claims nothing more and ends with its tasks in
        flight (``hymotep.watch``), its workers reached through ``run_id`` (``hymotep.execution.stop_run``)."""
        from hymotep.executors import dask_client, run_jobs

        config = replace(self.run_config(request, chain_path), run_id=run_id)
        scope = config.request.scope
        chains = load_chains(self.catalog.settings.collections_dir)
        jobs = queue.JobScope.of(chains, scope)

        def planner() -> int:
            return self.plan_jobs(scope)

        def retry_in() -> float | None:
            return queue.next_retry(self.catalog.database().connect, jobs)

        planned = planner() if request.plan else 0
        with nullcontext(client) if client is not None else dask_client(request.executor) as dask:
            report = run_jobs(dask, config, plan=planner if request.plan else None, on_result=on_result,
                              retry_in=None if stop else retry_in, stop=stop)  # fmt: skip
        report.planned += planned
        return report

    def gap_summary(
        self, wanted: work_units.GapFilter, *, by_request: bool = False, by_tile: bool = False
    ) -> list[dict[str, Any]]:
        """Units per collection (and tile, with ``by_tile``) and state; with ``by_request``, per request too (a
        unit two requests ask for counts in each)."""
        chains = load_chains(self.catalog.settings.collections_dir)
        connect = self.catalog.database().connect
        if not by_request:
            return work_units.summarise(connect, chains, wanted, by_tile=by_tile)
        names = list(wanted.requests) or [r.name for r in self.requests()]
        return [
            {"request": name, **row}
            for name in names
            for row in work_units.summarise(connect, chains, replace(wanted, requests=[name]), by_tile=by_tile)
        ]

    def requested_tiles(self) -> list[str]:
        with self.catalog.database().connect() as conn:
            return store.requested_tiles(conn)

    def requested_footprints(self) -> str:
        """Every requested tile's footprint, simplified for a map, as one GeoJSON FeatureCollection."""
        with self.catalog.database().connect() as conn:
            return store.requested_footprints(conn)

    def tile_footprints(self, tiles: list[str]) -> dict[str, dict[str, Any]]:
        """GeoJSON footprints of ``tiles``."""
        with self.catalog.database().connect() as conn:
            return {t.id: t.footprint for t in select_tiles(conn, ids=tiles, with_footprint=True) if t.footprint}

    def estimate(self, name: str | None = None, *, as_of: date | None = None) -> EstimateReport:
        """Tiles, acquisitions, products, CPU-hours and storage a year of one request, or of all of them, and their
        backlog before ``as_of`` (today)."""
        demands, chains, observed = self._demands([name] if name else None)
        return estimate(demands, chains, observed, as_of or date.today())

    def plan_capacity(
        self,
        cpu_hours: float,
        storage_tb: float,
        *,
        as_of: date | None = None,
        apply: bool = False,
        by: str | None = None,
    ) -> CapacityPlan:
        """Which requests fit the budget of the year from ``as_of`` (today), by priority; what is left out and why.
        With ``apply``, each request's decision is recorded (``by``), in one transaction."""
        demands, chains, observed = self._demands(None)
        plan = plan_capacity(demands, chains, observed, cpu_hours, storage_tb, as_of or date.today())
        if not apply:
            return plan
        with self._changing() as (conn, chains):
            changed = decisions.apply_plan(conn, chains, plan, acting_user(by))
        return plan.model_copy(update={"applied": True, "changed": tuple(changed)})

    def _demands(
        self, names: list[str] | None
    ) -> tuple[list[RequestDemand], dict[str, ChainDefinition], dict[tuple[str, str], float]]:
        chains = load_chains(self.catalog.settings.collections_dir)
        with self.catalog.database().connect() as conn:
            requests = [store.get_request(conn, n) for n in names] if names else store.list_requests(conn)
            tiles = store.request_tiles(conn, [r.name for r in requests])
            demands = [
                RequestDemand(
                    name=r.name,
                    priority=r.priority,
                    chains=tuple(r.chains),
                    tiles=tuple(TileDemand(tile=t, latitude=lat) for t, lat in tiles.get(r.name, [])),
                    start=r.start,
                    end=r.end,
                )
                for r in requests
            ]
            observed: dict[tuple[str, str], float] = {}
            every_tile = sorted({t.tile for d in demands for t in d.tiles})
            for source in sorted({source_collection(chains, c) for d in demands for c in d.chains}):
                for tile, per_year in store.observed_acquisitions(conn, source, every_tile).items():
                    observed[(source, tile)] = per_year
        return demands, chains, observed
