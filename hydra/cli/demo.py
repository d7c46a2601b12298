"""``hesp demo``: renders the steps of the demo (``reference_chains.demo``) as they come."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from hydra.cli.db import render_init, render_status
from hydra.cli.gaps import GapsFormat, render_summary
from hydra.cli.ingest import render_report as render_ingest
from hydra.cli.render import console
from hydra.cli.request import render_figures
from hydra.cli.run import render_report, run_with_progress
from hygor import Catalog

if TYPE_CHECKING:
    from reference_chains.demo import Finished


def demo(
    workers: int = typer.Option(2, min=1, help="Worker processes of the local Dask cluster."),
) -> None:
    """Start the catalogue, make input products, register a request, show its gaps, run the missing work on a
    local Dask cluster with the reference chains, show the gaps again, and query the STAC API."""
    from reference_chains import demo as steps  # the optional extra hesperides[reference]: only for the demo

    for step in steps.run_demo(Catalog(), workers=workers, runner=run_with_progress):
        match step:
            case steps.Section(title):
                console.rule(title)
            case steps.CatalogReady(report):
                render_init(report)
            case steps.RequestRegistered(request):
                console.print(f"request {request.name}: {request.tiles} tiles, {', '.join(request.chains)}")
            case steps.Estimated(title, figures):
                render_figures(title, figures)
            case steps.InputsIngested(folder, made, report):
                console.print(f"{'made' if made else 'reused'} synthetic inputs in {folder}")
                render_ingest(report)
            case steps.Gaps(rows):
                render_summary(rows, GapsFormat.TABLE)
            case steps.Ran(report):
                render_report(report)
            case steps.CogsChecked(root, rasters, invalid):
                console.print(f"{rasters} GeoTIFFs in {root}, {len(invalid)} not valid COGs (rio-cogeo)")
                for path in invalid[:5]:
                    console.print(f"  not a valid COG: {path}", markup=False)
            case steps.ApiAnswer(request, answer):
                console.print(f"{request} -> {answer}", markup=False)
            case steps.Lineage(item, inputs, quicklook):
                console.print(f"snow item {item}: made from {', '.join(inputs)}", markup=False)
                console.print(f"  its quicklook: {quicklook}", markup=False)
            case steps.Finished() as finished:
                render_next(finished)
                if not finished.done:
                    raise typer.Exit(1)


def render_next(finished: Finished) -> None:
    console.rule("next")
    console.print("the status of the catalogue:")
    render_status(finished.status)
    console.print("see the gaps: hesp gaps --request demo   run what is missing: hesp run")
    console.print("what production is doing: hesp status   health checks: hesp doctor")
    console.print(
        "serve the API, the dashboard and the metrics: hesp serve   (then open "
        "http://127.0.0.1:8080/dashboard, http://127.0.0.1:8080/api.html, http://127.0.0.1:8080/metrics)"
    )
    console.print('connect with psql: psql "$(hesp db url)"   stop the database: hesp db down')
    if not finished.done:
        console.print(f"the demo did not finish its work: {finished.units_left} units left, "
                      f"{finished.invalid_cogs} invalid COGs, {finished.jobs_failed} jobs failed or lost")  # fmt: skip
