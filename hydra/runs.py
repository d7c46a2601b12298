"""The jobs' runs as pandas frames, for capacity analyses in notebooks: how long each job ran
(``job_runs``) and the capacity used per collection and month (``capacity_used``).

The job queue keeps each job's current attempt only (``hymotep.queue_status.job_runs``: claimed at
``started_at``, ended at ``ended_at``): the attempts of a retried job before its last are not counted, and jobs
that ran before the claim time was kept (hymotep's migration 0003) are not known. The capacity used is therefore
a lower bound. CPU-hours are wall-clock hours times the threads of the job's chain, as its resource profile gives them
(``cpu_hours`` per product over ``wall_minutes``): the queue does not measure CPU time.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas

from hygor import Catalog
from hymotep.chains import load_chains
from hymotep.queue_status import JobRun
from hymotep.queue_status import job_runs as queue_runs

RUN_COLUMNS = tuple(JobRun.model_fields)
CAPACITY_COLUMNS = ("runs", "succeeded", "failed", "hours", "cpu_hours")


def job_runs(collection: str | Sequence[str] = (), *, catalog: Catalog | None = None) -> pandas.DataFrame:
    """One row per job that ran (columns ``RUN_COLUMNS``), oldest first: its last attempt, claimed at
    ``started_at``; ``ended_at`` and ``duration_s`` are missing while it runs. ``state`` is the job's state now:
    ``queued`` for one waiting to be retried after a failed attempt."""
    collections = [collection] if isinstance(collection, str) else list(collection)
    catalog = catalog or Catalog()
    with catalog.database().connect() as conn:
        runs = queue_runs(conn, collections)
    frame = pandas.DataFrame.from_records([run.model_dump() for run in runs], columns=list(RUN_COLUMNS))
    for column in ("started_at", "ended_at"):
        frame[column] = pandas.to_datetime(frame[column], utc=True)
    return frame.astype({"duration_s": "float64"})


def capacity_used(collection: str | Sequence[str] = (), *, catalog: Catalog | None = None) -> pandas.DataFrame:
    """Runs that ended, per collection and month of their start (UTC; index ``collection``, ``month`` as the
    first day of the month): how many, how many succeeded and failed (``failed`` counts the attempts that failed,
    whether the job is retried or not), their wall-clock ``hours`` and the ``cpu_hours`` they used, estimated
    from their chain's threads."""
    catalog = catalog or Catalog()
    runs = job_runs(collection, catalog=catalog).dropna(subset=["duration_s"])
    chains = load_chains(catalog.settings.collections_dir)
    threads = {
        name: chain.resources.cpu_hours / (chain.resources.wall_minutes / 60)
        for name, chain in chains.items()
        if chain.resources.wall_minutes > 0
    }
    hours = runs["duration_s"] / 3600
    used = pandas.DataFrame(
        {
            "collection": runs["collection"],
            "month": runs["started_at"].dt.tz_localize(None).dt.to_period("M").dt.to_timestamp(),
            "runs": 1,
            "succeeded": (runs["state"] == "succeeded").astype(int),
            "failed": (runs["state"] != "succeeded").astype(int),
            "hours": hours,
            "cpu_hours": hours * runs["collection"].map(threads),
        }
    )
    return used.groupby(["collection", "month"]).sum(min_count=1)[list(CAPACITY_COLUMNS)]
