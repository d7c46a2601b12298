"""``hesp harvest``: input items from an upstream STAC API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hydra.cli.ingest import render_report
from hydra.cli.options import comma_list
from hydra.cli.render import FormatOption, OutputFormat, console, errors, show
from hygor import Catalog
from hygor.harvest import MISSION_START, HarvestQuery, HarvestReport


def harvest(
    source: Annotated[str, typer.Option("--from", help="Root URL of the upstream STAC API.")],
    collection: Annotated[str, typer.Option(help="Our collection the items go to.")],
    source_collection: Annotated[str | None, typer.Option(help="Upstream collection id (default: same).")] = None,
    tiles: Annotated[
        list[str] | None,
        typer.Option("--tiles", help="Sentinel-2 tiles, e.g. 31TCJ,31TDJ (or repeat).", callback=comma_list),
    ] = None,
    bbox: Annotated[str | None, typer.Option(help="W,S,E,N in degrees.")] = None,
    when: Annotated[str | None, typer.Option("--datetime", help="START/END (dates or RFC 3339; '..' open).")] = None,
    page_size: Annotated[int, typer.Option(help="Items per upstream page.")] = 500,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Pull items month by month; run the same command again to resume or to pick up new acquisitions."""
    if tiles and bbox:
        raise typer.BadParameter("give --tiles or --bbox, not both")
    start, end = parse_interval(when)
    query = HarvestQuery(
        source_url=source,
        collection=collection,
        source_collection=source_collection or collection,
        tiles=tuple(tiles or ()),
        bbox=parse_bbox(bbox) if bbox else None,
        start=start,
        end=end,
        page_size=page_size,
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=errors, transient=True, disable=output is OutputFormat.JSON) as bar:
        task = bar.add_task("harvesting units")

        def advance(report: HarvestReport) -> None:
            done = report.ingested + report.updated + report.unchanged
            completed = report.units_skipped + report.units_done
            bar.update(task, total=report.units, completed=completed, description=f"{done} items")

        report = Catalog().harvest(query, advance)
    show(report, output, render_harvest)
    if not report.ok:
        raise typer.Exit(1)


def render_harvest(report: HarvestReport) -> None:
    console.print(f"{report.units} units, {report.units_skipped} already harvested")
    render_report(report)


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not W,S,E,N") from None
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south < north <= 90):
        raise typer.BadParameter(f"{text!r} is not a bbox in degrees (W,S,E,N)")
    return west, south, east, north


def parse_interval(text: str | None) -> tuple[datetime, datetime | None]:
    if not text:
        return MISSION_START, None
    parts = text.split("/")
    if len(parts) != 2:
        raise typer.BadParameter(f"{text!r} is not START/END")
    start = MISSION_START if parts[0] in ("", "..") else _instant(parts[0])
    end = None if parts[1] in ("", "..") else _instant(parts[1])
    if end is not None and end <= start:
        raise typer.BadParameter(f"{text!r} ends before it starts")
    return start, end


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date or RFC 3339 datetime") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
