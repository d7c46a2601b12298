"""``hesp db``: the catalogue database, embedded or external."""

from __future__ import annotations

from typing import Annotated

import typer

from hydra.cli.collections import render_collections, render_sync
from hydra.cli.render import FormatOption, OutputFormat, console, show, table
from hygor import Catalog
from hygor.catalog import CatalogStatus, InitReport, ServerInfo
from hymotep.production import Production

app = typer.Typer(help="Start, stop, migrate and inspect the catalogue database.", no_args_is_help=True)


def render_server(server: ServerInfo) -> None:
    if server.kind == "external":
        console.print(f"external PostgreSQL at {server.url}")
    elif server.running:
        console.print(f"embedded PostgreSQL running at {server.url} (home {server.home}, pid {server.pid})")
    else:
        console.print(f"embedded PostgreSQL not running (home {server.home})")


def render_init(report: InitReport) -> None:
    if report.pgstac_before != report.pgstac_after:
        console.print(f"pgSTAC {report.pgstac_after} (was {report.pgstac_before or 'not installed'})")
    for name in report.migrations_applied:
        console.print(f"applied migration {name}")
    render_sync(report.collections)
    if report.grid_tiles_loaded:
        console.print(f"loaded the Sentinel-2 grid: {report.grid_tiles_loaded} tiles")
    if not report.changed:
        console.print(f"already up to date: pgSTAC {report.pgstac_after}, nothing changed")


@app.command()
def up() -> None:
    """Start the embedded cluster (initialised on first use), or check the external server."""
    render_server(Catalog().up())


@app.command()
def down() -> None:
    """Stop the embedded cluster of this HESP_HOME (nothing else)."""
    console.print("stopped" if Catalog().down() else "was not running")


@app.command()
def url(
    workers: Annotated[
        bool, typer.Option("--workers", help="The URL for workers on other machines (HESP_DB_LISTEN, HESP_DB_ALLOW).")
    ] = False,
) -> None:
    """Print the connection URL, for psql, pypgstac and notebooks."""
    catalog = Catalog()
    print(catalog.worker_url() if workers else catalog.url())


@app.command()
def init(output: FormatOption = OutputFormat.TABLE) -> None:
    """Migrate pgSTAC and the hesp schema, then sync the collections. Running it again changes nothing."""
    show(Production().init(), output, render_init)


@app.command()
def reset(
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: every item is deleted.")] = False,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Drop the whole catalogue (items included) and initialise it again."""
    if not yes:
        raise typer.BadParameter("this deletes every item of the catalogue: confirm with --yes")
    show(Production().reset(), output, render_init)


@app.command()
def status(output: FormatOption = OutputFormat.TABLE) -> None:
    """Server, versions, migrations and collections with their item counts."""
    report = Production().database_status()
    show(report, output, render_status)


def render_status(report: CatalogStatus) -> None:
    render_server(report.server)
    if not report.server.running:
        return
    postgis = report.postgis or "not installed in this database"
    pgstac = report.pgstac or "not installed: run `hesp db init`"
    console.print(f"PostgreSQL {report.postgres}, PostGIS {postgis}, pgSTAC {pgstac} (pinned {report.pgstac_pinned})")
    console.print(
        table(
            "migrations",
            ["migration", "state"],
            [[m.name, "applied" if m.applied else "pending"] for m in report.migrations],
        )
    )
    render_collections(report.collections)
