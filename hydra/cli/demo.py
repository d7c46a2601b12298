"""``hesp demo``: the main job on the embedded default database (grows with each workshop)."""

from __future__ import annotations

from typing import Annotated

import typer

from hydra.cli.db import render_init, render_status
from hydra.cli.render import console
from hydra.cli.serve import serve
from hygor import Catalog


def demo(
    serve_api: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the STAC API at the end.")] = True,
    port: Annotated[int, typer.Option(help="TCP port of the STAC API.")] = 8080,
) -> None:
    """Start the catalogue, load the collections, show its status and serve the STAC API."""
    catalog = Catalog()
    console.rule("1. the catalogue database")
    catalog.up()
    render_init(catalog.init())
    console.rule("2. what it holds")
    render_status(catalog.status())
    if serve_api:
        console.rule("3. the STAC API (Ctrl-C to stop)")
        serve(host="127.0.0.1", port=port)
