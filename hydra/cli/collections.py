"""``hesp collections``: the STAC collections of collections/ in the catalogue."""

from __future__ import annotations

from typing import Annotated

import typer

from hydra.cli.render import OutputFormat, console, print_json, table
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


def render_collections(collections: list[CollectionInfo]) -> None:
    rows = [[c.id, c.title, f"~{c.items}" if c.estimated else c.items, c.partition_trunc or "-"] for c in collections]
    console.print(table("collections", ["id", "title", "items", "partition"], rows))


@app.command()
def sync() -> None:
    """Upsert the collections of collections/ into pgSTAC (those that changed only)."""
    summary = Catalog().sync_collections()
    render_sync(summary)
    if not (summary.created or summary.updated):
        console.print(f"{len(summary.unchanged)} collections already up to date")


@app.command("list")
def list_(
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.TABLE,
) -> None:
    """The collections in the catalogue, with their item counts."""
    collections = Catalog().collections()
    if output is OutputFormat.JSON:
        print_json(collections)
    else:
        render_collections(collections)
