"""``hesp request``: production requests of the call for projects."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hydra.cli.render import OutputFormat, console, print_json, table
from hymotep.estimate import Figures
from hymotep.production import Production
from hymotep.store import StoredRequest

app = typer.Typer(help="Production requests: zone x chains x period x priority.", no_args_is_help=True)
FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]


@app.command()
def add(
    path: Annotated[Path, typer.Argument(help="A request file (YAML, see schemas/request.schema.json).")],
    replace: Annotated[bool, typer.Option("--replace", help="Replace a request of the same name.")] = False,
) -> None:
    """Validate a request file and store it, its zone resolved to tiles."""
    stored = Production().add_request(path, replace=replace)
    console.print(f"stored request {stored.name}: {stored.tiles} tiles, {', '.join(stored.chains)}")


@app.command("list")
def list_(output: FormatOption = OutputFormat.TABLE) -> None:
    """The stored requests, by priority."""
    found = Production().requests()
    if output is OutputFormat.JSON:
        print_json(found)
        return
    rows = [[r.name, r.priority, r.requester.get("name"), ", ".join(r.chains), _period(r), r.tiles] for r in found]
    console.print(table("requests", ["name", "priority", "requester", "chains", "period", "tiles"], rows))


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


@app.command()
def remove(name: str) -> None:
    """Remove a stored request."""
    Production().remove_request(name)
    console.print(f"removed request {name}")


@app.command("estimate")
def estimate_(
    name: Annotated[str | None, typer.Argument(help="One request (default: each, and all together).")] = None,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Tiles, acquisitions, products, CPU-hours and storage a year; shared tiles are counted once in the total."""
    report = Production().estimate(name)
    if output is OutputFormat.JSON:
        print_json(report)
        return
    for request in report.requests:
        render_figures(f"{request.name} (priority {request.priority})", request)
    if name is None:
        render_figures("all requests together", report.total)


def render_figures(title: str, figures: Figures) -> None:
    columns = ["chain", "tiles", "acquisitions/yr", "products/yr", "CPU-hours/yr", "storage TB/yr"]
    rows: list[list[object]] = [
        [
            c.chain,
            c.tiles,
            f"{c.acquisitions_per_year:,.0f}",
            f"{c.products_per_year:,.0f}",
            f"{c.cpu_hours_per_year:,.0f}",
            f"{c.storage_tb_per_year:,.2f}",
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
        ]
    )
    sources = ", ".join(f"{tiles} tiles from the {source}" for source, tiles in figures.sources.items())
    console.print(table(f"{title}: acquisitions {sources}", columns, rows))


def _period(request: StoredRequest) -> str:
    return f"{request.start} to {request.end or '(open)'}"
