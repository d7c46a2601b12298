"""Option parsing shared by the commands."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from hymotep.run_request import BATCH_SYSTEMS, EXECUTOR_KINDS

By = Annotated[str | None, typer.Option("--by", help="Who acts (default: the OS user).")]
AsOf = Annotated[
    datetime | None,
    typer.Option(
        "--as-of",
        formats=["%Y-%m-%d"],
        help="The day estimates are made on: the backlog is what the "
        "requests' periods hold before it, a budget year starts then (default: today).",
    ),
]


def day(value: datetime | None) -> date | None:
    """The date of a date option."""
    return value.date() if value else None


def comma_list(values: list[str] | None) -> list[str] | None:
    """Typer callback: ``--tile 31TCJ,31TDJ --tile 31TCH`` is the list of the three."""
    if values is None:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def one_of(values: Sequence[str]) -> Callable[[str], str]:
    """A parser of an option whose choices are the library's own values (a Literal's), not a list repeated here;
    a comma-separated list of them passes too (``comma_list`` splits it)."""

    def parse(value: str) -> str:
        for part in value.split(","):
            if part.strip() not in values:
                raise typer.BadParameter(f"{part.strip()!r} is not one of {', '.join(values)}")
        return value

    return parse


# The batch workers' options that `hesp run` and `hesp doctor` share.
JobQueueOption = Annotated[
    str | None, typer.Option(parser=one_of(BATCH_SYSTEMS), help="The batch system of the workers: Slurm or PBS.")
]
SiteOption = Annotated[
    Path | None, typer.Option(help="Site file of the batch workers (default HESP_SITE_CONFIG); flags win over it.")
]
QueueOption = Annotated[str | None, typer.Option(help="Batch queue (partition) of the workers.")]


# The executor's options of `hesp run` and `hesp watch` (the local cluster's default size is the machine's cores).
ExecutorOption = Annotated[
    str,
    typer.Option(parser=one_of(EXECUTOR_KINDS), help="local: a Dask cluster on this machine; dask: --scheduler."),
]
WorkersOption = Annotated[int, typer.Option(min=1, help="Worker processes of the local cluster.")]
DEFAULT_WORKERS = os.cpu_count() or 1
SchedulerOption = Annotated[str | None, typer.Option(help="Address of a Dask scheduler (tcp://host:8786).")]
LeaseOption = Annotated[float, typer.Option(min=1, help="Lease of a running job, in seconds (renewed).")]
BackoffOption = Annotated[float, typer.Option(min=0, help="First retry delay of a failed job, in seconds.")]
