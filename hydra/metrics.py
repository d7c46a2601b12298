"""Prometheus metrics of the centre, served at ``/metrics`` by ``hesp serve``.

The numbers are read from the database when Prometheus scrapes, so that every server reports the same state
whoever changed it (workers on other machines, ``hesp plan``): the job queue in one snapshot, as ``hesp status``
reads it (the same query), the durations of the jobs' last runs, the units of work per collection and state, and
the items per collection. Units and items take seconds to count over tens of millions of rows: they are cached
for ``slow_ttl_s``. The API's own request latency is measured in this process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from itertools import accumulate
from typing import Any, Generic, TypeVar

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from hydra.campaign_status import campaign_units
from hydra.latency import latency_metrics
from hydra.sql import catalogue_query
from hydra.status import production_status
from hygor.errors import HygorError
from hymotep.production import Production
from hymotep.queue_status import run_durations
from hymotep.work_units import GapFilter

DURATION_BOUNDS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0)
LATENCY_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SLOW_TTL_S = 60.0
JOB_STATES = ("queued", "running", "succeeded", "failed")

T = TypeVar("T")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Cached(Generic[T]):
    """The value of ``compute()``, computed again once it is ``ttl_s`` old; one computation at a time."""

    def __init__(self, compute: Callable[[], T], ttl_s: float) -> None:
        self._compute, self._ttl_s = compute, ttl_s
        self._value: T | None = None
        self._at = float("-inf")
        self._lock = threading.Lock()

    def get(self) -> T:
        with self._lock:
            if self._value is None or time.monotonic() - self._at > self._ttl_s:
                self._value, self._at = self._compute(), time.monotonic()
            return self._value


class ProductionCollector(Collector):
    """The ``hesp_*`` metrics of the database, collected at each scrape."""

    def __init__(self, production: Production, slow_ttl_s: float = SLOW_TTL_S) -> None:
        self._production = production
        self._units = Cached(self._unit_counts, slow_ttl_s)
        self._items = Cached(self._item_counts, slow_ttl_s)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("hesp_database_up", "1 when the database answered this scrape, 0 otherwise")
        try:
            metrics = [*self._queue(), self._durations(), self._gap_units(), self._item_metric(), *self._latency()]
        except HygorError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from metrics

    def _queue(self) -> list[Metric]:
        status = production_status(self._production.catalog.database().connect)
        jobs = GaugeMetricFamily("hesp_jobs", "Jobs by collection and state", labels=["collection", "state"])
        retrying = GaugeMetricFamily(
            "hesp_jobs_retrying", "Queued jobs that failed before and wait for a retry", labels=["collection"]
        )
        hour = GaugeMetricFamily(
            "hesp_jobs_succeeded_last_hour", "Jobs that succeeded in the last hour", labels=["collection"]
        )
        day = GaugeMetricFamily(
            "hesp_jobs_succeeded_last_day", "Jobs that succeeded in the last 24 hours", labels=["collection"]
        )
        for counts in status.collections:
            for state in JOB_STATES:
                jobs.add_metric([counts.collection, state], getattr(counts, state))
            retrying.add_metric([counts.collection], counts.retrying)
            hour.add_metric([counts.collection], counts.succeeded_last_hour)
            day.add_metric([counts.collection], counts.succeeded_last_day)
        stale = GaugeMetricFamily("hesp_stale_leases", "Running jobs whose worker stopped renewing the lease")
        stale.add_metric([], status.stale_leases)
        failures = GaugeMetricFamily(
            "hesp_job_failures",
            "Failed jobs and jobs waiting for a retry, by collection and error kind (hesp status)",
            labels=["collection", "kind"],
        )
        for failure in status.failures:
            failures.add_metric([failure.collection, failure.kind], failure.failed + failure.retrying)
        return [jobs, retrying, hour, day, stale, failures, campaign_units(status.campaigns)]

    def _durations(self) -> Metric:
        histogram = HistogramMetricFamily(
            "hesp_job_duration_seconds",
            "Duration of the last run of each succeeded job, claim to success",
            labels=["collection"],
        )
        with self._production.catalog.database().connect() as conn:
            rows = run_durations(conn, DURATION_BOUNDS)
        per_collection: dict[str, list[float]] = {}
        seconds: dict[str, float] = {}
        for row in rows:
            buckets = per_collection.setdefault(row.collection, [0.0] * (len(DURATION_BOUNDS) + 1))
            buckets[row.bucket] += row.runs
            seconds[row.collection] = seconds.get(row.collection, 0.0) + row.seconds
        for collection, buckets in sorted(per_collection.items()):
            bounds = [*map(str, DURATION_BOUNDS), "+Inf"]
            histogram.add_metric(
                [collection], list(zip(bounds, accumulate(buckets), strict=True)), sum_value=seconds[collection]
            )
        return histogram

    def _latency(self) -> list[Metric]:
        return latency_metrics(self._production.latency())

    def _gap_units(self) -> Metric:
        units = GaugeMetricFamily(
            "hesp_gap_units", "Units of work the requests ask for, by collection and state (hesp gaps --summary)",
            labels=["collection", "state"],
        )  # fmt: skip
        for row in self._units.get():
            units.add_metric([row["collection"], row["state"]], row["units"])
        return units

    def _item_metric(self) -> Metric:
        items = GaugeMetricFamily("hesp_items", "Items per collection in the catalogue", labels=["collection"])
        for row in self._items.get():
            items.add_metric([row["collection"]], row["items"])
        return items

    def _unit_counts(self) -> list[dict[str, Any]]:
        return self._production.gap_summary(GapFilter())  # every state

    def _item_counts(self) -> list[dict[str, Any]]:
        with self._production.catalog.database().connect() as conn:
            return conn.execute(catalogue_query("items")).fetchall()


class RequestLatency:
    """ASGI middleware timing every HTTP request by method, route template (not the path: bounded labels) and
    status code."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.seconds = Histogram(
            "hesp_api_request_duration_seconds", "Time to answer an HTTP request of the STAC API or the dashboard",
            ["method", "route", "status"], registry=registry, buckets=LATENCY_BOUNDS,
        )  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def remember_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, remember_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path_format", None) or getattr(route, "path", None) or "unmatched"
            self.seconds.labels(scope["method"], template, str(status)).observe(time.perf_counter() - start)
