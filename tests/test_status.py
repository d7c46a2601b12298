"""``hesp status`` on a job queue built by hand, whose counts are known exactly, on a real database."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from conftest import hesp

from hydra.status import error_kind

# (collection, slot, state, attempts, last_error, log_path, worker, lease_until, updated_at): times relative to now.
JOBS = [
    ("maja-l2a", 1, "queued", 0, None, None, None, None, "0 s"),
    ("maja-l2a", 2, "queued", 1, "maja exited with code 66: ERROR no GIPP for 31TCJ", "/s/logs/j2.log", None, None,
     "-10 min"),
    ("maja-l2a", 3, "running", 1, None, None, "node1-11", "5 min", "-2 min"),
    ("maja-l2a", 4, "running", 2, None, None, "node2-22", "-3 min", "-8 min"),  # a stale lease
    ("maja-l2a", 5, "succeeded", 1, None, "/s/logs/j5.log", None, None, "-30 min"),
    ("maja-l2a", 6, "succeeded", 1, None, "/s/logs/j6.log", None, None, "-5 hours"),
    ("maja-l2a", 7, "succeeded", 1, None, "/s/logs/j7.log", None, None, "-2 days"),
    ("maja-l2a", 8, "failed", 3, "maja exited with code 66: ERROR out of memory", "/s/logs/j8.log", None, None,
     "-20 min"),
    ("maja-l2a", 9, "failed", 3, "cannot prepare the job: [Errno 13] Permission denied: '/w/maja-l2a/job-9-3'", None,
     None, None, "-40 min"),
    ("lis-snow", 1, "succeeded", 1, None, "/s/logs/l1.log", None, None, "-30 min"),
    ("lis-snow", 2, "failed", 3, "lease expired: worker node7-1234 stopped renewing it", None, None, None, "-2 hours"),
]  # fmt: skip

COUNTS = {
    "maja-l2a": dict(
        queued=2, retrying=1, running=2, succeeded=3, failed=2, succeeded_last_hour=1, succeeded_last_day=2
    ),
    "lis-snow": dict(
        queued=0, retrying=0, running=0, succeeded=1, failed=1, succeeded_last_hour=1, succeeded_last_day=1
    ),
}


def fill_queue(db_url: str) -> dict[tuple[str, int], int]:
    """The jobs of JOBS; their ids by (collection, slot)."""
    ids = {}
    with psycopg.connect(db_url) as conn:
        for collection, slot, state, attempts, error, log, worker, lease, updated in JOBS:
            row = conn.execute(
                """INSERT INTO hesp.jobs (collection, chain_version, tile, slot, state, attempts, max_attempts,
                                          last_error, log_path, worker, lease_until, updated_at)
                   VALUES (%s, '1.0', '31TCJ', %s, %s, %s, 3, %s, %s, %s,
                           now() + %s::interval, now() + %s::interval)
                   RETURNING id""",
                (collection, slot, state, attempts, error, log, worker, lease, updated),
            ).fetchone()
            assert row is not None
            ids[collection, slot] = row[0]
    return ids


def status(db_url: str, *args: str) -> str:
    done = hesp("status", *args, env={"HESP_DATABASE_URL": db_url})
    assert done.returncode == 0, done.stderr
    return done.stdout


def cells(output: str, first: str) -> list[str]:
    """The cells of the table line that starts with ``first``."""
    for line in output.splitlines():
        parts = [cell.strip() for cell in line.split("│")]
        if parts[0] == first:
            return parts
    raise AssertionError(f"no line for {first} in:\n{output}")


def test_status_json_and_table(db_url: str) -> None:
    ids = fill_queue(db_url)
    report: dict[str, Any] = json.loads(status(db_url, "--format", "json"))

    assert {c.pop("collection"): c for c in report["collections"]} == COUNTS
    assert report["stale_leases"] == 1
    running = [(j["id"], j["worker"], j["attempt"], j["stale"]) for j in report["running"]]
    assert running == [(ids["maja-l2a", 4], "node2-22", 2, True), (ids["maja-l2a", 3], "node1-11", 1, False)]
    assert 7 * 60 < report["running"][0]["heartbeat_age_s"] < 9 * 60
    assert -4 * 60 < report["running"][0]["lease_left_s"] < -2 * 60
    failures = [(f["collection"], f["kind"], f["failed"], f["retrying"], f["example_job"]) for f in report["failures"]]
    assert failures == [
        ("maja-l2a", "maja exited with code 66", 1, 1, ids["maja-l2a", 2]),  # the newest of the two is the example
        ("lis-snow", "lease expired", 1, 0, ids["lis-snow", 2]),
        ("maja-l2a", "cannot prepare the job", 1, 0, ids["maja-l2a", 9]),
    ]
    assert report["failures"][0]["example_log"] == "/s/logs/j2.log"

    text = status(db_url)
    assert cells(text, "maja-l2a")[:8] == ["maja-l2a", "2", "1", "2", "3", "2", "1", "2"]
    assert cells(text, "lis-snow")[:8] == ["lis-snow", "0", "0", "0", "1", "1", "1", "1"]
    assert cells(text, "all") == ["all", "2", "1", "2", "4", "3", "2", "3"]
    stale = cells(text, str(ids["maja-l2a", 4]))
    assert stale[3:5] == ["node2-22", "2/3"] and stale[6].startswith("EXPIRED 3 min ago"), stale
    assert cells(text, str(ids["maja-l2a", 3]))[5:] == ["2 min ago", "5 min left"]
    assert "stale leases: 1 running job(s)" in text
    assert any(
        "maja exited with code 66" in line and "/s/logs/j2.log" in line and str(ids["maja-l2a", 2]) in line
        for line in text.splitlines()
    ), text

    only = json.loads(status(db_url, "--collection", "lis-snow", "--format", "json"))
    assert [c["collection"] for c in only["collections"]] == ["lis-snow"]
    assert only["running"] == [] and only["stale_leases"] == 0 and len(only["failures"]) == 1


def test_status_of_an_empty_queue(db_url: str) -> None:
    assert "no job: `hesp plan`" in status(db_url)
    report = json.loads(status(db_url, "-f", "json"))
    assert report["collections"] == report["running"] == report["failures"] == [] and report["stale_leases"] == 0


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("maja exited with code 66: ERROR no GIPP", "maja exited with code 66"),
        ("maja exited with code 1: other", "maja exited with code 1"),
        ("lease expired: worker node7-1234 stopped renewing it", "lease expired"),
        (
            "job 12: MAJA needs a mode (init, backward or nominal), not None",
            "MAJA needs a mode (init, backward or nominal), not None",
        ),
        ("command 'maja' not found on HESP_CHAIN_PATH or PATH", "command '…' not found on HESP_CHAIN_PATH or PATH"),
        (
            "the GIPP folder /data/gipp/v4 of the maja-l2a chain is missing",
            "the GIPP folder <path> of the maja-l2a chain is missing",
        ),
        (
            "no cams-aerosol input with a aot asset for tile 31TCJ",
            "no cams-aerosol input with a aot asset for tile <tile>",
        ),
        ("output S2A_20230102 is on 31TDJ, not tile 31TCJ", "output S2A_20230102 is on <tile>, not tile <tile>"),
        ("timeout after 3600 s on 2023-02-02", "timeout after <n> s on <date>"),
        ("", "no error recorded"),
        (None, "no error recorded"),
    ],
)
def test_error_kind(error: str | None, kind: str) -> None:
    assert error_kind(error) == kind
