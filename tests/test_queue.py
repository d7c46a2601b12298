"""The job queue on a real database: planning from gaps, concurrent claims, leases, retries."""

from __future__ import annotations

import multiprocessing
import time
from datetime import date
from pathlib import Path

import pytest
from conftest import hesp
from gap_scenario import build, slot_of
from run_scenario import write_request

from hygor import Catalog, Settings
from hymotep.chains import load_chains
from hymotep.production import Production
from hymotep.queue import Job, JobQueue, JobScope, LeaseLost
from hymotep.work_units import STATES, GapFilter

MONTHLY = JobScope(collections=("maja-l3a-monthly",))
SNOW = JobScope(collections=("lis-snow",))


@pytest.fixture
def scenario(db_url: str, tmp_path: Path) -> Production:
    return build(db_url, tmp_path)


def states(production: Production, collection: str) -> dict[str, int]:
    rows = production.gap_summary(GapFilter(collections=[collection]))
    return {row["state"]: row["units"] for row in rows}


def replay_outdated(production: Production, folder: Path) -> None:
    """A campaign replaying 31TCJ's maja-l2a with the installed chain (its Jan 18 L2A is of 4.9.0)."""
    campaign = folder / "campaign.yaml"
    campaign.write_text(
        "name: tcj-4-10\ncollection: maja-l2a\nchain_version: 4.10.0\nzone: {tiles: [31TCJ]}\n"
        "period: {start: 2023-01-01}\npriority: 1\n"
    )
    production.campaigns.add(campaign)


def test_planning_queues_runnable_units_and_outdated_ones_of_a_campaign_once(
    scenario: Production, tmp_path: Path
) -> None:
    before = states(scenario, "maja-l2a")
    queued = scenario.plan_jobs(GapFilter(collections=["maja-l2a"]))
    assert queued == before["runnable"] == 3  # the outdated unit waits for a campaign
    after = states(scenario, "maja-l2a")
    assert after["queued"] == before["queued"] + 3 and "runnable" not in after and after["outdated"] == 1
    replay_outdated(scenario, tmp_path)
    assert scenario.plan_jobs(GapFilter(collections=["maja-l2a"])) == 1
    assert "outdated" not in states(scenario, "maja-l2a")
    with scenario.catalog.database().connect() as conn:
        rows = conn.execute("SELECT priority, campaign FROM hesp.jobs WHERE campaign IS NOT NULL").fetchall()
    assert rows == [{"priority": 1, "campaign": "tcj-4-10"}]
    assert scenario.plan_jobs(GapFilter(collections=["maja-l2a"])) == 0  # planning again: nothing new
    assert scenario.campaigns.remove("tcj-4-10") == 1  # its queued job goes with it
    assert states(scenario, "maja-l2a")["outdated"] == 1

    env = {"HESP_DATABASE_URL": str(scenario.catalog.settings.database_url)}
    planned = hesp("plan", "--collection", "lis-snow", env=env)
    assert planned.returncode == 0 and planned.stdout.strip() == "queued 5 jobs", planned.stderr


def test_jobs_carry_the_mode_of_their_unit(scenario: Production) -> None:
    scenario.plan_jobs(GapFilter(collections=["maja-l2a"], tiles=["31TDJ"]))
    worker = scenario.job_queue("w1")
    maja = JobScope(collections=("maja-l2a",))
    claimed = [job for job in iter(lambda: worker.claim(maja), None) if job.tile == "31TDJ"]
    assert sorted((job.slot, job.mode) for job in claimed)[0][1] == "backward"  # Feb 07 restarts the series
    assert sorted((job.slot, job.mode) for job in claimed)[1][1] == "init"  # Mar 30, with nothing after it
    with scenario.catalog.database().connect() as conn:  # a claim starts the run: its duration for /metrics
        running = conn.execute(
            "SELECT count(*) AS jobs, count(started_at) AS started FROM hesp.jobs WHERE state = 'running'"
        ).fetchone()
    assert running is not None and running["started"] == running["jobs"] >= len(claimed) > 0


def _claim_all(url: str, worker: str, found: multiprocessing.Queue[list[int]]) -> None:
    queue = Production(Catalog(Settings(database_url=url))).job_queue(worker)
    mine = []
    while (job := queue.claim()) is not None:
        mine.append(job.id)
    found.put(mine)


def test_two_workers_never_claim_the_same_job(db_url: str) -> None:
    production = Production(Catalog(Settings(database_url=db_url)))
    with production.catalog.database().connect() as conn:
        conn.execute(
            "INSERT INTO hesp.jobs (collection, chain_version, tile, slot)"
            " SELECT 'maja-l2a', '4.10.0', '31TCJ', n FROM generate_series(1, 300) AS n"
        )
    context = multiprocessing.get_context("spawn")
    found: multiprocessing.Queue[list[int]] = context.Queue()
    workers = [context.Process(target=_claim_all, args=(db_url, f"w{n}", found)) for n in range(2)]
    for process in workers:
        process.start()
    claimed = [found.get(timeout=120) for _ in workers]
    for process in workers:
        process.join(timeout=30)
    assert all(claimed), "both workers got jobs"
    every = claimed[0] + claimed[1]
    assert len(every) == len(set(every)) == 300


