"""``hesp plan``: what the centre can take on."""

from __future__ import annotations

from typing import Annotated

import typer

from hydra.cli.gaps import Collections, Requests, Since, Tiles, Until, gap_filter
from hydra.cli.options import AsOf, By, day
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
    cpu_hours: Annotated[float, typer.Option("--cpu-hours", min=0, help="CPU-hours available in the year.")],
    storage_tb: Annotated[float, typer.Option("--storage-tb", min=0, help="New storage in the year, in TB.")],
    apply: Annotated[
        bool, typer.Option("--apply", help="Record each request's decision (only accepted requests are produced).")
    ] = False,
    by: By = None,
    as_of: AsOf = None,
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.TABLE,
) -> None:
    """Which requests fit the budget of the year from today, by priority. A request costs what the year adds: its
    chains and the chains they need (tiles and dates taken by requests accepted before it cost nothing), its
    production in the year and its backlog (its period before today, to catch up within the year). Without
    --apply nothing is recorded."""
    plan = Production().plan_capacity(cpu_hours, storage_tb, as_of=day(as_of), apply=apply, by=by)
    if output is OutputFormat.JSON:
        print_json(plan)
        return
    rows = [
        [
            r.name,
            r.priority,
            "accepted" if r.reason is None else "left out",
            f"{r.cpu_hours_per_year:,.0f}",
            f"{r.backlog_cpu_hours:,.0f}",
            f"{r.storage_tb_per_year:,.2f}",
            f"{r.backlog_storage_tb:,.2f}",
            r.reason or "",
        ]
        for r in (*plan.accepted, *plan.left_out)
    ]
    columns = ["request", "priority", "decision", "CPU-hours/yr", "backlog CPU-hours", "storage TB/yr", "backlog TB",
               "why"]  # fmt: skip
    console.print(table(f"capacity plan of the year from {plan.as_of} (marginal cost of each request)", columns, rows))
    console.print(
        f"used {plan.used.cpu_hours_per_year:,.0f} CPU-hours and {plan.used.storage_tb_per_year:,.2f} TB; "
        f"left {plan.left.cpu_hours_per_year:,.0f} CPU-hours and {plan.left.storage_tb_per_year:,.2f} TB"
    )
    if not plan.applied:
        console.print("nothing recorded: --apply records these decisions (only accepted requests are produced)")
    elif plan.changed:
        console.print(f"decisions recorded for {', '.join(plan.changed)} (see `hesp request history`)")
    else:
        console.print("decisions recorded: none changed")
