"""Gaps on hand-built scenarios whose answer is known exactly (tests/gap_scenario.py), through the Python API
and the CLI, on a real pgSTAC database."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import geopandas
import psycopg
import pytest
from conftest import hesp
from gap_scenario import at, build, item, l2a, slot_of
from s1_safe import Slice, write_safe

import hymotep
from hygor import Catalog, Settings
from hygor.db import Database
from hygor.loader import ItemLoader
from hygor.settings import default_collections_dir
from hymotep.chains import load_chains
from hymotep.job_inputs import SLOT_SECONDS, resolve_inputs
from hymotep.production import Production
from hymotep.queue import Job
from hymotep.work_units import STATES, GapError, GapFilter, plan_queries

MAJA = {
    ("31TCJ", "01-03"): ("done", None, None),
    ("31TCJ", "01-08"): ("done", None, None),
    ("31TCJ", "01-13"): ("invalid", None, "the product is empty (too cloudy)"),
    ("31TCJ", "01-18"): ("outdated", None, "made by version 4.9.0, 4.10.0 requested; no campaign covers it"),
    ("31TCJ", "01-23"): ("queued", "nominal", "job 1 queued"),
    ("31TCJ", "01-28"): ("failed", "nominal", "job 2 failed after 3 attempts: exit code 66"),
    ("31TCJ", "02-02"): ("blocked", "nominal", "no cams-aerosol for 2023-02-02"),
    ("31TCJ", "02-07"): ("done", None, None),
    ("31TCJ", "02-12"): ("runnable", "nominal", None),
    ("31TDJ", "01-03"): ("done", None, None),
    ("31TDJ", "01-08"): ("done", None, None),
    # 30 days without acquisition: one restart, BACKWARD over the 8 acquisitions from Feb 07 ...
    ("31TDJ", "02-07"): ("runnable", "backward", None),
    **{
        ("31TDJ", day): ("blocked", "nominal", f"waits for the acquisition of 2023-{before}")
        for before, day in zip(
            ["02-07", "02-12", "02-17", "02-22", "02-27", "03-04", "03-09"],
            ["02-12", "02-17", "02-22", "02-27", "03-04", "03-09", "03-14"],
            strict=True,
        )
    },
    # ... and a second restart 16 days after Mar 14, with nothing after it to initialise on: INIT.
    ("31TDJ", "03-30"): ("runnable", "init", None),
}

LIS = {
    ("31TCJ", "01-03"): ("done", None),
    ("31TCJ", "01-08"): ("runnable", None),
    ("31TCJ", "01-13"): ("invalid", "its maja-l2a input is empty (too cloudy)"),
    ("31TCJ", "01-18"): ("runnable", None),
    ("31TCJ", "02-07"): ("runnable", None),
    ("31TDJ", "01-03"): ("runnable", None),
    ("31TDJ", "01-08"): ("runnable", None),
}  # every other acquisition: blocked, no maja-l2a yet

# WASP's window: the L2A within 23 days of the 15th (Jan: Dec 23 - Feb 7; Feb: Jan 23 - Mar 10; Mar: Feb 20 -
# Apr 7), not the calendar month: 31TDJ's January waits for the L2A of Feb 07.
MONTHLY = {
    ("31TCJ", "01"): ("blocked", "3 acquisitions of the synthesis window have no maja-l2a yet"),  # Jan 23, 28, Feb 02
    ("31TCJ", "02"): ("blocked", "4 acquisitions of the synthesis window have no maja-l2a yet"),  # and Feb 12
    ("31TDJ", "01"): ("blocked", "1 acquisitions of the synthesis window have no maja-l2a yet"),  # Feb 07
    ("31TDJ", "02"): ("blocked", "7 acquisitions of the synthesis window have no maja-l2a yet"),  # Feb 07 - Mar 09
    ("31TDJ", "03"): ("blocked", "6 acquisitions of the synthesis window have no maja-l2a yet"),  # Feb 22 - Mar 30
}


@pytest.fixture
def scenario(db_url: str, tmp_path: Path) -> Production:
    return build(db_url, tmp_path)


def by_unit(rows: list[dict[str, Any]], collection: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["tile"], f"{r['acquired']:%m-%d}"): r for r in rows if r["collection"] == collection}


def test_every_unit_has_the_expected_state_reason_and_mode(scenario: Production) -> None:
    rows = list(scenario.gaps(GapFilter(states=STATES)))

    maja = by_unit(rows, "maja-l2a")
    assert {unit: (r["state"], r["mode"], r["reason"]) for unit, r in maja.items()} == MAJA
    assert maja[("31TCJ", "01-23")]["job"] == 1 and maja[("31TCJ", "01-28")]["attempts"] == 3
    assert maja[("31TCJ", "02-12")]["input"] == "sentinel-2-l1c_31TCJ_20230212T105600"

    lis = by_unit(rows, "lis-snow")
    expected_lis = {unit: LIS.get(unit, ("blocked", "no maja-l2a yet")) for unit in maja}
    assert {unit: (r["state"], r["reason"]) for unit, r in lis.items()} == expected_lis
    assert all(r["mode"] is None for r in lis.values())

    monthly = {(r["tile"], f"{r['acquired']:%m}"): r for r in rows if r["collection"] == "maja-l3a-monthly"}
    assert {unit: (r["state"], r["reason"]) for unit, r in monthly.items()} == MONTHLY
    assert monthly[("31TDJ", "01")]["period_end"] == date(2023, 2, 1)
    assert {r["collection"] for r in rows} == {"maja-l2a", "lis-snow", "maja-l3a-monthly"}  # what was requested


def test_the_summary_counts_every_state(scenario: Production) -> None:
    counts = {(r["collection"], r["state"]): r["units"] for r in scenario.gap_summary(GapFilter())}
    assert counts == {
        ("maja-l2a", "runnable"): 3,
        ("maja-l2a", "blocked"): 8,
        ("maja-l2a", "queued"): 1,
        ("maja-l2a", "failed"): 1,
        ("maja-l2a", "outdated"): 1,
        ("maja-l2a", "invalid"): 1,
        ("maja-l2a", "done"): 5,
        ("lis-snow", "runnable"): 5,
        ("lis-snow", "blocked"): 13,
        ("lis-snow", "invalid"): 1,
        ("lis-snow", "done"): 1,
        ("maja-l3a-monthly", "blocked"): 5,
    }


def test_filters_narrow_the_units(scenario: Production) -> None:
    def units(**filters: Any) -> set[tuple[str, str, str]]:
        rows = scenario.gaps(GapFilter(**filters))
        return {(r["collection"], r["tile"], f"{r['acquired']:%m-%d}") for r in rows}

    assert units(collections=["maja-l2a"], tiles=["31TDJ"], states=["runnable"]) == {
        ("maja-l2a", "31TDJ", "02-07"),
        ("maja-l2a", "31TDJ", "03-30"),
    }
    assert units(collections=["maja-l2a"], since=date(2023, 3, 20)) == {("maja-l2a", "31TDJ", "03-30")}
    assert units(collections=["maja-l2a"], until=date(2023, 1, 10), states=["done"]) == {
        ("maja-l2a", tile, day) for tile in ("31TCJ", "31TDJ") for day in ("01-03", "01-08")
    }
    assert units(requests=["other"]) == set()


def test_the_requested_chain_version_decides_what_is_outdated(scenario: Production) -> None:
    def states(version: str) -> dict[str, int]:
        rows = scenario.gap_summary(GapFilter(collections=["maja-l2a"], chain_version=version))
        return {r["state"]: r["units"] for r in rows}

    assert states("4.9.0")["done"] == 6  # the 4.9.0 product of Jan 18 serves
    # "4.10.0" < "4.11": every product is outdated, the empty one too, and the 4.10.0 jobs do not count. No
    # campaign replays them: their valid products stay the previous ones of the series, which goes on after them
    # (31TCJ Jan 23 and Feb 12 nominal; 31TDJ Feb 07 backward, Mar 30 init), every other acquisition waits for
    # its predecessor (or for its CAMS).
    assert states("4.11") == {"outdated": 7, "runnable": 4, "blocked": 9}


def test_a_synthesis_window_not_over_waits(scenario: Production) -> None:
    """A month's synthesis waits for the end of its window (23 days after the 15th), not of the month; once its
    L2A are all there it is runnable."""
    mid_march = datetime(2023, 3, 15, tzinfo=UTC)
    rows = scenario.gaps(GapFilter(collections=["maja-l3a-monthly"], tiles=["31TDJ"], now=mid_march))
    reasons = {f"{r['acquired']:%m}": r["reason"] for r in rows}
    assert reasons["03"] == "the synthesis window ends on 2023-04-08"
    with Database(str(scenario.catalog.settings.database_url)).connect() as conn:
        conn.execute("DELETE FROM pgstac.items WHERE collection = 'sentinel-2-l1c' AND id LIKE %s AND datetime > %s",
                     ("%31TDJ%", datetime(2023, 2, 1, tzinfo=UTC)))  # fmt: skip
    rows = scenario.gaps(GapFilter(collections=["maja-l3a-monthly"], tiles=["31TDJ"], now=mid_march))
    assert [(f"{r['acquired']:%m}", r["state"]) for r in rows] == [("01", "runnable")]


def test_before_july_2017_the_previous_product_may_be_30_days_old(db_url: str, tmp_path: Path) -> None:
    days = ["2016-03-01", "2016-03-21", "2018-03-01", "2018-03-21"]  # 20 days apart
    items = [item("sentinel-2-l1c", "31TCJ", at(d)) for d in days]
    items += [l2a("31TCJ", "2016-03-01"), l2a("31TCJ", "2018-03-01")]
    items += [item("cams-aerosol", None, at(d)) for d in days] + [item("dem-tiles", "31TCJ", at("2000-02-11"))]
    with ItemLoader(Database(db_url)) as loader:
        loader.load(items)
    request = tmp_path / "r.yaml"
    request.write_text(
        "name: early\nrequester: {name: T}\nzone: {tiles: [31TCJ]}\nchains: [maja-l2a]\nperiod: {start: 2016-01-01}\n"
    )
    production = Production(Catalog(Settings(database_url=db_url)))
    production.add_request(request)
    modes = {f"{r['acquired']:%Y}": r["mode"] for r in production.gaps(GapFilter())}
    assert modes == {"2016": "nominal", "2018": "init"}


def test_the_inventory_follows_every_write_to_pgstac(scenario: Production) -> None:
    def inventory(conn: psycopg.Connection[Any]) -> dict[str, Any]:
        rows = conn.execute("SELECT id, valid, version FROM hesp.inventory WHERE collection = 'maja-l2a'")
        return {row["id"]: (row["valid"], row["version"]) for row in rows}

    url = scenario.catalog.settings.database_url
    assert url is not None
    product = l2a("31TCJ", "02-12", valid=False)
    with ItemLoader(Database(url)) as loader:
        loader.load([product])  # new
        loader.load([{**product, "properties": {**product["properties"], "hesp:valid": True}}])  # changed
    with scenario.catalog.database().connect() as conn:
        assert inventory(conn)[product["id"]] == (True, "4.10.0")
        with conn.transaction():
            conn.execute("DELETE FROM pgstac.items WHERE id = %s", (product["id"],))
        assert product["id"] not in inventory(conn)
        total = conn.execute(
            "SELECT (SELECT count(*) FROM pgstac.items) = (SELECT count(*) FROM hesp.inventory) AS same"
        )
        assert total.fetchone() == {"same": True}


def test_inputs_catalogued_but_not_fetchable_block_their_units(scenario: Production) -> None:
    """An L1C the upstream archive offers only to order, a CAMS field likewise, a DEM listed with no asset: each
    blocks the units that need it, named in the reason; a later write that makes them fetchable unblocks them."""
    offline = {"order:status": "orderable"}
    l1c = item("sentinel-2-l1c", "31TCJ", at("02-12"))
    cams = item("cams-aerosol", None, at("02-07").replace(hour=0))
    dem = item("dem-tiles", "31TDJ", at("2000-02-11"))
    changed = [{**l1c, "properties": {**l1c["properties"], **offline}},
               {**cams, "properties": {**cams["properties"], **offline}}, {**dem, "assets": {}}]  # fmt: skip
    url = str(scenario.catalog.settings.database_url)
    with ItemLoader(Database(url)) as loader:
        loader.load(changed)
    units = by_unit(list(scenario.gaps(GapFilter(collections=["maja-l2a"]))), "maja-l2a")
    assert {key: units[key]["reason"] for key in [("31TCJ", "02-12"), ("31TDJ", "02-07"), ("31TDJ", "03-30")]} == {
        ("31TCJ", "02-12"): f"sentinel-2-l1c {l1c['id']} is catalogued but not fetchable yet",
        ("31TDJ", "02-07"): f"cams-aerosol {cams['id']} is catalogued but not fetchable yet",
        ("31TDJ", "03-30"): f"dem-tiles {dem['id']} is catalogued but not fetchable yet",
    }
    assert all(units[key]["state"] == "blocked" for key in [("31TCJ", "02-12"), ("31TDJ", "02-07")])
    with ItemLoader(Database(url)) as loader:
        loader.load([l1c, cams, dem])
    units = by_unit(list(scenario.gaps(GapFilter(collections=["maja-l2a"]))), "maja-l2a")
    assert [units[key]["state"] for key in [("31TCJ", "02-12"), ("31TDJ", "02-07"), ("31TDJ", "03-30")]] == [
        "runnable", "runnable", "runnable",
    ]  # fmt: skip


def test_untiled_static_inputs_count_for_the_tiles_they_cover(scenario: Production) -> None:
    """A DEM in one-degree cells, not cut on the grid (no grid:code), is the static input of every tile its cell
    meets, and of no other."""
    url = str(scenario.catalog.settings.database_url)
    with Database(url).connect() as conn, conn.transaction():
        conn.execute("DELETE FROM pgstac.items WHERE collection = 'dem-tiles'")
    cell = item("dem-tiles", None, at("2000-02-11"), name="DEM_N43E002")
    box = [[[2.0, 43.0], [3.0, 43.0], [3.0, 44.0], [2.0, 44.0], [2.0, 43.0]]]  # meets 31TDJ, not 31TCJ
    with ItemLoader(Database(url)) as loader:
        loader.load([{**cell, "geometry": {"type": "Polygon", "coordinates": box}, "bbox": [2.0, 43.0, 3.0, 44.0]}])
    units = by_unit(list(scenario.gaps(GapFilter(collections=["maja-l2a"]))), "maja-l2a")
    assert units[("31TDJ", "03-30")]["state"] == "runnable"
    assert units[("31TCJ", "02-12")]["state"] == "blocked" and "dem-tiles" in units[("31TCJ", "02-12")]["reason"]


def test_frames_for_notebooks(scenario: Production) -> None:
    frame = hymotep.gaps("maja-l2a", state="runnable", catalog=scenario.catalog, geometry=True)
    assert isinstance(frame, geopandas.GeoDataFrame) and frame.crs.to_epsg() == 4326
    assert sorted(frame["tile"]) == ["31TCJ", "31TDJ", "31TDJ"]
    assert frame.geometry.is_valid.all() and frame.to_crs(32631).area.between(1.1e10, 1.3e10).all()  # 110 km squares
    summary = hymotep.gap_summary(catalog=scenario.catalog)
    assert summary.loc["maja-l2a", "blocked"] == 8 and summary.loc["maja-l3a-monthly", "queued"] == 0


def test_the_cli_gives_the_python_api_sets_in_json_and_csv(scenario: Production) -> None:
    env = {"HESP_DATABASE_URL": str(scenario.catalog.settings.database_url)}
    key = ("collection", "tile", "slot", "state", "mode", "reason")

    def as_set(rows: list[dict[str, Any]]) -> set[tuple[str, ...]]:
        return {tuple(str(r[k] if r[k] is not None else "") for k in key) for r in rows}

    expected = as_set(list(scenario.gaps(GapFilter(states=STATES))))
    states = ["--state", STATES[0], "--state", ",".join(STATES[1:])]
    as_json = hesp("gaps", "--list", "--format", "json", *states, env=env)
    as_csv = hesp("gaps", "--list", "--format", "csv", *states, env=env)
    assert as_json.returncode == 0 and as_csv.returncode == 0, as_json.stderr + as_csv.stderr
    assert as_set(json.loads(as_json.stdout)) == expected
    assert as_set(list(csv.DictReader(io.StringIO(as_csv.stdout)))) == expected
    assert len(expected) == 20 + 20 + 5  # maja-l2a and lis-snow: 20 acquisitions; monthly: 5 tile-months

    by_request = json.loads(hesp("gaps", "--by-request", "-c", "maja-l2a", "--format", "json", env=env).stdout)
    assert by_request == [
        {
            "request": "scenario",
            "collection": "maja-l2a",
            "runnable": 3,
            "blocked": 8,
            "queued": 1,
            "running": 0,
            "failed": 1,
            "outdated": 1,
            "not-accepted": 0,
            "invalid": 1,
            "done": 5,
            "gaps": 14,
        }
    ]
    summary = hesp("gaps", "--format", "json", env=env)
    assert {r["collection"]: r["gaps"] for r in json.loads(summary.stdout)} == {
        "lis-snow": 18,
        "maja-l2a": 14,
        "maja-l3a-monthly": 5,
    }
    geojson = json.loads(hesp("gaps", "--list", "-f", "geojson", "-c", "maja-l2a", env=env).stdout)
    assert len(geojson["features"]) == 14 and all(f["geometry"]["type"] for f in geojson["features"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-c", "nope"], "error: not a produced collection: nope"),
        (["-s", "late"], "error: unknown state: late"),
        (["--chain-version", "5.0"], "error: a chain version applies to one collection"),
        (["--since", "2023-02-01", "--until", "2023-01-01"], "error: --since 2023-02-01 is after --until 2023-01-01"),
    ],
)
def test_bad_filters_are_one_clear_line(db_url: str, args: list[str], message: str) -> None:
    result = hesp("gaps", *args, env={"HESP_DATABASE_URL": db_url})
    assert result.returncode == 1 and result.stderr.startswith(message) and result.stderr.count("\n") == 1


def test_only_produced_collections_have_gaps() -> None:
    with pytest.raises(GapError, match="not a produced collection: sentinel-2-l1c"):
        plan_queries(load_chains(default_collections_dir()), GapFilter(collections=["sentinel-2-l1c"]))


def test_every_produced_collection_has_its_gaps(scenario: Production, tmp_path: Path) -> None:
    every = tmp_path / "every.yaml"
    every.write_text(
        "name: every-chain\nrequester: {name: T}\nzone: {tiles: [31TCJ]}\n"
        "period: {start: 2022-09-01, end: 2023-08-31}\n"
        "chains: [maja-l2a, lis-snow, surfwater-water, s1tiling-backscatter, maja-l3a-monthly, lis-snow-yearly]\n"
    )
    scenario.add_request(every)
    per_request = hymotep.gap_summary("maja-l2a", by_request=True, catalog=scenario.catalog)
    assert per_request.loc[("every-chain", "maja-l2a"), "runnable"] == 1  # Feb 12 (no unit of 2022 on 31TCJ)
    assert per_request.loc[("scenario", "maja-l2a"), "blocked"] == 8
    rows = scenario.gaps(GapFilter(requests=["every-chain"], states=STATES))
    by_collection: dict[str, set[str]] = {}
    for row in rows:
        by_collection.setdefault(row["collection"], set()).add(row["state"])
    # No Sentinel-1 GRD in the inventory: S1Tiling expects nothing. The hydrological year 2022-2023 waits for
    # the snow products of the season, and Surfwater for the L2A it is made from.
    assert set(by_collection) == {"maja-l2a", "lis-snow", "surfwater-water", "maja-l3a-monthly", "lis-snow-yearly"}
    assert by_collection["lis-snow-yearly"] == {"blocked"}
    assert by_collection["surfwater-water"] == {"runnable", "blocked", "invalid"}


def test_sentinel_1_slices_count_on_every_tile_they_cover(scenario: Production, tmp_path: Path) -> None:
    swath = {"type": "Polygon", "coordinates": [[[0.6, 43.1], [2.6, 43.1], [2.6, 44.6], [0.6, 44.6], [0.6, 43.1]]]}

    def grd(when: datetime) -> dict[str, Any]:
        return {
            "type": "Feature", "stac_version": "1.1.0", "stac_extensions": [], "collection": "sentinel-1-grd",
            "id": f"S1A_IW_GRDH_1SDV_{when:%Y%m%dT%H%M%S}", "geometry": swath, "bbox": [0.6, 43.1, 2.6, 44.6],
            "properties": {"datetime": f"{when:%Y-%m-%dT%H:%M:%SZ}"}, "links": [],
            "assets": {"vv": {"href": f"https://upstream.example/{when:%Y%m%d%H%M}.SAFE/vv.tiff", "roles": ["data"]}},
        }  # fmt: skip

    descending, ascending = datetime(2023, 1, 10, 5, 50, tzinfo=UTC), datetime(2023, 1, 10, 17, 45, tzinfo=UTC)
    url = str(scenario.catalog.settings.database_url)
    with ItemLoader(Database(url)) as loader:
        loader.load([grd(descending), grd(ascending)])
    request = tmp_path / "s1.yaml"
    request.write_text(
        "name: backscatter\nrequester: {name: T}\nzone: {tiles: [31TCJ]}\nchains: [s1tiling-backscatter]\n"
        "period: {start: 2023-01-01, end: 2023-01-31}\n"
    )
    scenario.add_request(request)
    with scenario.catalog.database().connect() as conn:
        rows = conn.execute("SELECT DISTINCT tile FROM hesp.inventory WHERE collection = 'sentinel-1-grd'").fetchall()
    assert {"31TCJ", "31TDJ", "31TCH"} <= {row["tile"] for row in rows}
    units = list(scenario.gaps(GapFilter(collections=["s1tiling-backscatter"])))
    # Two passes on the same day, 12 hours apart: two units, each made from its own slice.
    assert [(r["tile"], r["acquired"], r["state"]) for r in units] == [
        ("31TCJ", descending, "runnable"),
        ("31TCJ", ascending, "runnable"),
    ]


def test_a_synthesis_job_reads_the_valid_l2a_of_its_window(scenario: Production) -> None:
    """WASP's inputs for 31TCJ: January's window (Dec 23 - Feb 7) holds the valid L2A of Jan 03, 08, 18 and Feb 07
    (Jan 13 is empty), February's (Jan 23 - Mar 10) only that of Feb 07."""
    chain = load_chains(default_collections_dir())["maja-l3a-monthly"]
    found = {}
    with Database(str(scenario.catalog.settings.database_url)).connect() as conn:
        for month in (1, 2):
            start = datetime(2023, month, 1, tzinfo=UTC)
            job = Job(
                1, chain.collection, chain.version, "31TCJ", int(start.timestamp()) // SLOT_SECONDS, None, 1, 1, 3
            )
            inputs = resolve_inputs(conn, job, chain)
            found[month] = [f"{datetime.fromisoformat(i.item['properties']['datetime']):%m-%d}" for i in inputs.primary]
            assert (inputs.unit.period_start, inputs.unit.period_end) == (
                start.date(),
                date(2023, month + 1, 1) - timedelta(1),
            )
    assert found == {1: ["01-03", "01-08", "01-18", "02-07"], 2: ["02-07"]}


