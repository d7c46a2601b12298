"""``hesp request``: production requests of the call for projects."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hydra.cli.options import AsOf, By, day
from hydra.cli.render import OutputFormat, console, print_json, table
from hymotep.decisions import HistoryEvent
from hymotep.estimate import ChainFigures, Figures
from hymotep.production import Production
from hymotep.store import StoredRequest

app = typer.Typer(help="Production requests: zone x chains x period x priority.", no_args_is_help=True)
FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]


@app.command()
def add(
    path: Annotated[Path, typer.Argument(help="A request file (YAML, see schemas/request.schema.json).")],
    replace: Annotated[bool, typer.Option("--replace", help="Replace a request of the same name.")] = False,
    by: By = None,
) -> None:
    """Validate a request file and store it, its zone resolved to tiles; a new request is accepted, a replaced one
    keeps its decision."""
    stored = Production().add_request(path, replace=replace, by=by)
    console.print(
        f"stored request {stored.name}: {stored.tiles} tiles, {', '.join(stored.chains)}; {_decision(stored)}"
    )


@app.command("list")
def list_(output: FormatOption = OutputFormat.TABLE) -> None:
    """The stored requests, by priority, with their decision."""
    found = Production().requests()
    if output is OutputFormat.JSON:
        print_json(found)
        return
    rows = [
        [r.name, r.priority, r.requester.get("name"), ", ".join(r.chains), _period(r), r.tiles, r.decision]
        for r in found
    ]
    columns = ["name", "priority", "requester", "chains", "period", "tiles", "decision"]
    console.print(table("requests", columns, rows))


@app.command()
def show(name: str, output: FormatOption = OutputFormat.TABLE) -> None:
    """One request in full."""
    found = Production().request(name)
    if output is OutputFormat.JSON:
        print_json(found)
        return
    console.print(f"{found.name}: {found.title or ''}", markup=False)
    console.print(f"requester: {found.requester.get('name')} {found.requester.get('organisation') or ''}", markup=False)
    console.print(f"zone: {found.zone['kind']} ({found.tiles} tiles); chains: {', '.join(found.chains)}")
    console.print(f"period: {_period(found)}; priority {found.priority}")
    console.print(f"decision: {_decision(found)}", markup=False)


@app.command()
def remove(name: str, by: By = None) -> None:
    """Remove a stored request (its history stays); its queued jobs that no accepted request asks for go too."""
    Production().remove_request(name, by=by)
    console.print(f"removed request {name}")


@app.command()
def accept(
    name: str,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in the history).")] = None,
    by: By = None,
) -> None:
    """Accept a request (whatever the capacity plan decided): its units are planned and run."""
    changed = Production().decide(name, "accepted", reason, by=by)
    console.print(f"accepted {name}" if changed else f"{name} is accepted already: nothing recorded")


@app.command("leave-out")
def leave_out(
    name: str,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the history).")],
    by: By = None,
) -> None:
    """Leave a request out (whatever the capacity plan decided): nothing is planned or run for it any more, and its
    queued jobs that no accepted request asks for are removed; `hesp gaps` shows its units as not-accepted."""
    changed = Production().decide(name, "left-out", reason, by=by)
    console.print(f"left out {name}" if changed else f"{name} is left out already, for that reason: nothing recorded")


@app.command()
def history(
    name: Annotated[str | None, typer.Argument(help="One request (default: every request).")] = None,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Every change to a request and its decision: when, by whom, what (removed requests included)."""
    events = Production().request_history(name)
    if output is OutputFormat.JSON:
        print_json(events)
        return
    rows = [[f"{e.at:%Y-%m-%d %H:%M:%S%z}", e.request, e.action, e.by, _details(e)] for e in events]
    console.print(table("request history", ["at", "request", "action", "by", "details"], rows))


@app.command("estimate")
def estimate_(
    name: Annotated[str | None, typer.Argument(help="One request (default: each, and all together).")] = None,
    as_of: AsOf = None,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Tiles, acquisitions, products, CPU-hours and storage a year, and the backlog (the request's period before
    today, a one-off); with the chains each request needs (marked "for" the chain needing them). Shared tiles are
    counted once, within a request and in the total."""
    report = Production().estimate(name, as_of=day(as_of))
    if output is OutputFormat.JSON:
        print_json(report)
        return
    for request in report.requests:
        years = request.backlog_days / 365
        render_figures(f"{request.name} (priority {request.priority}, backlog {years:.1f} years)", request)
    if name is None:
        render_figures("all requests together", report.total)
    console.print(f"backlog: what the periods hold before {report.as_of}, a one-off cost beside the yearly rate")


def render_figures(title: str, figures: Figures) -> None:
    columns = ["chain", "tiles", "acquisitions/yr", "products/yr", "CPU-hours/yr", "storage TB/yr",
               "backlog products", "backlog CPU-hours", "backlog TB"]  # fmt: skip
    rows: list[list[object]] = [
        [
            _chain(c),
            c.tiles,
            f"{c.acquisitions_per_year:,.0f}",
            f"{c.products_per_year:,.0f}",
            f"{c.cpu_hours_per_year:,.0f}",
            f"{c.storage_tb_per_year:,.2f}",
            f"{c.backlog_products:,.0f}",
            f"{c.backlog_cpu_hours:,.0f}",
            f"{c.backlog_storage_tb:,.2f}",
        ]
        for c in figures.chains
    ]
    rows.append(
        [
            "total",
            figures.tiles,
            f"{figures.acquisitions_per_year:,.0f}",
            "",
            f"{figures.cpu_hours_per_year:,.0f}",
            f"{figures.storage_tb_per_year:,.2f}",
            "",
            f"{figures.backlog_cpu_hours:,.0f}",
            f"{figures.backlog_storage_tb:,.2f}",
        ]
    )
    sources = ", ".join(f"{tiles} tiles from the {source}" for source, tiles in figures.sources.items())
    console.print(table(f"{title}: acquisitions {sources}", columns, rows))


def _chain(figures: ChainFigures) -> str:
    once = ", once per tile" if figures.one_off else ""
    return f"{figures.chain} (for {', '.join(figures.needed_by)}{once})" if figures.needed_by else figures.chain


def _period(request: StoredRequest) -> str:
    return f"{request.start} to {request.end or '(open)'}"


def _decision(request: StoredRequest) -> str:
    if request.decided_at is None:
        return f"{request.decision} (when added)"
    reason = f": {request.decision_reason}" if request.decision_reason else ""
    return f"{request.decision} by {request.decided_by} on {request.decided_at:%Y-%m-%d}{reason}"


def _details(event: HistoryEvent) -> str:
    details: dict[str, Any] = event.details
    if "changed" in details:
        return "changed " + ", ".join(details["changed"]) if details["changed"] else "no field changed"
    if "reason" in details:
        return str(details["reason"] or "")
    if event.action == "added":
        chains = ", ".join(details.get("chains", []))
        return f"{chains} on {details.get('tiles')} tiles, priority {details.get('priority')}"
    return ""
