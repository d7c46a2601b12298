"""``hesp watch``: continuous production. Until stopped, each pass harvests the sources that are due, then plans
and runs what became runnable (``Production.run`` on one Dask client kept for the watch's life).

Several watch processes on one database share the work: a source is harvested by the process holding its
advisory lock, and only when its interval has passed since any process last started it (``hesp.watch_sources``);
jobs are claimed from the one queue (``FOR UPDATE SKIP LOCKED``).

Stopping (``terminate``, on SIGTERM or SIGINT): nothing more is harvested nor claimed (the workers are told to
drain, ``hymotep.execution.stop_run``); the jobs running get ``grace_s`` to finish, then their chains are stopped
and their jobs released: back to the queue at once, the attempt kept as ``released``, their work directories
removed. A product is registered in one transaction with its job's success, so none is left half-registered.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hygor.errors import DatabaseUnreachable
from hygor.harvest import HarvestQuery
from hymotep.execution import stop_run
from hymotep.executors import RunReport, dask_client
from hymotep.production import Production
from hymotep.run_request import RunRequest
from hymotep.sql import watch_query
from hymotep.watch_sources import Source

POLL_S = 30.0
GRACE_S = 60.0
HURRY_POLL_S = 0.2


@dataclass
class PassReport:
    """One pass: items harvested per source (None: not due, or another process had it), errors, the run."""

    harvested: dict[str, int | None] = field(default_factory=dict)
    harvest_errors: dict[str, str] = field(default_factory=dict)
    run: RunReport | None = None

    @property
    def eventful(self) -> bool:
        """Something was harvested (even nothing new), planned or run, or a harvest failed."""
        run = self.run
        return any(n is not None for n in self.harvested.values()) or bool(run and (run.planned or run.ran))

    def line(self) -> str:
        """``harvested 3 (s2: 3, peer: not due), planned 3, ran 3: 3 succeeded, 0 retried, 0 failed, 0 released``"""
        parts = [
            f"{name}: {'error' if name in self.harvest_errors else 'not due' if n is None else n}"
            for name, n in self.harvested.items()
        ]
        total = sum(n or 0 for n in self.harvested.values())
        text = f"harvested {total} ({', '.join(parts)})"
        run = self.run
        if run is not None:
            text += (f", planned {run.planned}, ran {run.ran}: {run.succeeded} succeeded, {run.retried} retried, "
                     f"{run.failed} failed, {run.released} released")  # fmt: skip
        for name, error in self.harvest_errors.items():
            text += f"\n  {name}: harvest failed: {error}"
        return text


class Watch:
    """The watch loop of one process; ``terminate`` (from a signal handler) stops it gracefully."""

    def __init__(
        self, production: Production, sources: list[Source], request: RunRequest, *, poll_s: float = POLL_S,
        grace_s: float = GRACE_S, say: Callable[[str], None] = print,
    ) -> None:  # fmt: skip
        self.production = production
        self.sources = sources
        self.request = request
        self.poll_s = poll_s
        self.grace_s = grace_s
        self.say = say
        self.run_id = uuid.uuid4().hex
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.stopping = threading.Event()
        self._hurry = threading.Event()  # a second signal: release the running jobs now
        self._idle = threading.Event()  # no run in progress
        self._idle.set()
        self._client: Any = None
        self._wind_down: threading.Thread | None = None

    def serve(self, *, once: bool = False) -> list[PassReport]:
        """Pass after pass until stopped (one pass with ``once``); the reports of the passes."""
        reports: list[PassReport] = []
        with dask_client(self.request.executor) as client:
            self._client = client
            while not self.stopping.is_set():
                report = self.one_pass(client)
                reports.append(report)
                if report.eventful or once:
                    self.say(report.line())
                if once:
                    break
                self.stopping.wait(self._sleep_s())
            if self._wind_down is not None:
                self._wind_down.join()
        return reports

    def one_pass(self, client: Any) -> PassReport:
        report = PassReport()
        for source in self.sources:
            if self.stopping.is_set():
                return report
            try:
                report.harvested[source.name] = self._harvest_if_due(source)
            except DatabaseUnreachable:
                raise
            except Exception as exc:  # noqa: BLE001 - an upstream out of reach must not stop the service
                report.harvested[source.name] = 0
                report.harvest_errors[source.name] = " ".join(str(exc).split())[:300] or type(exc).__name__
        with self._running():
            if not self.stopping.is_set():
                report.run = self.production.run(self.request, client=client, stop=self.stopping, run_id=self.run_id)
        return report

    def terminate(self) -> None:
        """Stop claiming and harvesting; the running jobs get ``grace_s`` to finish, then are released (at once
        on a second call). Safe in a signal handler: the workers are reached from a thread."""
        if self.stopping.is_set():
            self._hurry.set()
            return
        self.stopping.set()
        self._wind_down = threading.Thread(target=self._stop_workers, name="watch-stop", daemon=True)
        self._wind_down.start()

    def _stop_workers(self) -> None:
        client = self._client
        if client is None:
            return
        client.run(stop_run, self.run_id, "drain")
        deadline = time.monotonic() + self.grace_s
        while not self._idle.wait(HURRY_POLL_S):
            if self._hurry.is_set() or time.monotonic() > deadline:
                self.say("stopping: the jobs still running are stopped and released")
                client.run(stop_run, self.run_id, "release")
                return

    @contextmanager
    def _running(self) -> Iterator[None]:
        self._idle.clear()
        try:
            yield
        finally:
            self._idle.set()

    def _harvest_if_due(self, source: Source) -> int | None:
        """Harvest ``source`` when it is due and no other process harvests it; the items loaded (new or changed),
        None when it was not this process's turn."""
        database = self.production.catalog.database()
        tiles = list(source.tiles) or self.production.requested_tiles()
        with database.connect(autocommit=True) as lock:
            if not lock.execute(watch_query("lock_source"), {"name": source.name}).fetchone()["locked"]:  # type: ignore[index]
                return None
            try:
                params = {"name": source.name, "collection": source.collection, "tiles": tiles,
                          "worker": self.worker, "interval_s": source.interval.total_seconds()}  # fmt: skip
                if lock.execute(watch_query("start_source"), params).fetchone() is None:
                    return None
                items, error = 0, None
                try:
                    items = self._harvest(source, tiles)
                except DatabaseUnreachable:
                    raise
                except Exception as exc:
                    error = " ".join(str(exc).split())[:1000] or type(exc).__name__
                    raise
                finally:
                    lock.execute(watch_query("end_source"), {"name": source.name, "items": items, "error": error})
                return items
            finally:
                lock.execute(watch_query("unlock_source"), {"name": source.name})

    def _harvest(self, source: Source, tiles: list[str]) -> int:
        if not tiles:
            return 0  # no request asks for a tile yet
        query = HarvestQuery(
            source_url=source.url, collection=source.collection, source_collection=source.upstream_collection,
            tiles=tuple(tiles), start=source.since,
        )  # fmt: skip
        report = self.production.catalog.harvest(query, settle=source.settle)
        if report.rejected:
            first = report.rejected[0]
            self.say(f"{source.name}: {len(report.rejected)} item(s) rejected, first {first.item_id}: {first.reason}")
        return report.ingested + report.updated

    def _sleep_s(self) -> float:
        """Until the next source is due, at most ``poll_s`` (jobs waiting for a retry, work queued by others)."""
        names = [s.name for s in self.sources]
        with self.production.catalog.database().connect() as conn:
            ages = {r["name"]: r["age_s"] for r in conn.execute(watch_query("source_starts"), {"names": names})}
        waits = [s.interval.total_seconds() - ages[s.name] if s.name in ages else 0.0 for s in self.sources]
        return max(0.0, min([self.poll_s, *waits]))
