"""``hesp doctor``: one PASS/FAIL line per check of the installation; exit code 1 when any check failed."""

from __future__ import annotations

from typing import Annotated, cast

import typer
from rich.markup import escape

from hydra.cli.options import JobQueueOption, QueueOption, SiteOption
from hydra.cli.render import OutputFormat, console, show
from hydra.doctor import DEFAULT_MIN_FREE_GB, DoctorReport, Outcome, diagnose
from hymotep.run_request import BatchSystem
from hymotep.settings import ProductionSettings
from hymotep.site import jobqueue_spec

STYLES = {Outcome.PASS: "green", Outcome.FAIL: "bold red", Outcome.SKIP: "dim"}


def doctor(
    scheduler: Annotated[
        str | None, typer.Option(help="Address of a Dask scheduler (tcp://host:8786) whose workers to count.")
    ] = None,
    jobqueue: JobQueueOption = None,
    site: SiteOption = None,
    queue: QueueOption = None,
    min_free_gb: Annotated[
        float, typer.Option(min=0, help="Free space below which the storage check fails, in GB.")
    ] = DEFAULT_MIN_FREE_GB,
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.TABLE,
) -> None:
    """Check the database, versions, migrations, collections, chain commands, storage, leases and workers; with
    --jobqueue, what the batch workers need from this node: batch commands, queue, database URL, shared storage."""
    settings = ProductionSettings()
    spec = None
    if jobqueue is not None:
        spec = jobqueue_spec(cast(BatchSystem, jobqueue), site or settings.site_config, queue=queue)
    report = diagnose(settings, min_free_gb=min_free_gb, scheduler=scheduler, jobqueue=spec)
    show(report, output, render_report)
    if not report.ok:
        raise typer.Exit(1)


def render_report(report: DoctorReport) -> None:
    width = max(len(check.name) for check in report.checks)
    for check in report.checks:
        tag = check.outcome.value.upper()
        console.print(
            f"[{STYLES[check.outcome]}]{tag:<4}[/]  {check.name:<{width}}  {escape(check.detail)}", soft_wrap=True
        )
