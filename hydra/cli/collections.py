"""``hesp collections``: the STAC collections of collections/ in the catalogue."""

from __future__ import annotations

import typer

from hydra.cli.render import FormatOption, OutputFormat, console, print_json, show, table
from hygor import Catalog
from hygor.catalog import CollectionInfo, SyncSummary

app = typer.Typer(help="Sync and list the STAC collections.", no_args_is_help=True)


def render_sync(summary: SyncSummary) -> None:
    for action in ("created", "updated"):
        names = getattr(summary, action)
        if names:
            console.print(f"{action} {len(names)} collection(s): {', '.join(names)}")
    if summary.queryables != "unchanged":
        console.print(f"queryables {summary.queryables}")


def render_sync_alone(summary: SyncSummary) -> None:
    render_sync(summary)
    if not (summary.created or summary.updated):
        console.print(f"{len(summary.unchanged)} collections already up to date")


def render_collections(collections: list[CollectionInfo]) -> None:
    rows = [[c.id, c.title, f"~{c.items}" if c.estimated else c.items, c.partition_trunc or "-"] for c in collections]
    console.print(table("collections", ["id", "title", "items", "partition"], rows))


@app.command()
def sync(output: FormatOption = OutputFormat.TABLE) -> None:
    """Upsert the collection folders (HESP_COLLECTIONS_DIR) into pgSTAC (those that changed only)."""
    show(Catalog().sync_collections(), output, render_sync_alone)


@app.command("list")
def list_(output: FormatOption = OutputFormat.TABLE) -> None:
    """The collections in the catalogue, with their item counts."""
    collections = Catalog().collections()
    if output is OutputFormat.JSON:
        print_json(collections)
    else:
        render_collections(collections)
