"""The demo (``hesp demo``): the main job on the catalogue of the settings, from input products to the STAC API.

``run_demo`` does the work and yields typed steps, which the command line renders. Its production: synthetic
Sentinel-2 inputs over real tiles, one request, and the reference chains. Three tiles of the Pyrenees and the
Garonne plain (mountains with snow, lakes and rivers), January and February 2024: Sentinel-2 L1C every 5 days in
the SAFE layout, each tile's DEM and each day's CAMS, made once under ``<home>/demo`` and ingested like any
input. The request asks for every Sentinel-2 chain that runs here: MAJA L2A, LIS snow, Surfwater water and the
WASP monthly synthesis. The chain path of the reference chains is recorded in ``<home>`` (``CHAIN_PATH_RECORD``)
so that ``hesp doctor`` and ``hesp run`` find the same chains afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import httpx
import rasterio
from rio_cogeo.cogeo import cog_validate

from hygor import Catalog
from hygor.api.server import BackgroundServer
from hygor.catalog import CatalogStatus, InitReport
from hygor.ingest import IngestReport
from hymotep.estimate import Figures
from hymotep.executors import RunReport
from hymotep.production import Production
from hymotep.run_request import ExecutorSpec, RunRequest
from hymotep.settings import CHAIN_PATH_RECORD
from hymotep.storage import Storage
from hymotep.store import StoredRequest
from hymotep.work_units import STATES, GapFilter
from reference_chains import launchers
from reference_chains.maja_userconf import write_user_configuration
from reference_chains.synthetic import make_inputs

TILES = ("31TCH", "31TDH", "31TCJ")
START, END = date(2024, 1, 1), date(2024, 2, 29)
CHAINS = ("maja-l2a", "lis-snow", "surfwater-water", "maja-l3a-monthly")
REQUEST = f"""\
# The demo's request: every Sentinel-2 chain of the centre over three tiles, two winter months.
name: demo
title: Hespérides demo, Pyrenees and Garonne, January-February 2024
requester: {{name: Hespérides demo}}
zone: {{tiles: [{", ".join(TILES)}]}}
chains: [{", ".join(CHAINS)}]
period: {{start: {START}, end: {END}}}
priority: 1
"""
DONE_MARKER = ".complete"
MAJA_USERCONF = "maja/userconf"  # in HESP_HOME: "{home}/maja/userconf" of maja-l2a's chain.yaml
EXAMPLE_REQUESTS = resources.files("hymotep").joinpath("examples")


class Runner(Protocol):
    """What runs the missing work: ``Production.run``, or the command line's with a progress bar."""

    def __call__(self, production: Production, request: RunRequest, *, chain_path: str) -> RunReport: ...


@dataclass(frozen=True)
class DemoFiles:
    inputs: list[Path]  # what to ingest: the DEM and CAMS items, the folder of L1C products
    request: Path
    chain_path: Path  # the reference chains under the real binaries' names
    made: bool  # False when an earlier demo made them


def demo_files(home: Path) -> DemoFiles:
    """The demo's inputs, request and chain launchers under ``home``; the inputs are made on the first run."""
    root = (home / "demo").absolute()
    inputs = root / "inputs"
    made = not (inputs / DONE_MARKER).exists()
    if made:
        make_inputs(inputs, TILES, START, END)
        (inputs / DONE_MARKER).touch()
    request = root / "demo-request.yaml"
    request.write_text(REQUEST)
    auxiliary = sorted((inputs / "dem-tiles").glob("*.json")) + sorted((inputs / "cams-aerosol").glob("*.json"))
    write_user_configuration(home.absolute() / MAJA_USERCONF)  # the folder of maja-l2a's chain.yaml
    return DemoFiles([*auxiliary, inputs / "sentinel-2-l1c"], request, launchers.install(root / "bin"), made)


@dataclass(frozen=True)
class Section:
    title: str


@dataclass(frozen=True)
class CatalogReady:
    report: InitReport


@dataclass(frozen=True)
class RequestRegistered:
    request: StoredRequest


@dataclass(frozen=True)
class Estimated:
    title: str
    figures: Figures


@dataclass(frozen=True)
class InputsIngested:
    folder: Path
    made: bool
    report: IngestReport


@dataclass(frozen=True)
class Gaps:
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class Ran:
    report: RunReport


@dataclass(frozen=True)
class CogsChecked:
    root: str  # a folder, or s3://bucket/prefix
    rasters: int
    invalid: list[str]


@dataclass(frozen=True)
class ApiAnswer:
    request: str  # GET <url>...
    answer: str


@dataclass(frozen=True)
class Lineage:
    """A snow item as the API serves it: the products it was made from, its quicklook."""

    item: str
    inputs: list[str]
    quicklook: str


@dataclass(frozen=True)
class Finished:
    status: CatalogStatus
    units_left: int
    invalid_cogs: int
    jobs_failed: int

    @property
    def done(self) -> bool:
        return not (self.units_left or self.invalid_cogs or self.jobs_failed)


