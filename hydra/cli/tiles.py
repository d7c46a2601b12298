"""``hesp tiles``: the Sentinel-2 tiles of a zone, and tile counts per continent."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel

from hydra.cli.harvest import parse_bbox
from hydra.cli.options import comma_list
from hydra.cli.render import FormatOption, OutputFormat, console, show, table
from hygor import Catalog
from hygor.regions import bbox_geometry, geojson_geometry, region
from hygor.tiles import TileInfo

app = typer.Typer(help="The Sentinel-2 grid: tiles of a zone, counts per continent.")


class TilesFormat(StrEnum):
    TABLE = "table"
    LIST = "list"
    GEOJSON = "geojson"


class CountBy(StrEnum):
    CONTINENT = "continent"


class TileCounts(BaseModel):
    """Tiles per group (a tile on a border counts for each side)."""

    by: CountBy
    land_only: bool
    tiles: dict[str, int]


@app.callback(invoke_without_command=True)
def tiles(
    ctx: typer.Context,
    geojson: Annotated[Path | None, typer.Option(help="A GeoJSON file of (Multi)Polygons.")] = None,
    bbox: Annotated[str | None, typer.Option(help="W,S,E,N in degrees.")] = None,
    region_name: Annotated[str | None, typer.Option("--region", help="france, a continent or a country.")] = None,
    ids: Annotated[
        list[str] | None, typer.Option("--ids", help="Tile ids (comma-separated or repeated).", callback=comma_list)
    ] = None,
    land_only: Annotated[bool, typer.Option("--land-only", help="Only tiles over land.")] = False,
    output: Annotated[TilesFormat, typer.Option("--format", "-f", help="Output format.")] = TilesFormat.TABLE,
) -> None:
    """The tiles touching a zone (the whole grid without one)."""
    if ctx.invoked_subcommand is not None:
        return
    if sum(option is not None for option in (geojson, bbox, region_name)) > 1:
        raise typer.BadParameter("give one of --geojson, --bbox, --region")
    zone = None
    if geojson is not None:
        zone = geojson_geometry(json.loads(geojson.read_text()), str(geojson))
    elif bbox is not None:
        zone = bbox_geometry(*parse_bbox(bbox))
    elif region_name is not None:
        zone = region(region_name)
    found = Catalog().tiles(zone=zone, ids=ids, land_only=land_only, with_footprint=output is TilesFormat.GEOJSON)
    render_tiles(found, output)


def render_tiles(found: list[TileInfo], output: TilesFormat) -> None:
    if output is TilesFormat.LIST:
        print("\n".join(t.id for t in found))
    elif output is TilesFormat.GEOJSON:
        features = [
            {"type": "Feature", "id": t.id, "geometry": t.footprint, "properties": {"epsg": t.epsg, "land": t.land}}
            for t in found
        ]
        print(json.dumps({"type": "FeatureCollection", "features": features}))
    else:
        console.print(table(f"{len(found)} tiles", ["tile", "EPSG", "land"], [[t.id, t.epsg, t.land] for t in found]))


@app.command()
def count(
    by: Annotated[CountBy, typer.Option("--by", help="Grouping.")] = CountBy.CONTINENT,
    land_only: Annotated[bool, typer.Option("--land-only", help="Only tiles over land.")] = False,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """How many tiles touch each continent (a border tile counts for both sides)."""
    counts = TileCounts(by=by, land_only=land_only, tiles=Catalog().tile_counts_by_continent(land_only))
    show(counts, output, render_counts)


def render_counts(counts: TileCounts) -> None:
    rows = [[name, n] for name, n in counts.tiles.items()]
    console.print(table(f"tiles by {counts.by.value}", [counts.by.value, "tiles"], rows))
