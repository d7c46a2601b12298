"""``hesp doctor``: one PASS/FAIL line per check of the installation; exit code 1 when any check failed."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from hydra.cli.render import OutputFormat, console, show
from hydra.doctor import DEFAULT_MIN_FREE_GB, DoctorReport, Outcome, diagnose

STYLES = {Outcome.PASS: "green", Outcome.FAIL: "bold red", Outcome.SKIP: "dim"}


def doctor(
    scheduler: Annotated[
        str | None, typer.Option(help="Address of a Dask scheduler (tcp://host:8786) whose workers to count.")
    ] = None,
    min_free_gb: Annotated[
        float, typer.Option(min=0, help="Free space below which the storage check fails, in GB.")
    ] = DEFAULT_MIN_FREE_GB,
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.TABLE,
) -> None:
    """Check the database, versions, migrations, collections, chain commands, storage, leases and workers."""
    report = diagnose(min_free_gb=min_free_gb, scheduler=scheduler)
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
