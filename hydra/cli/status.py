"""``hesp status``: the job queue at a glance: jobs per collection and state, throughput, running jobs and
their leases, stale leases, failures by error kind."""

from __future__ import annotations

from typing import Annotated

import typer

from hydra.cli.campaign import render_progress
from hydra.cli.gaps import Collections
from hydra.cli.history import render_job, render_latency
from hydra.cli.render import OutputFormat, console, show, table
from hydra.status import Status, production_status
from hymotep.production import Production

RUNNING_SHOWN = 50
STATE_COLUMNS = ["queued", "retrying", "running", "succeeded", "failed", "succeeded_last_hour", "succeeded_last_day"]
STATE_HEADERS = ["queued", "(retrying)", "running", "succeeded", "failed", "done 1 h", "done 24 h"]


def status(
    collection: Collections = None,
    job: Annotated[int | None, typer.Option("--job", help="One job and the history of its attempts.")] = None,
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.TABLE,
) -> None:
    """Jobs per collection and state, jobs done in the last hour and day, running jobs (worker, attempt, last
    heartbeat, lease), stale leases, failures grouped by error kind, the latency from acquisition to product and
    the watched sources; with --job, one job and every attempt it had."""
    production = Production()
    if job is not None:
        show(production.job_history(job), output, render_job)
        return
    report = production_status(production.catalog.database().connect, collection)
    report.latency = production.latency()
    show(report, output, render)


def render(report: Status) -> None:
    console.print(f"job queue at {report.at:%Y-%m-%d %H:%M:%S %Z}")
    if not report.collections:
        console.print("no job: `hesp plan` queues the runnable units of the requests")
        return
    rows = [[c.collection, *(getattr(c, k) for k in STATE_COLUMNS)] for c in report.collections]
    if len(rows) > 1:
        rows.append(["all", *(sum(getattr(c, k) for c in report.collections) for k in STATE_COLUMNS)])
    console.print(table("jobs by state", ["collection", *STATE_HEADERS], rows))
    if report.campaigns:
        console.print()
        render_progress(report.campaigns)
    if report.running:
        shown = report.running[:RUNNING_SHOWN]
        console.print()
        console.print(
            table(
                "running jobs (stale leases first)",
                ["job", "collection", "tile", "worker", "attempt", "last heartbeat", "lease"],
                [
                    [
                        j.id,
                        j.collection,
                        j.tile,
                        j.worker,
                        f"{j.attempt}/{j.max_attempts}",
                        f"{duration(j.heartbeat_age_s)} ago",
                        lease(j.lease_left_s),
                    ]
                    for j in shown
                ],
            )  # fmt: skip
        )
        if len(report.running) > len(shown):
            console.print(f"… and {len(report.running) - len(shown)} more (--format json lists them all)")
    console.print()
    if report.stale_leases:
        console.print(
            f"[bold red]stale leases: {report.stale_leases}[/] running job(s) whose worker stopped renewing its"
            " lease; the next claim (`hesp run`) puts them back in the queue"
        )
    else:
        console.print("stale leases: none")
    if report.failures:
        console.print()
        console.print(
            table(
                "failures by error kind (failed for good, queued for a retry)",
                ["collection", "error kind", "failed", "retrying", "latest job", "log"],
                [[f.collection, f.kind, f.failed, f.retrying, f.example_job, f.example_log] for f in report.failures],
            )
        )
        console.print("errors in full: `hesp gaps --list --state failed`")
    if report.latency is not None:
        render_latency(report.latency)


def duration(seconds: float) -> str:
    """``42 s``, ``12 min``, ``3.5 h``, ``2.1 d``."""
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def lease(left_s: float | None) -> str:
    if left_s is None:
        return "none"
    if left_s < 0:
        return f"[bold red]EXPIRED {duration(left_s)} ago[/]"
    return f"{duration(left_s)} left"
