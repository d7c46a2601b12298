"""``hesp watch``: continuous production until stopped (``hymotep.watch``): harvest the sources when due, plan and
run what became runnable; SIGTERM or SIGINT stops it gracefully."""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, cast

import typer

from hydra.cli.gaps import Collections, Requests, Since, Tiles, Until, gap_filter
from hydra.cli.options import (
    DEFAULT_WORKERS,
    BackoffOption,
    ExecutorOption,
    LeaseOption,
    SchedulerOption,
    WorkersOption,
)
from hydra.cli.render import console
from hygor.collections import load_collections
from hymotep.production import Production
from hymotep.queue import BACKOFF_S, LEASE_S
from hymotep.run_request import ExecutorKind, ExecutorSpec, RunRequest
from hymotep.watch import GRACE_S, POLL_S, Watch
from hymotep.watch_sources import Source, load_sources


def watch(
    sources: Annotated[
        Path | None, typer.Option(help="The upstream catalogues to harvest (YAML; default HESP_WATCH_SOURCES).")
    ] = None,
    collection: Collections = None,
    request: Requests = None,
    tile: Tiles = None,
    since: Since = None,
    until: Until = None,
    executor: ExecutorOption = ExecutorSpec.kind,
    workers: WorkersOption = DEFAULT_WORKERS,
    scheduler: SchedulerOption = None,
    poll: Annotated[float, typer.Option(min=0.1, help="Longest sleep between passes, in seconds.")] = POLL_S,
    grace: Annotated[
        float, typer.Option(min=0, help="Seconds the running jobs get to finish once stopped, then released.")
    ] = GRACE_S,
    lease: LeaseOption = LEASE_S,
    backoff: BackoffOption = BACKOFF_S,
    keep_work: Annotated[bool, typer.Option(help="Keep the work directories of jobs that succeed.")] = False,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
) -> None:
    """Harvest each source when it is due, then plan and run what became runnable, pass after pass until SIGTERM or
    SIGINT: then nothing more is claimed, running jobs get --grace seconds to finish, the others are released back
    to the queue. Several watch processes on one database share the work."""
    production = Production()
    run_request = RunRequest(
        scope=gap_filter(collection, request, tile, since, until),
        executor=ExecutorSpec(cast(ExecutorKind, executor), workers, scheduler),
        lease_s=lease,
        backoff_s=backoff,
        keep_work=keep_work,
    )
    watcher = Watch(production, _sources(production, sources), run_request, poll_s=poll, grace_s=grace, say=_say)
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: watcher.terminate())
    _say(f"watching: {len(watcher.sources)} source(s), worker {watcher.worker}")
    watcher.serve(once=once)
    _say("stopped")


def _sources(production: Production, given: Path | None) -> list[Source]:
    path = given or production.settings.watch_sources
    if path is None:
        return []
    known = {d.id for d in load_collections(production.settings.collections_dir)}
    return load_sources(path, known)


def _say(line: str) -> None:
    console.print(f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} {line}", markup=False, soft_wrap=True)
