"""The gap scenario (gap_scenario.py) plus what the dashboard's map needs to show every colour class of maja-l2a.

Request ``scenario`` (gap_scenario): 31TCJ 4 of 9 units done or invalid (44 %), 31TDJ 2 of 11 (18 %): both
"started". Request ``dashboard``, maja-l2a in January 2023, adds four tiles south and east of them, with an L1C
acquisition every 5 days from Jan 02 to Jan 27 (six) where there is one:

- 31TCH every acquisition has its L2A: complete;
- 31TEH four of the six have theirs: 67 %;
- 31TDH none has: 0 %;
- 31TEJ no acquisition at all: no unit (absent from the completeness).

The failed job of gap_scenario (31TCJ, Jan 28) gets a log under the storage root, so that its tail shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gap_scenario
import psycopg
from gap_scenario import at, every_5_days, item, l2a

from hygor import Catalog
from hygor.db import Database
from hygor.loader import ItemLoader
from hymotep.production import Production
from hymotep.settings import ProductionSettings

REQUEST = """
name: dashboard
requester: {name: Test}
zone: {tiles: [31TCH, 31TDH, 31TEH, 31TEJ]}
chains: [maja-l2a]
period: {start: 2023-01-01, end: 2023-01-31}
priority: 3
"""
L1C_DAYS = every_5_days("01-02", "01-27")
L2A_DAYS = {"31TCH": L1C_DAYS, "31TEH": L1C_DAYS[:4], "31TDH": []}
API_TOKEN = "scenario-token"
LOG_TAIL = "ERROR: no GIPP for 31TCJ (maja exited with code 66)"

# The colour of each tile for maja-l2a, all requests (as dashboard.js defines them).
COMPLETE, MOST, STARTED, NONE, NO_UNIT = "#1a9850", "#a6d96a", "#fdae61", "#d73027", "#bdbdbd"
COLOURS = {"31TCJ": STARTED, "31TDJ": STARTED, "31TCH": COMPLETE, "31TEH": MOST, "31TDH": NONE, "31TEJ": NO_UNIT}


@dataclass(frozen=True)
class Scenario:
    production: Production
    catalog: Catalog  # with its storage root, where the failed job's log is
    failed_job: int
    log: Path


def build(database_url: str, tmp_path: Path) -> Scenario:
    """Fill the database: the gap scenario, request ``dashboard`` and its items, a log for the failed job."""
    gap_scenario.build(database_url, tmp_path)
    items = [item("dem-tiles", tile, at("2000-02-11")) for tile in L2A_DAYS]
    items += [item("sentinel-2-l1c", tile, at(day)) for tile in L2A_DAYS for day in L1C_DAYS]
    items += [l2a(tile, day) for tile, days in L2A_DAYS.items() for day in days]
    with ItemLoader(Database(database_url)) as loader:
        loader.load(items)
    storage = tmp_path / "storage"
    catalog = Catalog(ProductionSettings(database_url=database_url, storage=storage, api_token=API_TOKEN))
    production = Production(catalog)
    request_file = tmp_path / "dashboard.yaml"
    request_file.write_text(REQUEST)
    production.add_request(request_file)
    log = storage / "logs" / "maja-l2a" / "31TCJ" / "job.log"
    log.parent.mkdir(parents=True)
    log.write_text("".join(f"maja: step {n}\n" for n in range(1, 40)) + LOG_TAIL + "\n")
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "UPDATE hesp.jobs SET log_path = %s WHERE state = 'failed' RETURNING id", (str(log),)
        ).fetchone()
    assert row is not None
    return Scenario(production=production, catalog=catalog, failed_job=int(row[0]), log=log)
