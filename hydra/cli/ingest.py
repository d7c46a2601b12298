"""``hesp ingest``: products on disk into the catalogue."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from hydra.cli.render import FormatOption, OutputFormat, console, errors, show
from hygor import Catalog
from hygor.ingest import IngestOptions, IngestReport


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Products, or folders of products.")],
    collection: Annotated[str | None, typer.Option(help="Put every item into this collection.")] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Search sub-folders.")] = False,
    check_assets: Annotated[bool, typer.Option(help="Every asset file must exist.")] = False,
    check_cog: Annotated[bool, typer.Option(help="Raster assets must be valid COGs.")] = False,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Read products (ESA SAFE, public-cloud tiles, THEIA, LIS, Surfwater, S1Tiling, STAC JSON) into items.

    Exits with 1 when anything was rejected; everything else is loaded.
    """
    options = IngestOptions(collection, recursive, check_assets, check_cog)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=errors, transient=True, disable=output is OutputFormat.JSON) as bar:
        task = bar.add_task("reading products")

        def advance(report: IngestReport) -> None:
            done = report.ingested + report.updated + report.unchanged
            bar.update(task, description=f"{done} items loaded, {len(report.rejected)} rejected")

        report = Catalog().ingest(paths, options, advance)
    show(report, output, render_report)
    if not report.ok:
        raise typer.Exit(1)


def render_report(report: IngestReport) -> None:
    console.print(
        f"ingested {report.ingested}, updated {report.updated}, unchanged {report.unchanged}, "
        f"rejected {len(report.rejected)}"
    )
    for rejected in report.rejected:
        item = f" [{rejected.item_id}]" if rejected.item_id else ""
        reason = rejected.reason.removeprefix(f"{rejected.path}: ")
        console.print(f"rejected {rejected.path}{item}: {reason}", markup=False)
