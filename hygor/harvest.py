"""``hesp harvest``: input items from an upstream STAC API, paged, resumable, idempotent.

A harvest is cut into units, one per area (a tile, or the whole bbox) and time window (a month by default).
Each unit is one paged search; its items are re-homed into our collection, checked like any ingested item and
loaded; then the unit is recorded in ``hesp.harvest_units``. Running the same harvest again (after an
interruption, or later) skips the recorded units, so it continues where it stopped; units whose window has not
closed yet are never recorded, so new acquisitions are picked up. Loading is an upsert: nothing is duplicated.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from psycopg.types.json import Jsonb
from shapely.geometry import mapping, shape

from hygor.db import Database, execute, fetch_all, fetch_one
from hygor.grid import UnknownTile, normalise_tile_id, tile
from hygor.ingest import Checker, IngestReport, RejectedItem
from hygor.items import EXTENSIONS, adopt
from hygor.loader import ItemLoader

MISSION_START = datetime(2014, 4, 3, tzinfo=UTC)  # Sentinel-1A: nothing upstream is older
PAGE_SIZE = 500
TILE_IN_ID = re.compile(r"_T?(\d{2}[C-HJ-NP-X][A-HJ-NP-Z][A-HJ-NP-V])(?:_|$)")
# The alternates where a Hespérides peer keeps its own products' files (hymotep.storage): not ours to read.
INTERNAL_ALTERNATES = ("local", "s3")


@dataclass(frozen=True)
class HarvestQuery:
    source_url: str
    collection: str
    source_collection: str
    tiles: tuple[str, ...] = ()
    bbox: tuple[float, float, float, float] | None = None
    start: datetime = MISSION_START
    end: datetime | None = None
    page_size: int = PAGE_SIZE

    def key(self) -> str:
        return hashlib.sha256(orjson.dumps(self.as_json(), option=orjson.OPT_SORT_KEYS)).hexdigest()

    def as_json(self) -> dict[str, Any]:
        return {
            "source_url": self.source_url.rstrip("/"),
            "collection": self.collection,
            "source_collection": self.source_collection,
            "tiles": sorted(self.tiles),
            "bbox": self.bbox,
            "start": self.start.isoformat(),
            "end": self.end.isoformat() if self.end else None,
        }


@dataclass(frozen=True)
class Unit:
    """One area and one time window: one paged search."""

    area: str
    start: datetime
    end: datetime
    search: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.area}/{self.start:%Y-%m-%d}"


class HarvestReport(IngestReport):
    units: int = 0
    units_skipped: int = 0
    units_done: int = 0


UnitDone = Callable[[HarvestReport], None]


def months(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """[start, end) cut at month boundaries."""
    cursor = start
    while cursor < end:
        following = (cursor.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + timedelta(days=32)).replace(
            day=1
        )
        yield cursor, min(following, end)
        cursor = following


def plan_units(query: HarvestQuery, now: datetime) -> list[Unit]:
    end = min(query.end, now) if query.end else now
    areas: list[tuple[str, dict[str, Any]]]
    if query.tiles:
        areas = [(t, {"intersects": mapping(tile(t).footprint())}) for t in query.tiles]
    else:
        areas = [("bbox" if query.bbox else "all", {"bbox": list(query.bbox)} if query.bbox else {})]
    return [
        Unit(area, lo, hi, {**where, "datetime": f"{_rfc3339(lo)}/{_rfc3339(hi - timedelta(microseconds=1))}"})
        for area, where in areas
        for lo, hi in months(query.start, end)
    ]


def item_tile(item: dict[str, Any]) -> str | None:
    """The Sentinel-2 tile an upstream item is on, from the fields catalogues use, or its id."""
    props = item.get("properties", {})
    candidates = [
        props.get("grid:code"),
        props.get("s2:mgrs_tile"),
        props.get("tileId"),
        "".join(str(props.get(k, "")) for k in ("mgrs:utm_zone", "mgrs:latitude_band", "mgrs:grid_square")),
    ]
    match = TILE_IN_ID.search(str(item.get("id", "")))
    candidates.append(match.group(1) if match else None)
    for candidate in candidates:
        if candidate:
            try:
                return normalise_tile_id(str(candidate).zfill(5) if str(candidate)[:1].isdigit() else str(candidate))
            except UnknownTile:
                continue
    return None


def on_grid(item: dict[str, Any]) -> dict[str, Any]:
    """An item on a tile says so in ``grid:code``, by which the inventory places it; upstream items that name their
    tile otherwise (Earth Search v0: ``sentinel:*`` fields and the id) get it, with the grid extension."""
    properties = item.get("properties", {})
    code = item_tile(item)
    if code is None or properties.get("grid:code"):
        return item
    extensions = list(item.get("stac_extensions", []))
    if not any("/grid/" in extension for extension in extensions):
        extensions.append(EXTENSIONS["grid"])
    return {**item, "stac_extensions": extensions, "properties": {**properties, "grid:code": f"MGRS-{code}"}}


def owner_tile(item: dict[str, Any], tiles: tuple[str, ...]) -> str | None:
    """The tile whose unit loads an upstream item: its own tile when it is on one; else (Sentinel-1 slices cross
    the grid) the first of ``tiles`` its footprint covers, so that a slice over several of them is loaded once."""
    own = item_tile(item)
    if own is not None or not item.get("geometry"):
        return own
    try:
        footprint = shape(item["geometry"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # a malformed geometry is for validation to reject
    return next((t for t in tiles if tile(t).footprint().intersects(footprint)), None)


def harvest(
    database: Database,
    query: HarvestQuery,
    checker: Checker,
    on_unit: UnitDone | None = None,
    now: datetime | None = None,
    settle: timedelta = timedelta(0),
) -> HarvestReport:
    """Harvest what ``query`` names, skipping the units a previous run of the same query finished. A unit is
    recorded (not fetched again) once its window has been closed for ``settle``: acquisitions published late
    upstream are still picked up by a harvest repeated meanwhile (``hesp watch``)."""
    from pystac_client import Client  # HTTP client stack only for harvests

    now = now or datetime.now(UTC)
    units = plan_units(query, now)
    report = HarvestReport(units=len(units))
    with database.connect(autocommit=True) as conn:
        harvest_id = fetch_one(
            conn,
            "upsert_harvest",
            key=query.key(),
            source_url=query.source_url,
            source_collection=query.source_collection,
            target_collection=query.collection,
            query=Jsonb(query.as_json()),
        )["id"]
        done = {row["unit"] for row in fetch_all(conn, "harvest_units_done", harvest_id=harvest_id)}
        client = Client.open(query.source_url)
        with ItemLoader(database) as loader:
            for unit in units:
                if unit.name in done:
                    report.units_skipped += 1
                    continue
                count = _harvest_unit(client, query, unit, loader, checker, report)
                if unit.end <= now - settle:  # a window closed (and settled): its items are final
                    execute(conn, "record_harvest_unit", harvest_id=harvest_id, unit=unit.name, items=count)
                report.units_done += 1
                if on_unit:
                    on_unit(report)
    return report


def _harvest_unit(
    client: Any, query: HarvestQuery, unit: Unit, loader: ItemLoader, checker: Checker, report: HarvestReport
) -> int:
    search = client.search(collections=[query.source_collection], limit=query.page_size, **unit.search)
    count = 0
    for page in search.pages_as_dicts():
        batch = []
        for upstream in page.get("features", []):
            if query.tiles and owner_tile(upstream, query.tiles) not in (None, unit.area):
                continue  # another tile's item overlapping this one: harvested under its own unit, if asked for
            item = on_grid(adopt(without_internal_locations(upstream), query.collection))
            problem = checker.problem(item)
            if problem is not None:
                report.rejected.append(RejectedItem(path=query.source_url, reason=problem, item_id=item.get("id")))
                continue
            batch.append(item)
        if batch:
            report.count(loader.load(list({item["id"]: item for item in batch}.values())))
            count += len(batch)
    return count


def without_internal_locations(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` less the alternates where a Hespérides peer keeps its products' files (``local``: a path on its
    machines, ``s3``: its bucket; see hymotep.storage): not ours to read, its public hrefs are."""
    assets = {}
    for key, asset in item.get("assets", {}).items():
        alternate = asset.get("alternate") if isinstance(asset, dict) else None
        if isinstance(alternate, dict) and set(alternate) & set(INTERNAL_ALTERNATES):
            kept = {name: place for name, place in alternate.items() if name not in INTERNAL_ALTERNATES}
            asset = {k: v for k, v in asset.items() if k != "alternate"} | ({"alternate": kept} if kept else {})
        assets[key] = asset
    return {**item, "assets": assets} if "assets" in item else item


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
