"""``hesp storage``: the storage of the products (HESP_STORAGE)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from hydra.cli.render import FormatOption, OutputFormat, console, show
from hymotep.orphans import ORPHAN_AGE, Orphans
from hymotep.production import Production

app = typer.Typer(help="The storage of the products.", no_args_is_help=True)


def render_orphans(report: Orphans) -> None:
    for key in report.keys:
        console.print(key, markup=False)
    done = "removed" if report.deleted else "found"
    console.print(f"{len(report.keys)} orphan product(s) {done} under {report.storage}", markup=False)


@app.command()
def orphans(
    delete: Annotated[bool, typer.Option("--delete", help="Remove them.")] = False,
    collection: Annotated[str | None, typer.Option(help="Only the products of this collection.")] = None,
    min_age: Annotated[
        float, typer.Option(min=0, help="Minutes since a product was stored (younger: maybe a running job's).")
    ] = ORPHAN_AGE.total_seconds() / 60,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """The products under the storage that no registered item references (a worker stopped between storing a
    product and registering it), one key a line; --delete removes them."""
    report = Production().orphans(collection, delete=delete, min_age=timedelta(minutes=min_age))
    show(report, output, render_orphans)
