"""``hesp plan``: what the centre can take on."""

from __future__ import annotations

from typing import Annotated

import typer

from hydra.cli.gaps import Collections, Requests, Since, Tiles, Until, gap_filter
from hydra.cli.render import OutputFormat, console, print_json, show, table
from hymotep.production import PlanReport, Production

app = typer.Typer(help="Plan production: queue the runnable work, or weigh requests against capacity.")


@app.callback(invoke_without_command=True)
def jobs(
    ctx: typer.Context,
    collection: Collections = None,
    request: Requests = None,
    tile: Tiles = None,
    since: Since = None,
    until: Until = None,
    retry_failed: Annotated[
        bool,
        typer.Option("--retry-failed", help="Also give failed jobs (of --collection, --tile) their attempts again."),
    ] = False,
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.TABLE,
) -> None:
    """Queue a job for every runnable unit and every outdated one a campaign replays (see `hesp gaps`,
    `hesp campaign`); planning again queues nothing new."""
    if ctx.invoked_subcommand is not None:
        return
    report = Production().plan(gap_filter(collection, request, tile, since, until), retry_failed=retry_failed)
    show(report, output, render_plan)


def render_plan(report: PlanReport) -> None:
    if report.requeued is not None:
        console.print(f"failed jobs queued again: {report.requeued:,}")
    console.print(f"queued {report.queued:,} jobs")


@app.command()
def capacity(
    cpu_hours: Annotated[float, typer.Option("--cpu-hours", min=0, help="CPU-hours a year available.")],
    storage_tb: Annotated[float, typer.Option("--storage-tb", min=0, help="New storage a year, in TB.")],
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.TABLE,
) -> None:
    """Which requests fit the yearly budget, by priority (tiles shared with accepted requests cost nothing)."""
    plan = Production().plan_capacity(cpu_hours, storage_tb)
    if output is OutputFormat.JSON:
        print_json(plan)
        return
    rows = [
        [
            r.name,
            r.priority,
            "accepted" if r.reason is None else "left out",
            f"{r.cpu_hours_per_year:,.0f}",
            f"{r.storage_tb_per_year:,.2f}",
            r.reason or "",
        ]
        for r in (*plan.accepted, *plan.left_out)
    ]
    columns = ["request", "priority", "decision", "CPU-hours/yr", "storage TB/yr", "why"]
    console.print(table("capacity plan (marginal cost of each request)", columns, rows))
    console.print(
        f"used {plan.used.cpu_hours_per_year:,.0f} CPU-hours and {plan.used.storage_tb_per_year:,.2f} TB a year; "
        f"left {plan.left.cpu_hours_per_year:,.0f} CPU-hours and {plan.left.storage_tb_per_year:,.2f} TB"
    )
