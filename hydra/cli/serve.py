"""``hesp serve``: the STAC API, with the metrics and the dashboard."""

from __future__ import annotations

from typing import Annotated

import typer

from hydra.cli.render import console
from hygor import Catalog


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
) -> None:
    """Serve the STAC API (writes only with HESP_API_TOKEN, as `Authorization: Bearer <token>`), the dashboard,
    the Prometheus metrics and a folder storage root at /storage (read-only)."""
    from hydra.settings import SupervisionSettings
    from hydra.storage_files import posix_root
    from hydra.web import create_app  # the web stack only for commands that serve
    from hygor.api.server import require_free, serve_forever
    from hymotep.settings import ProductionSettings

    require_free(host, port)  # before saying where it serves
    catalog = Catalog()
    access = SupervisionSettings().dashboard
    app = create_app(catalog, access)
    writes = "writes need the bearer token" if catalog.settings.api_token else "read-only (HESP_API_TOKEN unset)"
    base = f"http://{host}:{port}"
    dashboard = {
        "public": f"dashboard at {base}/dashboard (log tails public)",
        "token": f"dashboard at {base}/dashboard (log tails need the token)",
        "off": "no dashboard (HESP_DASHBOARD=off)",
    }[access]
    root = posix_root(ProductionSettings.of(catalog.settings))
    files = f"{root} at {base}/storage/" if root else "no /storage (the storage is S3)"
    console.print(f"STAC API at {base}/ ({writes}), {dashboard}, metrics at {base}/metrics, {files}")
    console.print("Ctrl-C to stop")
    serve_forever(app, host, port)
