"""``Production``: the production workshop's Python API, over a ``hygor.Catalog``; the CLI and notebooks use it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from hygor import Catalog
from hygor.tiles import select_tiles
from hymotep import queue, store, work_units
from hymotep.chains import ChainDefinition, ChainError, load_chains, source_collection
from hymotep.estimate import CapacityPlan, EstimateReport, RequestDemand, TileDemand, estimate, plan_capacity
from hymotep.execution import JobResult, RunConfig
from hymotep.executors import RunReport, run_jobs
from hymotep.requests import load_request_file, produced_chains
from hymotep.store import StoredRequest


class Production:
    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or Catalog()

    def add_request(self, path: Path, *, replace: bool = False) -> StoredRequest:
        """Validate a request file, resolve its zone to tiles and store it; nothing is stored on any fault."""
        request = load_request_file(path, produced_chains(self.catalog.settings.collections_dir))
        with self.catalog.database().connect() as conn:
            return store.add_request(conn, request, replace=replace)

    def requests(self) -> list[StoredRequest]:
        with self.catalog.database().connect() as conn:
            return store.list_requests(conn)

    def request(self, name: str) -> StoredRequest:
        with self.catalog.database().connect() as conn:
            return store.get_request(conn, name)

    def remove_request(self, name: str) -> None:
        with self.catalog.database().connect() as conn:
            store.remove_request(conn, name)

    def gaps(self, wanted: work_units.GapFilter) -> Iterator[dict[str, Any]]:
        """The units of work in ``wanted.states``, streamed (see ``hymotep.work_units``)."""
        chains = load_chains(self.catalog.settings.collections_dir)
        yield from work_units.iter_gaps(self.catalog.database().connect, chains, wanted)

    def gaps_csv(self, wanted: work_units.GapFilter) -> Iterator[bytes]:
        """The same as CSV, written by the database server."""
        chains = load_chains(self.catalog.settings.collections_dir)
        yield from work_units.copy_gaps_csv(self.catalog.database().connect, chains, wanted)

    def plan_jobs(self, wanted: work_units.GapFilter) -> int:
        """Queue a job for every runnable or outdated unit; the number queued."""
        chains = load_chains(self.catalog.settings.collections_dir)
        return queue.plan_jobs(self.catalog.database().connect, chains, wanted)

    def retry_failed(self, wanted: work_units.GapFilter) -> int:
        """Failed jobs of ``wanted``'s collections and tiles queued again with fresh attempts; how many."""
        tiles = list(wanted.tiles) or None
        return queue.retry_failed(self.catalog.database().connect, list(wanted.collections) or None, tiles)

    def job_queue(self, worker: str, **options: float) -> queue.JobQueue:
        """A worker's handle on the job queue (``lease_s``, ``backoff_s``)."""
        return queue.JobQueue(self.catalog.database().connect, worker, **options)

    def runnable_collections(self, wanted: list[str] | None = None) -> tuple[str, ...]:
        """The produced collections whose chain has a command (all of them, or those of ``wanted``)."""
        chains = load_chains(self.catalog.settings.collections_dir)
        for name in wanted or []:
            if name not in chains:
                raise ChainError(f"{name} is not a produced collection (known: {', '.join(sorted(chains))})")
            if chains[name].run is None:
                raise ChainError(f"the chain of {name} has no run section in its chain.yaml: it cannot run here")
        return tuple(sorted(wanted or [c for c, chain in chains.items() if chain.run is not None]))

    def run_config(self, collections: tuple[str, ...], **options: Any) -> RunConfig:
        """What workers need to run the jobs of ``collections`` (options: lease_s, backoff_s, keep_work)."""
        settings = self.catalog.settings
        return RunConfig(
            database_url=self.catalog.database().url,
            collections_dir=settings.collections_dir.absolute(),
            storage_root=settings.storage_root,
            work_root=settings.work_root,
            chain_path=settings.chain_search_path,
            collections=collections,
            **options,
        )

    def run(
        self,
        wanted: work_units.GapFilter,
        client: Any,
        config: RunConfig,
        *,
        plan: bool = True,
        max_jobs: int | None = None,
        on_result: Callable[[JobResult], None] | None = None,
    ) -> RunReport:
        """Plan ``wanted`` (unless ``plan`` is False), then run the ready jobs of ``config.collections`` on the
        Dask ``client`` until none is ready, planning again as finished jobs make new units runnable and waiting
        for the retries due within a few minutes."""
        scoped = replace(wanted, collections=config.collections or ())

        def planner() -> int:
            return self.plan_jobs(scoped)

        def retry_in() -> float | None:
            return queue.next_retry(self.catalog.database().connect, list(config.collections or ()) or None)

        planned = planner() if plan else 0
        report = run_jobs(
            client, config, max_jobs=max_jobs, plan=planner if plan else None, on_result=on_result, retry_in=retry_in
        )
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

    def tile_footprints(self, tiles: list[str]) -> dict[str, dict[str, Any]]:
        """GeoJSON footprints of ``tiles``."""
        with self.catalog.database().connect() as conn:
            return {t.id: t.footprint for t in select_tiles(conn, ids=tiles, with_footprint=True) if t.footprint}

    def estimate(self, name: str | None = None) -> EstimateReport:
        """Tiles, acquisitions, products, CPU-hours and storage a year of one request, or of all of them."""
        demands, chains, observed = self._demands([name] if name else None)
        return estimate(demands, chains, observed)

    def plan_capacity(self, cpu_hours: float, storage_tb: float) -> CapacityPlan:
        """Which requests fit a yearly budget, by priority; what is left out and why."""
        demands, chains, observed = self._demands(None)
        return plan_capacity(demands, chains, observed, cpu_hours, storage_tb)

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
