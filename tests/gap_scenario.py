"""A hand-built production scenario whose gaps are known exactly (test_gaps.py).

Request ``scenario`` asks for maja-l2a, lis-snow and maja-l3a-monthly on 31TCJ and 31TDJ, January to March
2023. Sentinel-2 L1C acquisitions every 5 days; the L2A of an acquisition is dated two minutes after its L1C
(the tile's own time, as in MUSCATE names), so they match by acquisition slot, not by equal datetimes.

31TCJ, the tour of the states (maja-l2a):
  Jan 03 done · Jan 08 done · Jan 13 invalid (too cloudy) · Jan 18 made by 4.9.0: outdated, nominal after
  Jan 08 · Jan 23 job queued · Jan 28 job failed · Feb 02 no CAMS for the date: blocked · Feb 07 done ·
  Feb 12 runnable, nominal after Feb 07.
31TDJ, a series with holes (maja-l2a): Jan 03 and Jan 08 done; no acquisition until Feb 07 (30 days: longer
  than the 15-day limit), then eight acquisitions to do every 5 days to Mar 14: Feb 07 restarts BACKWARD, the
  seven others wait for their predecessor (NOMINAL); a last acquisition on Mar 30, 16 days later: INIT.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from hygor import Catalog, Settings
from hygor.db import Database
from hygor.grid import tile as grid_tile
from hygor.items import stac_datetime, tiled_item
from hygor.loader import ItemLoader
from hymotep.production import Production

L2A_DELAY = timedelta(minutes=2)
REQUEST = """
name: scenario
requester: {name: Test}
zone: {tiles: [31TCJ, 31TDJ]}
chains: [maja-l2a, lis-snow, maja-l3a-monthly]
period: {start: 2023-01-01, end: 2023-03-31}
priority: 2
"""


def at(day: str) -> datetime:
    """10:56 UTC on ``day`` (MM-DD of 2023, or a full date): the Sentinel-2 pass over Toulouse."""
    full = day if len(day) == 10 else f"2023-{day}"
    return datetime.combine(date.fromisoformat(full), datetime.min.time(), UTC).replace(hour=10, minute=56)


def every_5_days(first: str, last: str) -> list[str]:
    start, end = at(first), at(last)
    return [(start + timedelta(days=5 * n)).strftime("%m-%d") for n in range((end - start).days // 5 + 1)]


TCJ_L1C = every_5_days("01-03", "02-12")
TDJ_L1C = ["01-03", "01-08", *every_5_days("02-07", "03-14"), "03-30"]
CAMS_MISSING = "02-02"


def item(
    collection: str,
    tile: str | None,
    when: datetime,
    *,
    valid: bool = True,
    version: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """A minimal item of ``collection`` (on ``tile``, or worldwide when None)."""
    properties: dict[str, Any] = {"datetime": stac_datetime(when), "hesp:valid": valid}
    if version:
        properties["processing:version"] = version
    item_id = name or f"{collection}_{tile or 'world'}_{when:%Y%m%dT%H%M%S}"
    assets = {"data": {"href": f"/var/empty/{collection}/{item_id}", "roles": ["data"]}}  # fetchable, never read
    if tile is None:
        world = {"type": "Polygon", "coordinates": [[[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]]}
        return {
            "type": "Feature",
            "stac_version": "1.1.0",
            "stac_extensions": [],
            "id": item_id,
            "collection": collection,
            "geometry": world,
            "bbox": [-180, -90, 180, 90],
            "properties": properties,
            "links": [],
            "assets": assets,
        }
    return tiled_item(
        item_id=item_id, collection=collection, tile=grid_tile(tile), properties=properties, assets=assets
    )


def l2a(tile: str, day: str, *, valid: bool = True, version: str = "4.10.0") -> dict[str, Any]:
    return item("maja-l2a", tile, at(day) + L2A_DELAY, valid=valid, version=version)


def scenario_items() -> list[dict[str, Any]]:
    items = [item("sentinel-2-l1c", "31TCJ", at(d)) for d in TCJ_L1C]
    items += [item("sentinel-2-l1c", "31TDJ", at(d)) for d in TDJ_L1C]
    first = at("2022-12-31")
    days = [first + timedelta(days=n) for n in range(95)]
    items += [item("cams-aerosol", None, d.replace(hour=0)) for d in days if d.strftime("%m-%d") != CAMS_MISSING]
    items += [item("dem-tiles", tile, at("2000-02-11")) for tile in ("31TCJ", "31TDJ")]
    items += [
        l2a("31TCJ", "01-03"),
        l2a("31TCJ", "01-08"),
        l2a("31TCJ", "01-13", valid=False),
        l2a("31TCJ", "01-18", version="4.9.0"),
        l2a("31TCJ", "02-07"),
        l2a("31TDJ", "01-03"),
        l2a("31TDJ", "01-08"),
    ]
    items += [item("lis-snow", "31TCJ", at("01-03") + L2A_DELAY, version="1.7.0")]
    return items


def slot_of(conn: Any, tile: str, day: str) -> int:
    row = conn.execute("SELECT hesp.acquisition_slot(%s, %s) AS slot", (tile, at(day))).fetchone()
    return int(row["slot"])


def build(database_url: str, tmp_path: Path) -> Production:
    """Fill the database with the scenario: items through pgSTAC, the request, two jobs."""
    with ItemLoader(Database(database_url)) as loader:
        loader.load(scenario_items())
    production = Production(Catalog(Settings(database_url=database_url)))
    request_file = tmp_path / "scenario.yaml"
    request_file.write_text(REQUEST)
    production.add_request(request_file)
    with production.catalog.database().connect() as conn:
        for day, state, attempts, error in [("01-23", "queued", 0, None), ("01-28", "failed", 3, "exit code 66")]:
            conn.execute(
                "INSERT INTO hesp.jobs (collection, chain_version, tile, slot, state, attempts, last_error)"
                " VALUES ('maja-l2a', '4.10.0', '31TCJ', %s, %s, %s, %s)",
                (slot_of(conn, "31TCJ", day), state, attempts, error),
            )
    return production
