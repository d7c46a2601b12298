"""The parts of ``hesp status`` that read the job attempts (``hymotep.job_history``): one job's history
(``--job ID``), the latency from acquisition to product and the watched sources."""

from __future__ import annotations

from hydra.cli.render import console, table
from hymotep.job_history import JobHistory, Latency


def render_job(job: JobHistory) -> None:
    console.print(f"job {job.id}: {job.collection} {job.chain_version} tile {job.tile} slot {job.slot}"
                  f"{f' mode {job.mode}' if job.mode else ''}, priority {job.priority}", markup=False)  # fmt: skip
    console.print(f"state {job.state}, attempt {job.attempts} of {job.max_attempts}"
                  f"{f', last error: {job.last_error}' if job.last_error else ''}", markup=False)  # fmt: skip
    rows = [
        [n, a.attempt, a.worker, _when(a.started_at), _when(a.ended_at), _seconds(a.duration_s), a.outcome,
         a.error or "", a.log_path or ""]
        for n, a in enumerate(job.history, 1)
    ]  # fmt: skip
    headers = ["#", "attempt", "worker", "started", "ended", "took", "outcome", "error", "log"]
    console.print(table("attempts", headers, rows) if rows else "no attempt yet")


def render_latency(latency: Latency) -> None:
    from hydra.cli.status import duration  # its renderer imports this module

    console.print()
    if latency.collections:
        rows = [[c.collection, c.products, duration(c.median_s), duration(c.p95_s)] for c in latency.collections]
        console.print(table("acquisition to product, last 24 h", ["collection", "products", "median", "95 %"], rows))
    else:
        console.print("acquisition to product: no product registered by a job in the last 24 h")
    if latency.sources:
        rows = [
            [s.source, s.collection, _when(s.newest_acquired), duration(s.age_s) if s.age_s is not None else "",
             _when(s.last_harvest), s.last_items if s.last_items is not None else "running", s.last_error or ""]
            for s in latency.sources
        ]  # fmt: skip
        headers = ["source", "collection", "newest acquisition", "age", "last harvest", "items", "error"]
        console.print(table("watched sources (hesp watch)", headers, rows))


def _when(at: object) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S}" if at is not None else ""


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} s"
