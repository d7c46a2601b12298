"""The dashboard's HTTP side: the page, its static files (all shipped in ``static/``: no CDN, no web basemap)
and the JSON it reads (``/dashboard/api/...``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from hydra.dashboard import data
from hydra.settings import DashboardAccess
from hygor.api.auth import bearer_matches
from hymotep.production import Production

PREFIX = "/dashboard"
STATIC = Path(str(resources.files("hydra.dashboard").joinpath("static")))


def mount_dashboard(app: FastAPI, production: Production, access: DashboardAccess) -> None:
    """Serve the dashboard of ``production`` at ``/dashboard`` on ``app``, unless ``access`` is ``off``."""
    if access == "off":
        return
    app.include_router(router(production, access))
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="dashboard-static")


def router(production: Production, access: DashboardAccess) -> APIRouter:
    routes = APIRouter(prefix=PREFIX, tags=["Dashboard"])
    secret = production.catalog.settings.api_token
    token = secret.get_secret_value() if secret else None

    def shows_logs(request: Request) -> bool:
        """Logs may hold what a chain printed: public only when the site says so, else for the token's holder."""
        return access == "public" or bearer_matches(request.headers.getlist("authorization"), token)

    @routes.get("", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @routes.get("/api/overview", summary="Progress per request, job counts, recent failures")
    def overview(request: Request) -> dict[str, Any]:
        return data.overview(production, with_logs=shows_logs(request))

    @routes.get("/api/tiles", summary="Footprints of the requested tiles (GeoJSON)")
    def tiles() -> Response:
        return Response(data.requested_tiles(production), media_type="application/geo+json")

    @routes.get("/api/completeness", summary="Units per state and completeness of each tile of a collection")
    @not_found_as_404
    def completeness(collection: str, request: str | None = None) -> dict[str, Any]:
        return data.completeness(production, collection, request)

    @routes.get("/api/tiles/{tile}", summary="A collection's products and open gaps on a tile")
    @not_found_as_404
    def tile(tile: str, collection: str = Query()) -> dict[str, Any]:
        return data.tile_products(production, tile, collection)

    @routes.get("/api/countries", summary="Country outlines, the map's background (Natural Earth)")
    def countries() -> Response:
        return Response(data.countries(), media_type="application/geo+json")

    return routes


def not_found_as_404(endpoint: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    @wraps(endpoint)
    def answer(*args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return endpoint(*args, **kwargs)
        except data.NotFound as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None

    return answer
