"""``hesp run``: run the missing work on Dask (a local cluster, a scheduler, or an HPC batch system)."""

from __future__ import annotations

from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hydra.cli.gaps import Collections, Requests, Since, Tiles, Until, gap_filter
from hydra.cli.options import (
    DEFAULT_WORKERS,
    BackoffOption,
    ExecutorOption,
    JobQueueOption,
    LeaseOption,
    QueueOption,
    SchedulerOption,
    SiteOption,
    WorkersOption,
)
from hydra.cli.render import OutputFormat, console, errors, show, table
from hymotep.execution import JobResult
from hymotep.executors import RunReport, jobqueue_cluster
from hymotep.production import Production
from hymotep.queue import BACKOFF_S, LEASE_S
from hymotep.run_request import (
    BatchSystem,
    ExecutorKind,
    ExecutorSpec,
    RunRequest,
)
from hymotep.site import jobqueue_spec

WORKER_LOGS = "workers"  # the batch workers' output, in the job logs' folder


def run(
    collection: Collections = None,
    request: Requests = None,
    tile: Tiles = None,
    since: Since = None,
    until: Until = None,
    executor: ExecutorOption = ExecutorSpec.kind,
    workers: WorkersOption = DEFAULT_WORKERS,
    scheduler: SchedulerOption = None,
    jobqueue: JobQueueOption = None,
    site: SiteOption = None,
    queue: QueueOption = None,
    cores: Annotated[int | None, typer.Option(min=1, help="Cores of each batch job (one chain a core) [4].")] = None,
    memory: Annotated[str | None, typer.Option(help="Memory of each batch job [16GB].")] = None,
    walltime: Annotated[str | None, typer.Option(help="Wall time of each batch job [04:00:00].")] = None,
    jobs: Annotated[
        int | None, typer.Option(min=1, help="Most batch jobs at once: the run adapts from none to this many [1].")
    ] = None,
    account: Annotated[str | None, typer.Option(help="Batch account to charge.")] = None,
    job_script: Annotated[bool, typer.Option("--job-script", help="Print the batch script and stop.")] = False,
    max_jobs: Annotated[int | None, typer.Option(min=1, help="Stop after this many jobs.")] = None,
    plan: Annotated[bool, typer.Option(help="Plan the runnable units first, and again as jobs finish.")] = True,
    lease: LeaseOption = LEASE_S,
    backoff: BackoffOption = BACKOFF_S,
    keep_work: Annotated[bool, typer.Option(help="Keep the work directories of jobs that succeed.")] = False,
    batch: Annotated[
        int, typer.Option(min=1, help="Jobs a worker claims and runs at once, registered together (light chains).")
    ] = 1,
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.TABLE,
) -> None:
    """Run the queued jobs of the filters (of the collections given, else of every chain with a command) until
    none is ready; with --plan (default), runnable units of the filters become jobs first. Only jobs of the
    filters run, whoever queued them. Exit code 1 when a job failed."""
    production = Production()
    spec = None
    if jobqueue is not None:
        settings = production.settings
        spec = jobqueue_spec(cast(BatchSystem, jobqueue), site or settings.site_config, queue=queue, cores=cores,
                             memory=memory, walltime=walltime, jobs=jobs, account=account,
                             log_directory=str(settings.log_root / WORKER_LOGS))  # fmt: skip
        if job_script:
            with jobqueue_cluster(spec) as cluster:
                console.print(cluster.job_script(), markup=False)
            return
    run_request = RunRequest(
        scope=gap_filter(collection, request, tile, since, until),
        executor=ExecutorSpec(cast(ExecutorKind, executor), workers, scheduler, spec),
        plan=plan,
        max_jobs=max_jobs,
        lease_s=lease,
        backoff_s=backoff,
        keep_work=keep_work,
        batch=batch,
    )
    report = run_with_progress(production, run_request, quiet=output is OutputFormat.JSON)
    show(report, output, render_report)
    if not report.finished_well:
        raise typer.Exit(1)


def run_with_progress(production: Production, request: RunRequest, *, quiet: bool = False, **options: Any) -> RunReport:
    """``Production.run`` with a progress bar and a line for each job that did not succeed (on stderr when
    ``quiet``: the standard output is the report's)."""
    out = errors if quiet else console
    with _progress(out) as progress:
        task = progress.add_task("jobs", total=None, done="")
        counts: dict[str, int] = {}

        def on_result(result: JobResult) -> None:
            counts[result.outcome] = counts.get(result.outcome, 0) + 1
            done = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
            progress.update(task, advance=1, done=done)
            if result.outcome != "succeeded":
                progress.console.print(f"job {result.job} ({result.collection} {result.tile}) {result.outcome}: "
                                        f"{result.error}", markup=False)  # fmt: skip

        return production.run(request, on_result=on_result, **options)


def _progress(out: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[done]}"),
        TimeElapsedColumn(), console=out, transient=not out.is_terminal,
    )  # fmt: skip


def render_report(report: RunReport) -> None:
    rate = report.ran / report.seconds if report.seconds else 0.0
    rows = [[report.planned, report.succeeded, report.retried, report.failed, report.lost, f"{rate:.1f}"]]
    console.print(table(None, ["planned", "succeeded", "retried", "failed", "lost", "jobs/s"], rows))
    for result in report.errors[:10]:
        console.print(f"  job {result.job} {result.collection} {result.tile}: {result.error}  log: {result.log}",
                      markup=False)  # fmt: skip
    if not report.ran:
        console.print("nothing to run: see `hesp gaps` for what is blocked, queued or waiting for a retry")
