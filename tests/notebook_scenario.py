"""The database the notebooks are run against: the gap scenario (tests/gap_scenario.py) and the runs of its jobs.

Besides the scenario's queued and failed jobs, the products it holds were made by jobs whose runs are known:
maja-l2a on both tiles a day after each acquisition (40 to 55 minutes each), lis-snow on 31TCJ on Jan 03
(8 minutes). The failed job of 31TCJ Jan 28 ran its last attempt 20 minutes on Jan 31, and 31TCJ Feb 12 is
running. Runs span January and February 2023.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import gap_scenario
from gap_scenario import at, slot_of

from hymotep.production import Production

# (collection, chain version, tile, day, state, minutes): the runs of the jobs that made the scenario's products.
RUNS = [
    ("maja-l2a", "4.10.0", "31TCJ", "01-03", "succeeded", 44),
    ("maja-l2a", "4.10.0", "31TCJ", "01-08", "succeeded", 47),
    ("maja-l2a", "4.10.0", "31TCJ", "01-13", "succeeded", 41),
    ("maja-l2a", "4.10.0", "31TCJ", "02-07", "succeeded", 52),
    ("maja-l2a", "4.10.0", "31TDJ", "01-03", "succeeded", 49),
    ("maja-l2a", "4.10.0", "31TDJ", "01-08", "succeeded", 55),
    ("lis-snow", "1.7.0", "31TCJ", "01-03", "succeeded", 8),
]
FAILED_RUN = ("31TCJ", "01-28", "01-31", 20)  # tile, acquisition, day of the last attempt, minutes
RUNNING = ("31TCJ", "02-12")


def build(database_url: str, tmp_path: Path) -> Production:
    """The gap scenario with the runs above."""
    production = gap_scenario.build(database_url, tmp_path)
    with production.catalog.database().connect() as conn:
        for collection, version, tile, day, state, minutes in RUNS:
            started = at(day) + timedelta(days=1)
            conn.execute(
                "INSERT INTO hesp.jobs (collection, chain_version, tile, slot, state, attempts, worker, started_at,"
                " created_at, updated_at) VALUES (%s, %s, %s, %s, %s, 1, 'node-1', %s, %s, %s)",
                (collection, version, tile, slot_of(conn, tile, day), state, started, started,
                 started + timedelta(minutes=minutes)),
            )  # fmt: skip
        tile, day, ran, minutes = FAILED_RUN
        started = at(ran)
        conn.execute(
            "UPDATE hesp.jobs SET started_at = %s, updated_at = %s, worker = 'node-2'"
            " WHERE collection = 'maja-l2a' AND tile = %s AND slot = %s",
            (started, started + timedelta(minutes=minutes), tile, slot_of(conn, tile, day)),
        )
        tile, day = RUNNING
        conn.execute(
            "INSERT INTO hesp.jobs (collection, chain_version, tile, slot, mode, state, attempts, worker, started_at,"
            " lease_until) VALUES ('maja-l2a', '4.10.0', %s, %s, 'nominal', 'running', 1, 'node-1', now(),"
            " now() + interval '1 hour')",
            (tile, slot_of(conn, tile, day)),
        )
    return production
