"""``hesp gaps``: what the requests expect and is not there yet, why, and in which mode it will run."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from enum import StrEnum
from typing import IO, Annotated, Any, cast

import orjson
import typer

from hydra.cli.options import comma_list
from hydra.cli.render import console, table
from hymotep.production import Production
from hymotep.work_units import COLUMNS, GAP_STATES, STATES, GapFilter, State


class GapsFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    GEOJSON = "geojson"


Collections = Annotated[
    list[str] | None,
    typer.Option("--collection", "-c", help="Produced collections (comma-separated or repeated).", callback=comma_list),
]
Requests = Annotated[
    list[str] | None,
    typer.Option("--request", "-r", help="Request names (comma-separated or repeated).", callback=comma_list),
]
Tiles = Annotated[
    list[str] | None, typer.Option("--tile", "-t", help="Tile ids (comma-separated or repeated).", callback=comma_list)
]
Since = Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"], help="First date (UTC).")]
Until = Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Last date (UTC).")]


def gap_filter(
    collection: list[str] | None,
    request: list[str] | None,
    tile: list[str] | None,
    since: datetime | None,
    until: datetime | None,
    **more: Any,
) -> GapFilter:
    """The filter of the command line's options (shared by ``hesp gaps`` and ``hesp plan``)."""
    return GapFilter(
        collections=collection or (),
        requests=request or (),
        tiles=[t.upper().removeprefix("T") for t in tile or ()],
        since=since.date() if since else None,
        until=until.date() if until else None,
        **more,
    )


def gaps(
    collection: Collections = None,
    request: Requests = None,
    tile: Tiles = None,
    since: Since = None,
    until: Until = None,
    state: Annotated[
        list[str] | None,
        typer.Option(
            "--state",
            "-s",
            callback=comma_list,
            help=f"{', '.join(STATES)} (comma-separated or repeated; default: the gaps, not done or invalid).",
        ),
    ] = None,
    chain_version: Annotated[
        str | None, typer.Option(help="Requested chain version (default: chain.yaml's); older products are outdated.")
    ] = None,
    summary: Annotated[
        bool, typer.Option("--summary/--list", help="Units per collection and state, or one line per unit.")
    ] = True,
    by_request: Annotated[bool, typer.Option("--by-request", help="A summary per request and collection.")] = False,
    output: Annotated[GapsFormat, typer.Option("--format", "-f", help="Output format.")] = GapsFormat.TABLE,
) -> None:
    """The units of work the requests expect, by state: runnable, blocked, queued, running, failed, outdated,
    not-accepted (asked only by requests left out), and done, invalid. A summary by default; --list streams one
    line per unit."""
    states = tuple(cast(State, s) for s in state) if state else GAP_STATES
    wanted = gap_filter(collection, request, tile, since, until, states=states, chain_version=chain_version)
    production = Production()
    if summary:
        render_summary(production.gap_summary(wanted, by_request=by_request), output)
    elif output is GapsFormat.CSV:
        for block in production.gaps_csv(wanted):
            sys.stdout.buffer.write(block)
    elif output is GapsFormat.GEOJSON:
        write_geojson(production.gaps(wanted), production, sys.stdout.buffer)
    elif output is GapsFormat.JSON:
        write_json(production.gaps(wanted), sys.stdout.buffer)
    else:
        write_lines(production.gaps(wanted), sys.stdout)


def render_summary(rows: list[dict[str, Any]], output: GapsFormat) -> None:
    """One line per collection (and request), one column per state, and the number of gaps."""
    keys = ["request", "collection"] if rows and "request" in rows[0] else ["collection"]
    lines: dict[tuple[str, ...], dict[str, int]] = {}
    for row in rows:
        lines.setdefault(tuple(row[k] for k in keys), dict.fromkeys(STATES, 0))[row["state"]] = row["units"]
    records = [
        {**dict(zip(keys, key, strict=True)), **counts, "gaps": sum(counts[s] for s in GAP_STATES)}
        for key, counts in lines.items()
    ]
    columns = [*keys, *STATES, "gaps"]
    if output is GapsFormat.JSON:
        print(orjson.dumps(records, option=orjson.OPT_INDENT_2).decode())
    elif output is GapsFormat.CSV:
        print(",".join(columns))
        for record in records:
            print(",".join(str(record[c]) for c in columns))
    elif output is GapsFormat.GEOJSON:
        raise typer.BadParameter("a summary has no geometry: use --list --format geojson", param_hint="--format")
    elif not records:
        console.print(
            "no unit of work: no request asks for these collections, or their inputs have no acquisition on the"
            " requested tiles and dates (see `hesp request list`, `hesp ingest`, `hesp harvest`)"
        )
    else:
        console.print(table("units of work by state", columns, [[r[c] for c in columns] for r in records]))


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {column: _value(row[column]) for column in COLUMNS}


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def write_json(rows: Iterable[dict[str, Any]], out: IO[bytes]) -> None:
    """A JSON array written as the rows come, one unit per line."""
    _write_array(b"[", (orjson.dumps(_jsonable(row)) for row in rows), b"]\n", out)


def write_geojson(rows: Iterable[dict[str, Any]], production: Production, out: IO[bytes]) -> None:
    """A FeatureCollection, one feature per unit with its tile's footprint, written as the rows come."""
    footprints = production.tile_footprints(production.requested_tiles())

    def features() -> Iterator[bytes]:
        for row in rows:
            feature = {"type": "Feature", "geometry": footprints.get(row["tile"]), "properties": _jsonable(row)}
            yield orjson.dumps(feature)

    _write_array(b'{"type":"FeatureCollection","features":[', features(), b"]}\n", out)


def _write_array(opening: bytes, elements: Iterable[bytes], closing: bytes, out: IO[bytes]) -> None:
    out.write(opening)
    for number, element in enumerate(elements):
        out.write(b"\n" if number == 0 else b",\n")
        out.write(element)
    out.write(closing)


LINE = "{collection:<18} {tile:<6} {unit:<21} {state:<9} {mode:<8} {reason}"


def write_lines(rows: Iterable[dict[str, Any]], out: IO[str]) -> None:
    """Aligned lines for people, printed as the rows come (a table of millions is never held)."""
    out.write(
        LINE.format(collection="collection", tile="tile", unit="unit", state="state", mode="mode", reason="reason")
    )
    out.write("\n")
    for row in rows:
        unit = (
            f"{row['acquired']:%Y-%m-%d}/{row['period_end']:%Y-%m-%d}"
            if row["period_end"]
            else f"{row['acquired']:%Y-%m-%dT%H:%MZ}"
        )
        values = {"unit": unit, "mode": row["mode"] or "", "reason": row["reason"] or ""}
        out.write(LINE.format(**{**row, **values}) + "\n")
