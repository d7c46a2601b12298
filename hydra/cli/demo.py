"""``hesp demo``: the main job on the embedded default database, from input products to the STAC API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import typer

from hydra.cli.db import render_init, render_status
from hydra.cli.gaps import GapsFormat, render_summary
from hydra.cli.ingest import render_report as render_ingest
from hydra.cli.render import console
from hydra.cli.request import render_figures
from hydra.cli.run import render_report, run_with_progress
from hygor.settings import PROJECT_ROOT
from hymotep.production import Production
from hymotep.run_request import ExecutorSpec, RunRequest
from hymotep.work_units import STATES, GapFilter


def demo(
    workers: int = typer.Option(2, min=1, help="Worker processes of the local Dask cluster."),
) -> None:
    """Start the catalogue, make input products, register a request, show its gaps, run the missing work on a
    local Dask cluster with the reference chains, show the gaps again, and query the STAC API."""
    from hydra.web import create_app  # the web stack only for commands that serve
    from hygor.api.server import BackgroundServer
    from hymotep.demo import CHAINS, demo_files  # the reference chains' rasterio and numpy for the demo only

    production = Production()
    catalog = production.catalog
    console.rule("1. the catalogue database (embedded unless HESP_DATABASE_URL is set)")
    catalog.up()
    render_init(production.init())
    console.rule("2. what to produce: the example requests of the call for projects, and their cost")
    for path in sorted((PROJECT_ROOT / "schemas" / "examples").glob("*.yaml")):
        stored = production.add_request(path, replace=True)
        console.print(f"request {stored.name}: {stored.tiles} tiles, {', '.join(stored.chains)}")
    render_figures("all requests together (shared tiles once)", production.estimate().total)
    console.rule("3. input products: Sentinel-2 L1C (SAFE), DEM and CAMS over three tiles, January-February 2024")
    files = demo_files(catalog.settings.home)
    console.print(f"{'made' if files.made else 'reused'} synthetic inputs in {files.inputs[-1].parent}")
    render_ingest(catalog.ingest(files.inputs))
    demo_request = production.add_request(files.request, replace=True)
    wanted = GapFilter(requests=[demo_request.name], collections=CHAINS, states=STATES)
    console.rule(f"4. the gaps of request {demo_request.name}: {', '.join(demo_request.chains)}")
    render_summary(production.gap_summary(wanted), GapsFormat.TABLE)
    console.rule(f"5. running the missing work on a local Dask cluster of {workers} processes (reference chains)")
    run_request = RunRequest(scope=wanted, executor=ExecutorSpec(workers=workers))
    report = run_with_progress(production, run_request, chain_path=str(files.chain_path))
    render_report(report)
    console.rule("6. the gaps again")
    after = production.gap_summary(wanted)
    render_summary(after, GapsFormat.TABLE)
    left = sum(row["units"] for row in after if row["state"] in ("runnable", "failed", "queued", "running"))
    console.rule("7. the outputs: Cloud Optimized GeoTIFFs under the storage root")
    storage = production.settings.storage_root
    rasters, invalid = validate_cogs(storage)
    console.print(f"{rasters} GeoTIFFs under {storage}, {len(invalid)} not valid COGs (rio-cogeo)")
    for path in invalid[:5]:
        console.print(f"  not a valid COG: {path}", markup=False)
    console.rule("8. the STAC API, as a portal sees it")
    with BackgroundServer(create_app(catalog)) as url, httpx.Client(base_url=url, timeout=30) as api:
        show_api(api, url)
    console.rule("next")
    console.print("the status of the catalogue:")
    render_status(production.database_status())
    console.print("see the gaps: .venv/bin/hesp gaps --request demo   run what is missing: .venv/bin/hesp run")
    console.print("what production is doing: .venv/bin/hesp status   health checks: .venv/bin/hesp doctor")
    console.print(
        "serve the API, the dashboard and the metrics: .venv/bin/hesp serve   (then open "
        "http://127.0.0.1:8080/dashboard, http://127.0.0.1:8080/api.html, http://127.0.0.1:8080/metrics)"
    )
    console.print('connect with psql: psql "$(.venv/bin/hesp db url)"   stop the database: .venv/bin/hesp db down')
    if left or invalid or report.failed or report.lost:
        console.print(f"the demo did not finish its work: {left} units left, {len(invalid)} invalid COGs")
        raise typer.Exit(1)


def validate_cogs(root: Path) -> tuple[int, list[Path]]:
    """How many GeoTIFFs lie under ``root``, and those that are not valid Cloud Optimized GeoTIFFs."""
    from rio_cogeo.cogeo import cog_validate

    rasters = sorted(
        p for p in root.rglob("*.tif") if not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    return len(rasters), [p for p in rasters if not cog_validate(str(p), quiet=True)[0]]


def show_api(api: httpx.Client, url: str) -> None:
    """A few requests a portal makes: collections, a snow item and its lineage, a search by tile."""
    landing = api.get("/").json()
    console.print(f"GET {url}/ -> {landing['title']!r}")
    from hymotep.demo import CHAINS

    for collection in CHAINS:
        found = api.get(f"/collections/{collection}/items", params={"limit": 1}).json()
        number = found.get("numberMatched", len(found.get("features", [])))
        console.print(f"GET {url}/collections/{collection}/items -> {number} items")
    snow = api.get("/collections/lis-snow/items", params={"limit": 1}).json()["features"]
    if snow:
        item = snow[0]
        console.print(f"snow item {item['id']}: made from {', '.join(_lineage(item))}")
        console.print(f"  its quicklook: {_quicklook(item)}")
    search = api.get("/search", params={"collections": "maja-l2a", "filter": "\"grid:code\" = 'MGRS-31TCH'",
                                        "filter-lang": "cql2-text", "limit": 100}).json()  # fmt: skip
    console.print(f"GET {url}/search?collections=maja-l2a&filter=grid:code='MGRS-31TCH' -> "
                  f"{len(search.get('features', []))} L2A items")  # fmt: skip


def _lineage(item: dict[str, Any]) -> list[str]:
    return [link["href"].split("/")[-1] for link in item.get("links", []) if link.get("rel") == "derived_from"]


def _quicklook(item: dict[str, Any]) -> str:
    for asset in item.get("assets", {}).values():
        if "overview" in asset.get("roles", []) or "visual" in asset.get("roles", []):
            return str(asset["href"])
    return "none"