def test_an_optional_auxiliary_input_is_given_to_the_job_when_it_is_there(scenario: Production) -> None:
    """LIS with its DEM made optional: the unit does not wait for it, and the job still reads the tile's DEM."""
    chain = load_chains(default_collections_dir())["lis-snow"]
    optional = tuple(i.model_copy(update={"optional": i.role == "auxiliary"}) for i in chain.inputs)
    chain = chain.model_copy(update={"inputs": optional})
    assert chain.auxiliary("static") == [] and chain.auxiliary("static", optional=True) == ["dem-tiles"]
    with Database(str(scenario.catalog.settings.database_url)).connect() as conn:
        job = Job(1, chain.collection, chain.version, "31TCJ", slot_of(conn, "31TCJ", "01-03"), None, 1, 1, 3)
        inputs = resolve_inputs(conn, job, chain)
    assert [(i.role, i.collection) for i in inputs.all()] == [("primary", "maja-l2a"), ("auxiliary", "dem-tiles")]


def test_consecutive_slices_read_from_their_safe_make_one_s1tiling_unit(db_url: str, tmp_path: Path) -> None:
    """The real slice 7 of a Sentinel-1A datatake and its slice 8 (written from it), ingested by the SAFE reader:
    both cover 31TDM (18 % and 82 % of it), in one pass, so S1Tiling has one unit there, made from both."""
    first = Slice()  # the real product's values: ascending, relative orbit 59, 2021-08-09 17:39:53
    following = first.next([(47.53, 1.08), (47.94, 4.51), (46.436539, 4.851360), (46.033890, 1.512143)])
    safes = [write_safe(tmp_path / "grd", product) for product in (first, following)]
    env = {"HESP_DATABASE_URL": db_url}
    ingested = hesp("ingest", *map(str, safes), "--format", "json", env=env)
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr
    assert json.loads(ingested.stdout)["ingested"] == 2
    request = tmp_path / "s1.yaml"
    request.write_text(
        "name: backscatter\nrequester: {name: T}\nzone: {tiles: [31TDM, 31TDL]}\nchains: [s1tiling-backscatter]\n"
        "period: {start: 2021-08-01, end: 2021-08-31}\n"
    )
    assert hesp("request", "add", str(request), env=env).returncode == 0
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT tile, id, slot FROM hesp.inventory"
            " WHERE collection = 'sentinel-1-grd' AND tile IN ('31TDM', '31TDL')"
        ).fetchall()
    on_tdm = {row[1]: row[2] for row in rows if row[0] == "31TDM"}
    assert set(on_tdm) == {first.name, following.name} and len(set(on_tdm.values())) == 1
    assert {row[1] for row in rows if row[0] == "31TDL"} == {first.name}  # slice 8 does not reach 31TDL

    listed = hesp("gaps", "--list", "-c", "s1tiling-backscatter", "--format", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    units = json.loads(listed.stdout)
    # One unit per tile, dated by the pass's first slice (S1Tiling reads its DEM from its own dem_dir).
    assert [(u["tile"], u["acquired"], u["state"], u["reason"]) for u in units] == [
        ("31TDL", "2021-08-09T17:39:53Z", "runnable", None),
        ("31TDM", "2021-08-09T17:39:53Z", "runnable", None),
    ]
