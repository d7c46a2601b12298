"""The web application of ``hesp serve``: the STAC API (hygor) with the supervision beside it, Prometheus
metrics at ``/metrics``, the dashboard at ``/dashboard`` and a POSIX storage root at ``/storage``."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from hydra.dashboard.routes import mount_dashboard
from hydra.metrics import ProductionCollector, RequestLatency
from hydra.settings import DashboardAccess, SupervisionSettings
from hydra.storage_files import StorageFiles, posix_root
from hygor import Catalog
from hymotep.production import Production


def create_app(catalog: Catalog | None = None, dashboard: DashboardAccess | None = None) -> FastAPI:
    """The STAC API of ``catalog`` (from the settings by default), its metrics, its storage root when it is a
    folder and, as ``dashboard`` (from ``HESP_DASHBOARD`` by default) allows, its dashboard."""
    production = Production(catalog)
    app = production.catalog.api()
    if (storage_root := posix_root(production.settings)) is not None:
        app.add_middleware(StorageFiles, root=storage_root)  # in front of the API's own middleware
    registry = CollectorRegistry()  # the application's own: two apps in a process do not share counts
    registry.register(ProductionCollector(production))
    app.add_middleware(RequestLatency, registry=registry)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    mount_dashboard(app, production, dashboard or SupervisionSettings().dashboard)
    return app
