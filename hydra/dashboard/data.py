"""What the dashboard shows, as JSON-ready dictionaries: completeness per tile, progress per request, job counts,
recent failures with their log tails, the products of a tile. Everything is read from the production API
(``hymotep.production.Production``, ``hymotep.queue_status``) and the catalogue; nothing here knows about
HTTP."""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from importlib import resources
from itertools import islice
from pathlib import Path
from typing import Any

from hydra.campaign_status import campaign_rows
from hydra.sql import catalogue_query
from hydra.status import error_kind, production_status
from hymotep import queue_status
from hymotep.chains import load_chains
from hymotep.production import Production
from hymotep.work_units import STATES, GapFilter

FINISHED = ("done", "invalid")  # units that need nothing more: a product, or a legitimate empty one
FAILURES_LISTED = 20
LOG_TAIL_LINES = 20
LOG_TAIL_BYTES = 16_384
PRODUCTS_LISTED = 100
GAPS_LISTED = 100


class NotFound(LookupError):
    """An unknown collection, request or tile."""


def counts(states: dict[str, int]) -> dict[str, Any]:
    """Units, finished units and completeness, the share finished (None without units), of state counts."""
    units = sum(states.values())
    done, invalid = states.get("done", 0), states.get("invalid", 0)
    return {
        "units": units,
        "done": done,
        "invalid": invalid,
        "completeness": (done + invalid) / units if units else None,
        "states": states,
    }


def overview(production: Production, with_logs: bool) -> dict[str, Any]:
    """The page's header and side panel: produced collections, progress per request and collection, job counts
    per collection, recent failures (their log paths and tails only ``with_logs``)."""
    connect = production.catalog.database().connect
    status = production_status(connect)
    requests = production.requests()
    summary = production.gap_summary(GapFilter(requests=[r.name for r in requests]), by_request=True)
    per_request: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for row in summary:
        if row["units"]:
            per_request[row["request"]][row["collection"]][row["state"]] = row["units"]
    return {
        "at": status.at.isoformat(),
        "collections": sorted(load_chains(production.catalog.settings.collections_dir)),
        "requests": [
            {
                "name": r.name,
                "title": r.title,
                "chains": r.chains,
                "tiles": r.tiles,
                "start": r.start.isoformat(),
                "end": r.end.isoformat() if r.end else None,
                "priority": r.priority,
                "decision": r.decision,
                "collections": [
                    {"collection": collection, **counts(states)}
                    for collection, states in sorted(per_request[r.name].items())
                ],
            }
            for r in requests
        ],
        "jobs": [
            c.model_dump(include={"collection", "queued", "retrying", "running", "succeeded", "failed"})
            for c in status.collections
        ],  # fmt: skip
        "failures": recent_failures(production, with_logs),
        "latency": production.latency().model_dump(mode="json"),  # acquisition to product, watched sources
        "campaigns": campaign_rows(status.campaigns),
    }


def recent_failures(production: Production, with_logs: bool, limit: int = FAILURES_LISTED) -> list[dict[str, Any]]:
    """The newest failed attempts, with their error kind and, ``with_logs``, their log's path and tail."""
    logs = production.settings.log_root
    with production.catalog.database().connect() as conn:
        failures = queue_status.recent_failures(conn, limit)
    return [
        {
            **failure.model_dump(exclude=set() if with_logs else {"log_path"}),
            "at": failure.at.isoformat(),
            "kind": error_kind(failure.error),
            "log_tail": log_tail(failure.log_path, logs) if with_logs else None,
            "log_hidden": not with_logs,
        }
        for failure in failures
    ]


def log_tail(path: str | None, logs: Path) -> str | None:
    """The last lines of a job log kept under ``logs`` (the logs folder); None when there is none (or it lies
    elsewhere: the dashboard shows the centre's logs, not any file a job row names)."""
    if not path:
        return None
    log = Path(path).resolve()
    if not log.is_relative_to(logs.resolve()) or not log.is_file():
        return None
    with log.open("rb") as stream:
        stream.seek(max(0, log.stat().st_size - LOG_TAIL_BYTES))
        lines = stream.read().decode("utf-8", errors="replace").splitlines()
    return "\n".join(lines[-LOG_TAIL_LINES:])


def requested_tiles(production: Production) -> bytes:
    """The footprints of every requested tile, as a GeoJSON FeatureCollection (``id``: the tile), encoded."""
    return production.requested_footprints().encode()


def completeness(production: Production, collection: str, request: str | None = None) -> dict[str, Any]:
    """Units per state and completeness of every tile where ``collection`` has units (of ``request``)."""
    _require_collection(production, collection)
    if request is not None and request not in {r.name for r in production.requests()}:
        raise NotFound(f"no request named {request!r}")
    wanted = GapFilter(collections=[collection], requests=[request] if request else [])
    tiles: dict[str, dict[str, int]] = defaultdict(dict)
    for row in production.gap_summary(wanted, by_tile=True):
        if row["units"]:
            tiles[row["tile"]][row["state"]] = row["units"]
    return {
        "collection": collection,
        "request": request,
        "tiles": {tile: counts(states) for tile, states in sorted(tiles.items())},
    }


def tile_products(production: Production, tile: str, collection: str) -> dict[str, Any]:
    """A collection's products on a tile, with links into the STAC API, and the tile's open gaps."""
    _require_collection(production, collection)
    with production.catalog.database().connect() as conn:
        rows = conn.execute(
            catalogue_query("tile_products"), {"collection": collection, "tile": tile, "limit": PRODUCTS_LISTED}
        ).fetchall()
    gaps = production.gaps(GapFilter(collections=[collection], tiles=[tile], states=STATES))
    states: dict[str, int] = defaultdict(int)
    open_gaps = []
    for unit in gaps:
        states[unit["state"]] += 1
        if unit["state"] not in FINISHED:
            acquired = unit["acquired"].isoformat() if unit["acquired"] else None
            open_gaps.append({"acquired": acquired, "state": unit["state"], "reason": unit["reason"]})
    return {
        "tile": tile,
        "collection": collection,
        "total": rows[0]["total"] if rows else 0,
        "products": [
            {
                "id": row["id"],
                "collection": row["collection"],
                "datetime": row["datetime"].isoformat(),
                "valid": row["valid"],
                "version": row["version"],
                "href": f"/collections/{row['collection']}/items/{row['id']}",
            }
            for row in rows
        ],
        **counts(dict(states)),
        "gaps": list(islice(open_gaps, GAPS_LISTED)),
    }


@cache
def countries() -> bytes:
    """Natural Earth's countries (shipped with hygor), the map's only background: no basemap from the web."""
    return resources.files("hygor").joinpath("data", "ne_110m_countries.geojson").read_bytes()


def _require_collection(production: Production, collection: str) -> None:
    produced = load_chains(production.catalog.settings.collections_dir)
    if collection not in produced:
        raise NotFound(f"{collection!r} is not a produced collection (known: {', '.join(sorted(produced))})")
