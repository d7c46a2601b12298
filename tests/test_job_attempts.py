"""Every attempt of a job is kept (``hesp.job_attempts``), by the queue's own statements, and shown by ``hesp status
--job ID``; jobs that ran before hymotep migration 0006 get their last attempt back from the job row."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg
import pytest
from conftest import hesp
from gap_scenario import build

from hygor import Catalog, Settings
from hymotep.production import Production
from hymotep.queue import JobScope, LeaseLost
from hymotep.work_units import GapFilter

SNOW = JobScope(collections=("lis-snow",))


@pytest.fixture
def scenario(db_url: str, tmp_path: Path) -> Production:
    return build(db_url, tmp_path)


def attempts(production: Production, job: int) -> list[tuple[object, ...]]:
    with production.catalog.database().connect() as conn:
        rows = conn.execute(
            "SELECT attempt, worker, outcome, error, log_path, started_at IS NOT NULL AS started,"
            " ended_at IS NOT NULL AS ended FROM hesp.job_attempts WHERE job = %s ORDER BY id",
            (job,),
        ).fetchall()
    return [tuple(row.values()) for row in rows]


def test_every_attempt_is_kept_and_shown(scenario: Production) -> None:
    scenario.plan_jobs(GapFilter(collections=["lis-snow"]))
    first = scenario.job_queue("w1", backoff_s=0, lease_s=0.5)
    job = first.claim(SNOW)
    assert job is not None
    with scenario.catalog.database().connect() as conn:  # this job alone, to follow its attempts
        conn.execute("DELETE FROM hesp.jobs WHERE id <> %s", (job.id,))
    assert attempts(scenario, job.id) == [(1, "w1", "running", None, None, True, False)]
    time.sleep(1.0)  # w1 stops renewing its lease: w2's claim puts the job back, then takes it
    second = scenario.job_queue("w2", backoff_s=0)
    again = second.claim(SNOW)
    assert again is not None and again.id == job.id and again.attempts == 2
    assert second.fail(again, "exit code 66: download error", "/logs/2.log") == "queued"
    third = second.claim(SNOW)
    assert third is not None and third.attempts == 3
    second.release(third, "the run was stopped", "/logs/3.log")  # given back: not counted
    fourth = second.claim(SNOW)
    assert fourth is not None and fourth.attempts == 3
    with scenario.catalog.database().connect() as conn:
        second.succeed(conn, fourth, "/logs/3.2.log")
    with scenario.catalog.database().connect() as conn, pytest.raises(LeaseLost):
        first.succeed(conn, job)  # the late worker records nothing, not even its attempt
    lease_expired = "lease expired: worker w1 stopped renewing it"
    assert attempts(scenario, job.id) == [
        (1, "w1", "lease-expired", lease_expired, None, True, True),
        (2, "w2", "failed", "exit code 66: download error", "/logs/2.log", True, True),
        (3, "w2", "released", "the run was stopped", "/logs/3.log", True, True),
        (3, "w2", "succeeded", None, "/logs/3.2.log", True, True),
    ]

    env = {"HESP_DATABASE_URL": str(scenario.catalog.settings.database_url)}
    shown = hesp("status", "--job", str(job.id), "--format", "json", env=env)
    assert shown.returncode == 0, shown.stderr
    history = json.loads(shown.stdout)
    assert history["state"] == "succeeded" and history["attempts"] == 3
    assert [a["outcome"] for a in history["history"]] == ["lease-expired", "failed", "released", "succeeded"]
    assert all(a["duration_s"] is not None and a["duration_s"] >= 0 for a in history["history"])
    table = hesp("status", "--job", str(job.id), env=env)
    assert table.returncode == 0, table.stderr
    assert "state succeeded, attempt 3 of 3" in table.stdout and "lease-expired" in table.stdout
    assert "/logs/2.log" in table.stdout and "released" in table.stdout
    unknown = hesp("status", "--job", "999999", env=env)
    assert unknown.returncode == 1 and unknown.stderr.strip() == "error: no job 999999"


def test_jobs_that_ran_before_the_migration_get_their_last_attempt(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:  # a database of the previous version, with jobs in every state
        conn.execute("DROP TABLE hesp.job_attempts, hesp.watch_sources")
        conn.execute("DELETE FROM hesp.schema_migrations WHERE stream = 'hymotep' AND version = 6")
        conn.execute(
            "INSERT INTO hesp.jobs (collection, chain_version, tile, slot, state, attempts, worker, last_error,"
            " log_path, started_at, lease_until) VALUES"
            " ('maja-l2a', '4.10.0', '31TCJ', 1, 'queued', 0, NULL, NULL, NULL, NULL, NULL),"
            " ('maja-l2a', '4.10.0', '31TCJ', 2, 'running', 1, 'h:1', NULL, NULL, now(), now() + interval '1 h'),"
            " ('maja-l2a', '4.10.0', '31TCJ', 3, 'succeeded', 2, 'h:2', NULL, '/l/3.log', now(), NULL),"
            " ('maja-l2a', '4.10.0', '31TCJ', 4, 'failed', 3, NULL, 'exit code 1: x', '/l/4.log', NULL, NULL),"
            " ('maja-l2a', '4.10.0', '31TCJ', 5, 'queued', 1, NULL, 'lease expired: worker h:9 stopped renewing it',"
            "  NULL, now(), NULL)"
        )
    assert Production(Catalog(Settings(database_url=db_url))).init().migrations_applied == ["0006_watch (hymotep)"]
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT j.slot, a.attempt, a.worker, a.outcome, a.error, a.log_path, a.started_at IS NOT NULL,"
            " a.ended_at IS NOT NULL FROM hesp.job_attempts a JOIN hesp.jobs j ON j.id = a.job ORDER BY j.slot"
        ).fetchall()
    assert rows == [
        (2, 1, "h:1", "running", None, None, True, False),
        (3, 2, "h:2", "succeeded", None, "/l/3.log", True, True),
        (4, 3, None, "failed", "exit code 1: x", "/l/4.log", False, True),
        (5, 1, None, "lease-expired", "lease expired: worker h:9 stopped renewing it", None, True, True),
    ]
