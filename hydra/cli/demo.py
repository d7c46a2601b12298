"""``hesp demo``: the main job on the embedded default database; it grows with each workshop."""

from __future__ import annotations

import httpx

from hydra.cli.db import render_init, render_status
from hydra.cli.render import console
from hydra.cli.request import render_figures
from hygor import Catalog
from hygor.settings import PROJECT_ROOT
from hymotep.production import Production


def demo() -> None:
    """Start the catalogue, load the collections and the grid, register the example requests with their
    estimates, and query the STAC API."""
    from hygor.api.server import BackgroundServer  # the web stack only for commands that serve

    catalog = Catalog()
    console.rule("1. the catalogue database (embedded unless HESP_DATABASE_URL is set)")
    catalog.up()
    render_init(catalog.init())
    console.rule("2. what it holds")
    render_status(catalog.status())
    console.rule("3. what to produce: the example requests of the call for projects")
    production = Production(catalog)
    for path in sorted((PROJECT_ROOT / "schemas" / "examples").glob("*.yaml")):
        stored = production.add_request(path, replace=True)
        console.print(
            f"request {stored.name}: {stored.tiles} tiles, {', '.join(stored.chains)}, priority {stored.priority}"
        )
    for request in production.estimate().requests:
        render_figures(f"{request.name}", request)
    render_figures("all requests together (shared tiles once)", production.estimate().total)
    console.rule("4. the STAC API, as a portal sees it")
    with BackgroundServer(catalog.api()) as url, httpx.Client(base_url=url, timeout=30) as api:
        landing = api.get("/").json()
        collections = api.get("/collections", params={"limit": 1000}).json()["collections"]
        queryables = sorted(api.get("/queryables").json()["properties"])
        console.print(f"GET {url}/ -> {landing['title']!r}, {len(landing['conformsTo'])} conformance classes")
        console.print(f"GET {url}/collections -> {len(collections)} collections")
        console.print(f"GET {url}/queryables -> {', '.join(queryables)}")
    console.rule("next")
    console.print("see what the requests still miss: .venv/bin/hesp gaps   (after `hesp ingest` of their inputs)")
    console.print("serve the API: .venv/bin/hesp serve   (then open http://127.0.0.1:8080/api.html)")
    console.print('connect with psql: psql "$(.venv/bin/hesp db url)"   stop the database: .venv/bin/hesp db down')
