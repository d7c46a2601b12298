"""``/metrics`` of ``hesp serve``: parsed with Prometheus' own text parser, its numbers are those of ``hesp status``,
``hesp gaps --summary`` and the STAC API."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import psycopg
from conftest import Server, hesp
from gap_scenario import build
from prometheus_client.parser import text_string_to_metric_families
from test_status import fill_queue

from hymotep.work_units import STATES, GapFilter

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def scrape(url: str) -> Samples:
    """Every sample of ``/metrics`` by name and labels."""
    response = httpx.get(f"{url}/metrics", timeout=60)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples: Samples = defaultdict(dict)
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def by(samples: Samples, name: str, *labels: str) -> dict[tuple[str, ...], float]:
    return {tuple(dict(key)[label] for label in labels): value for key, value in samples[name].items()}


def test_metrics_match_status_gaps_and_the_api(db_url: str, tmp_path: Path, serve: type[Server]) -> None:
    production = build(db_url, tmp_path)
    fill_queue(db_url)
    with psycopg.connect(db_url) as conn:  # three runs of 90 s, 100 s and 4000 s
        for seconds, slot in [(90, 5), (100, 6), (4000, 7)]:
            conn.execute(
                "UPDATE hesp.jobs SET started_at = updated_at - %s * interval '1 second'"
                " WHERE collection = 'maja-l2a' AND chain_version = '1.0' AND slot = %s",
                (seconds, slot),
            )
    server = serve({"HESP_DATABASE_URL": db_url}, args=("--workers", "1"))  # request counts are per process
    httpx.get(f"{server.url}/collections/maja-l2a", timeout=30).raise_for_status()
    samples = scrape(server.url)
    status: dict[str, Any] = json.loads(hesp("status", "-f", "json", env={"HESP_DATABASE_URL": db_url}).stdout)

    assert samples["hesp_database_up"] == {(): 1.0}
    jobs = by(samples, "hesp_jobs", "collection", "state")
    for counts in status["collections"]:
        for state in ("queued", "running", "succeeded", "failed"):
            assert jobs.pop((counts["collection"], state)) == counts[state], (counts["collection"], state)
        for metric, field in [
            ("hesp_jobs_retrying", "retrying"),
            ("hesp_jobs_succeeded_last_hour", "succeeded_last_hour"),
            ("hesp_jobs_succeeded_last_day", "succeeded_last_day"),
        ]:
            assert by(samples, metric, "collection")[(counts["collection"],)] == counts[field], metric
    assert jobs == {}
    assert samples["hesp_stale_leases"] == {(): status["stale_leases"]} == {(): 1}
    failures = {(f["collection"], f["kind"]): f["failed"] + f["retrying"] for f in status["failures"]}
    assert by(samples, "hesp_job_failures", "collection", "kind") == failures
    assert failures[("maja-l2a", "maja exited with code 66")] == 2

    units = by(samples, "hesp_gap_units", "collection", "state")
    summary = production.gap_summary(GapFilter(states=STATES))
    assert units == {(row["collection"], row["state"]): row["units"] for row in summary}
    assert units[("maja-l2a", "done")] == 5

    items = by(samples, "hesp_items", "collection")
    for (collection,), count in items.items():
        page = httpx.get(f"{server.url}/collections/{collection}/items", params={"limit": 1}, timeout=30).json()
        assert page["numberMatched"] == count, collection
    assert items[("maja-l2a",)] == 7

    durations = {le: n for (c, le), n in by(samples, "hesp_job_duration_seconds_bucket", "collection", "le").items()}
    assert (durations["60.0"], durations["120.0"], durations["3600.0"], durations["7200.0"], durations["+Inf"]) == (
        0, 2, 2, 3, 3
    )  # fmt: skip
    assert samples["hesp_job_duration_seconds_sum"] == {(("collection", "maja-l2a"),): 4190.0}

    latency = by(samples, "hesp_api_request_duration_seconds_count", "method", "route", "status")
    assert latency[("GET", "/collections/{collection_id}", "200")] == 1  # the route, not the path
