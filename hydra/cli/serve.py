"""``hesp serve``: the STAC API, with the metrics and the dashboard."""

from __future__ import annotations

from typing import Annotated

import typer

from hydra.cli.render import console
from hygor import Catalog

FACTORY = "hydra.web:create_app"  # what each worker process calls: the settings are read from its environment


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Server processes (default: one per core, within the database's connections)."),
    ] = None,
) -> None:
    """Serve the STAC API (writes only with HESP_API_TOKEN, as `Authorization: Bearer <token>`), the dashboard,
    the Prometheus metrics and a folder storage root at /storage (read-only)."""
    from hydra.settings import SupervisionSettings
    from hydra.storage_files import posix_root
    from hydra.web import create_app  # the web stack only for commands that serve
    from hygor.api.pools import connections_per_worker
    from hygor.api.server import require_free, serve_forever, worker_count
    from hymotep.settings import ProductionSettings

    require_free(host, port)  # before saying where it serves
    catalog = Catalog()
    access = SupervisionSettings().dashboard
    app = create_app(catalog, access)  # built here too, so that a bad setting stops it before it says it serves
    per_worker = connections_per_worker(catalog.settings.api_pool, catalog.settings.api_token is not None)
    processes = worker_count(catalog.database(), per_worker, workers)
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
    console.print(f"{processes} server process{'es' if processes > 1 else ''}")
    console.print("Ctrl-C to stop")
    serve_forever(app if processes == 1 else FACTORY, host, port, processes)
