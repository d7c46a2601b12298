"""``hesp serve``: the STAC API."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from hydra.cli.render import console
from hygor import Catalog


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
) -> None:
    """Serve the STAC API (writes only with HESP_API_TOKEN, as `Authorization: Bearer <token>`)."""
    from hygor.api import create_app

    catalog = Catalog()
    token = catalog.settings.api_token
    app = create_app(catalog.database(), token.get_secret_value() if token else None)
    writes = "writes need the bearer token" if token else "read-only (set HESP_API_TOKEN to allow writes)"
    console.print(f"STAC API at http://{host}:{port}/ ({writes})")
    uvicorn.run(app, host=host, port=port, log_level="warning")