DemoStep = (
    Section | CatalogReady | RequestRegistered | Estimated | InputsIngested | Gaps | Ran | CogsChecked | ApiAnswer
    | Lineage | Finished
)  # fmt: skip


def _production_run(production: Production, request: RunRequest, *, chain_path: str) -> RunReport:
    return production.run(request, chain_path=chain_path)


def run_demo(catalog: Catalog, *, workers: int = 2, runner: Runner = _production_run) -> Iterator[DemoStep]:
    """Start the catalogue, make input products, register a request, show its gaps, run the missing work on a
    local Dask cluster of ``workers`` processes with the reference chains, show the gaps again, check the COGs
    and query the STAC API; the last step says whether anything was left undone."""
    yield Section("1. the catalogue database (embedded unless HESP_DATABASE_URL is set)")
    catalog.up()
    production = Production(catalog)
    yield CatalogReady(production.init())
    yield Section("2. what to produce: the example requests of the call for projects, and their cost")
    for example in sorted(EXAMPLE_REQUESTS.iterdir(), key=lambda e: e.name):
        with resources.as_file(example) as path:
            yield RequestRegistered(production.add_request(path, replace=True))
    yield Estimated("all requests together (shared tiles once)", production.estimate().total)
    yield Section("3. input products: Sentinel-2 L1C (SAFE), DEM and CAMS over three tiles, January-February 2024")
    files = demo_files(catalog.settings.home)
    yield InputsIngested(files.inputs[-1].parent, files.made, catalog.ingest(files.inputs))
    request = production.add_request(files.request, replace=True)
    wanted = GapFilter(requests=[request.name], collections=CHAINS, states=STATES)
    yield Section(f"4. the gaps of request {request.name}: {', '.join(request.chains)}")
    yield Gaps(production.gap_summary(wanted))
    yield Section(f"5. running the missing work on a local Dask cluster of {workers} processes (reference chains)")
    (catalog.settings.home / CHAIN_PATH_RECORD).write_text(f"{files.chain_path}\n")
    run_request = RunRequest(scope=wanted, executor=ExecutorSpec(workers=workers))
    report = runner(production, run_request, chain_path=str(files.chain_path))
    yield Ran(report)
    yield Section("6. the gaps again")
    after = production.gap_summary(wanted)
    yield Gaps(after)
    yield Section("7. the outputs: Cloud Optimized GeoTIFFs in the storage")
    rasters, invalid = validate_cogs(production.settings.storage_spec.open(), production.settings.gdal_options)
    yield CogsChecked(production.settings.storage_location, rasters, invalid)
    yield Section("8. the STAC API, as a portal sees it")
    with BackgroundServer(catalog.api()) as url, httpx.Client(base_url=url, timeout=30) as api:
        yield from query_api(api, url)
    left = sum(row["units"] for row in after if row["state"] in ("runnable", "failed", "queued", "running"))
    yield Finished(production.database_status(), left, len(invalid), report.failed + report.lost)


def validate_cogs(storage: Storage, gdal_options: dict[str, str]) -> tuple[int, list[str]]:
    """How many GeoTIFFs the storage holds (a folder or a bucket), and those that are not valid Cloud Optimized
    GeoTIFFs."""
    with rasterio.Env(**gdal_options):
        rasters = list(storage.gdal_paths(".tif"))
        return len(rasters), [path for path in rasters if not cog_validate(path, quiet=True)[0]]


def query_api(api: httpx.Client, url: str) -> Iterator[ApiAnswer | Lineage]:
    """A few requests a portal makes: collections, a snow item and its lineage, a search by tile."""
    yield ApiAnswer(f"GET {url}/", repr(api.get("/").json()["title"]))
    for collection in CHAINS:
        found = api.get(f"/collections/{collection}/items", params={"limit": 1}).json()
        number = found.get("numberMatched", len(found.get("features", [])))
        yield ApiAnswer(f"GET {url}/collections/{collection}/items", f"{number} items")
    snow = api.get("/collections/lis-snow/items", params={"limit": 1}).json()["features"]
    if snow:
        yield Lineage(snow[0]["id"], _lineage(snow[0]), _quicklook(snow[0]))
    search = api.get("/search", params={"collections": "maja-l2a", "filter": "\"grid:code\" = 'MGRS-31TCH'",
                                        "filter-lang": "cql2-text", "limit": 100}).json()  # fmt: skip
    yield ApiAnswer(f"GET {url}/search?collections=maja-l2a&filter=grid:code='MGRS-31TCH'",
                    f"{len(search.get('features', []))} L2A items")  # fmt: skip


def _lineage(item: dict[str, Any]) -> list[str]:
    return [link["href"].split("/")[-1] for link in item.get("links", []) if link.get("rel") == "derived_from"]


def _quicklook(item: dict[str, Any]) -> str:
    for asset in item.get("assets", {}).values():
        if "overview" in asset.get("roles", []) or "visual" in asset.get("roles", []):
            return str(asset["href"])
    return "none"
