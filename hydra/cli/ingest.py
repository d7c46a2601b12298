"""``hesp ingest``: products on disk into the catalogue."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from hydra.cli.render import FormatOption, OutputFormat, console, errors, show
from hygor import Catalog
from hygor.ingest import BATCH_SIZE, IngestOptions, IngestReport


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Products, or folders of products.")],
    collection: Annotated[str | None, typer.Option(help="Put every item into this collection.")] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Search sub-folders.")] = False,
    check_assets: Annotated[bool, typer.Option(help="Every asset file must exist.")] = False,
    check_cog: Annotated[bool, typer.Option(help="Raster assets must be valid COGs.")] = False,
    archive: Annotated[
        bool,
        typer.Option(
            "--archive",
            help="Products of an archive (e.g. legacy THEIA products): catalogued from their metadata, their files "
            "not checked unless asked, even in the centre's own collections.",
        ),
    ] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, help="Items per transaction: what an interrupted run may have to read again.")
    ] = BATCH_SIZE,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Read products (ESA SAFE, public-cloud tiles, THEIA, LIS, Surfwater, S1Tiling, STAC JSON) into items.

    An interrupted run (killed, crashed), started again with the same arguments, continues: the products it had
    committed are not read again. Exits with 1 when anything was rejected; everything else is loaded.
    """
    options = IngestOptions(collection, recursive, check_assets, check_cog, archive, batch_size)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} products/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=errors, transient=True, disable=output is OutputFormat.JSON) as bar:
        task = bar.add_task("finding products", total=None, rate="-")

        def advance(report: IngestReport) -> None:
            bar.update(task, total=report.products_found, completed=report.products_done)
            speed = bar.tasks[task].speed
            loaded = report.ingested + report.updated + report.unchanged
            bar.update(
                task,
                description=f"{loaded} items loaded, {report.resumed} resumed, {len(report.rejected)} rejected",
                rate=f"{speed:.0f}" if speed else "-",
            )

        report = Catalog().ingest(paths, options, advance)
    show(report, output, render_report)
    if not report.ok:
        raise typer.Exit(1)


def render_report(report: IngestReport) -> None:
    console.print(
        f"ingested {report.ingested}, updated {report.updated}, unchanged {report.unchanged}, "
        f"rejected {len(report.rejected)}"
    )
    if report.resumed:
        console.print(f"resumed: {report.resumed} products committed by an interrupted run were not read again")
    for name, counts in sorted(report.by_reader.items()):
        console.print(
            f"  {name}: {counts.products} products read, {counts.items} items, {counts.rejected} rejected"
            + (f", {counts.resumed} resumed" if counts.resumed else ""),
            markup=False,
        )
    for rejected in report.rejected:
        item = f" [{rejected.item_id}]" if rejected.item_id else ""
        reason = rejected.reason.removeprefix(f"{rejected.path}: ")
        console.print(f"rejected {rejected.path}{item}: {reason}", markup=False)