def test_an_expired_lease_returns_the_job_and_the_late_worker_records_nothing(scenario: Production) -> None:
    scenario.plan_jobs(GapFilter(collections=["maja-l2a"]))
    slow = scenario.job_queue("slow", lease_s=0.5)
    first = slow.claim()
    assert first is not None
    time.sleep(1.0)  # the slow worker stops renewing its lease
    other = scenario.job_queue("other")
    again = [other.claim() for _ in range(4)]
    taken = next(job for job in again if job and job.id == first.id)
    assert taken.attempts == 2
    assert not slow.renew(first)
    with scenario.catalog.database().connect() as conn, pytest.raises(LeaseLost):
        slow.succeed(conn, first)
    with scenario.catalog.database().connect() as conn:
        other.succeed(conn, taken, log_path="/logs/job.log")
        row = conn.execute("SELECT state, worker, log_path FROM hesp.jobs WHERE id = %s", (first.id,)).fetchone()
    assert row == {"state": "succeeded", "worker": "other", "log_path": "/logs/job.log"}


def test_failures_are_retried_after_a_backoff_then_fail_for_good(scenario: Production) -> None:
    scenario.plan_jobs(GapFilter(collections=["lis-snow"]))
    patient = scenario.job_queue("w", backoff_s=3600)
    job = patient.claim(SNOW)
    assert job is not None and job.max_attempts == 3
    with scenario.catalog.database().connect() as conn:  # this job alone, to follow its attempts
        conn.execute("DELETE FROM hesp.jobs WHERE id <> %s", (job.id,))
    assert patient.fail(job, "exit code 1") == "queued"
    assert patient.claim(SNOW) is None  # waiting for its back-off

    eager = scenario.job_queue("w", backoff_s=0)
    with scenario.catalog.database().connect() as conn:
        conn.execute("UPDATE hesp.jobs SET run_after = now() WHERE id = %s", (job.id,))
    outcomes = []
    for _ in range(2):
        claimed: Job | None = eager.claim(SNOW)
        assert claimed is not None and claimed.id == job.id
        outcomes.append(eager.fail(claimed, "exit code 66: download error", "/logs/lis.log"))
    assert outcomes == ["queued", "failed"]
    failed = [r for r in scenario.gaps(GapFilter(collections=["lis-snow"], states=STATES)) if r["job"] == job.id]
    assert [(r["state"], r["reason"]) for r in failed] == [
        ("failed", f"job {job.id} failed after 3 attempts: exit code 66: download error")
    ]


def claimed_units(production: Production, queue: JobQueue, wanted: GapFilter) -> set[tuple[str, int]]:
    """(tile, slot) of every job a run of ``wanted`` claims; they are put back in the queue afterwards."""
    scope = JobScope.of(load_chains(production.catalog.settings.collections_dir), wanted)
    units = {(job.tile, job.slot) for job in iter(lambda: queue.claim(scope), None)}
    with production.catalog.database().connect() as conn:
        conn.execute("UPDATE hesp.jobs SET state = 'queued', worker = NULL, lease_until = NULL WHERE state = 'running'")
    return units


def test_a_claim_takes_only_the_jobs_of_its_runs_filter(scenario: Production, tmp_path: Path) -> None:
    """Jobs queued for every tile and date; a run of one tile, of some dates or of one request claims those
    only, as its planning would have planned them (a request for lis-snow asks for its maja-l2a)."""
    replay_outdated(scenario, tmp_path)
    scenario.plan_jobs(GapFilter(collections=["maja-l2a"]))
    scenario.add_request(write_request(tmp_path, "march", "lis-snow", "2023-03-01", "2023-03-31", ("31TDJ",)))
    with scenario.catalog.database().connect() as conn:
        days = [("31TCJ", "01-18"), ("31TCJ", "01-23"), ("31TCJ", "02-12"), ("31TDJ", "02-07"), ("31TDJ", "03-30")]
        unit = {(tile, day): (tile, slot_of(conn, tile, day)) for tile, day in days}
    queue = scenario.job_queue("w")
    maja = ["maja-l2a"]
    assert claimed_units(scenario, queue, GapFilter(collections=maja)) == set(unit.values())
    assert claimed_units(scenario, queue, GapFilter(collections=maja, tiles=["31TDJ"])) == {
        unit["31TDJ", "02-07"],
        unit["31TDJ", "03-30"],
    }
    february = GapFilter(collections=maja, since=date(2023, 2, 1), until=date(2023, 2, 28))
    assert claimed_units(scenario, queue, february) == {unit["31TCJ", "02-12"], unit["31TDJ", "02-07"]}
    assert claimed_units(scenario, queue, GapFilter(requests=["march"])) == {unit["31TDJ", "03-30"]}
    assert claimed_units(scenario, queue, GapFilter(collections=["lis-snow"])) == set()
