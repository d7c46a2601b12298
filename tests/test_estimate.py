"""Chain definitions and capacity estimates: the revisit model, yearly figures, priority-ordered capacity plans.

No database: the chains come from collections/*/chain.yaml, every expected figure is worked out by hand here.
"""

from __future__ import annotations

import math
import re
from datetime import date
from pathlib import Path

import pytest

from hygor.collections import load_collections
from hygor.settings import default_collections_dir
from hymotep.chains import ChainError, load_chains, needed_chains, source_collection
from hymotep.estimate import (
    EstimateError,
    RequestDemand,
    TileDemand,
    estimate,
    expected_acquisitions,
    plan_capacity,
)

CHAINS = load_chains(default_collections_dir())
S2_OVERLAP = 290 / (2 * math.pi * 6378 / 143)  # swath over orbit spacing at the equator
S1_OVERLAP = 250 / (2 * math.pi * 6378 / 175)
MAJA, LIS, WATER = (CHAINS[c].resources for c in ("maja-l2a", "lis-snow", "surfwater-water"))
START = date(2024, 1, 1)  # the requests' start here, and the day of their estimates: no backlog


def s2(latitude: float) -> float:
    """Hand-computed Sentinel-2 acquisitions a year at a latitude (5-day revisit, overlapping orbits)."""
    return 365 / 5 * max(1.0, S2_OVERLAP / math.cos(math.radians(latitude)))


def demand(name: str, chains: list[str], tiles: dict[str, float], priority: int = 3) -> RequestDemand:
    return RequestDemand(
        name=name,
        priority=priority,
        chains=tuple(chains),
        tiles=tuple(TileDemand(tile=t, latitude=lat) for t, lat in tiles.items()),
        start=START,
    )


@pytest.mark.parametrize(("latitude", "low", "high"), [(0, 73, 76), (45, 104, 108), (60, 149, 152), (-60, 149, 152)])
def test_sentinel_2_revisit_grows_with_latitude(latitude: float, low: float, high: float) -> None:
    assert low <= expected_acquisitions("sentinel-2", latitude) <= high
    assert expected_acquisitions("sentinel-2", latitude) == pytest.approx(s2(latitude))


def test_sentinel_1_revisit_and_the_daily_cap() -> None:
    assert expected_acquisitions("sentinel-1", 45) == pytest.approx(2 * 365 / 6 * S1_OVERLAP / math.cos(math.pi / 4))
    assert expected_acquisitions("sentinel-2", 89.9) == expected_acquisitions("sentinel-1", 90) == 365


@pytest.mark.parametrize(
    ("mission", "latitude", "message"), [("landsat", 0, "no revisit model"), ("sentinel-2", 91, "91 is not between")]
)
def test_revisit_model_refuses_what_it_does_not_know(mission: str, latitude: float, message: str) -> None:
    with pytest.raises(EstimateError, match=message):
        expected_acquisitions(mission, latitude)


def test_every_produced_collection_has_a_valid_chain() -> None:
    produced = {d.id for d in load_collections(default_collections_dir()) if d.produced}
    assert set(CHAINS) == produced and len(CHAINS) == 6
    maja = CHAINS["maja-l2a"]
    assert (maja.name, maja.version, maja.primary_input.collection) == ("maja", "4.10.0", "sentinel-2-l1c")
    assert maja.dependencies is not None and maja.dependencies.previous_valid_within_days == 15
    assert [(i.collection, i.role) for i in maja.inputs][-1] == ("maja-l2a", "previous")
    assert (CHAINS["maja-l3a-monthly"].unit, CHAINS["maja-l3a-monthly"].period) == ("per-period", "month")
    assert CHAINS["lis-snow-yearly"].period == "hydrological-year"


def test_primary_inputs_lead_to_the_harvested_source() -> None:
    assert source_collection(CHAINS, "lis-snow") == "sentinel-2-l1c"
    assert source_collection(CHAINS, "lis-snow-yearly") == "sentinel-2-l1c"
    assert source_collection(CHAINS, "s1tiling-backscatter") == "sentinel-1-grd"


GOOD = """\
chain: {name: lis, version: "1.7.0"}
unit: {kind: per-acquisition}
inputs:
  - {collection: maja-l2a, role: primary, match: same-acquisition}
  - {collection: dem-tiles, role: auxiliary, match: static}
resources: {cpu_hours: 0.3, memory_gb: 4, wall_minutes: 10, output_mb: 40}
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("dem-tiles, role: auxiliary", "dem-tiles, role: primary"), "exactly one input must be primary, found 2"),
        (("collection: dem-tiles", "collection: srtm"), "unknown input collection srtm"),
        (("resources: {cpu_hours: 0.3, memory_gb: 4, wall_minutes: 10, output_mb: 40}\n", ""), '"resources"'),
        (("kind: per-acquisition", "kind: per-period"), '"period" is a required property'),
        (("match: same-acquisition", "match: same-day"), "primary input of a per-acquisition chain must match"),
        (("cpu_hours: 0.3", "cpu_hours: 0"), "cpu_hours: 0 is less than or equal to the minimum"),
        (('version: "1.7.0"', "version: 1.7"), "version: 1.7 is not of type"),
        (("unit: {kind: per-acquisition}", "unit: {kind: per-acquisition, period: month}"), "has none"),
        (("chain:", "chain: ["), "malformed YAML: expected ',' or ']', but got '<scalar>' at line 2, column 1"),
        (("collection: maja-l2a", "collection: lis-snow"), "cycle: lis-snow -> lis-snow"),
        # Auxiliary inputs that neither gaps nor job inputs would use are refused, not ignored.
        (
            ("auxiliary, match: static", "auxiliary, match: same-acquisition"),
            "auxiliary input dem-tiles matches by same-acquisition: a per-acquisition chain's auxiliary inputs match "
            "by same-day or static",
        ),
        (("auxiliary, match: static", "auxiliary, match: period"), "auxiliary input dem-tiles matches by period"),
        (
            ("unit: {kind: per-acquisition}", "unit: {kind: per-period, period: year}"),
            "primary input of a per-period chain must match by period",
        ),
    ],
)
def test_a_bad_chain_is_refused_naming_its_file(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    for folder in ("maja-l2a", "dem-tiles", "lis-snow"):
        (tmp_path / folder).mkdir()
    path = tmp_path / "lis-snow" / "chain.yaml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(ChainError, match=message) as refused:
        load_chains(tmp_path)
    assert str(refused.value).startswith(f"{path}: ") and "\n" not in str(refused.value)


PERIOD = """\
chain: {name: lis-synthesis, version: "1.7.0"}
unit: {kind: per-period, period: hydrological-year}
inputs:
  - {collection: lis-snow, role: primary, match: period}
  - {collection: dem-tiles, role: auxiliary, match: static}
resources: {cpu_hours: 1, memory_gb: 16, wall_minutes: 30, output_mb: 100}
"""


@pytest.mark.parametrize(
    ("match", "optional"), [("same-day", False), ("same-acquisition", False), ("period", False), ("period", True)]
)
def test_a_per_period_chain_takes_static_auxiliary_inputs_only(tmp_path: Path, match: str, optional: bool) -> None:
    for folder in ("lis-snow", "dem-tiles", "lis-snow-yearly"):
        (tmp_path / folder).mkdir()
    declared = f"auxiliary, match: {match}" + (", optional: true" if optional else "")
    path = tmp_path / "lis-snow-yearly" / "chain.yaml"
    path.write_text(PERIOD.replace("auxiliary, match: static", declared))
    message = (
        f"{path}: auxiliary input dem-tiles matches by {match}: a per-period chain's auxiliary inputs match by static"
    )
    with pytest.raises(ChainError, match=re.escape(message)):
        load_chains(tmp_path)
    path.write_text(PERIOD)
    assert load_chains(tmp_path)["lis-snow-yearly"].auxiliary("static") == ["dem-tiles"]


def test_a_previous_input_is_the_chains_own_optional_product(tmp_path: Path) -> None:
    """A previous input serves a multi-temporal chain's NOMINAL mode: its own collection, optional (the chain
    initialises without it); any other is refused."""
    for folder in ("maja-l2a", "dem-tiles", "lis-snow"):
        (tmp_path / folder).mkdir()
    dependencies = "dependencies: {previous_valid_within_days: 15, init_backward_count: 8}\n"
    path = tmp_path / "lis-snow" / "chain.yaml"
    for previous, message in [
        ("{collection: maja-l2a, role: previous, optional: true}",
         "the previous input maja-l2a must be this per-acquisition chain's own collection (lis-snow)"),
        ("{collection: lis-snow, role: previous}", "the previous input lis-snow must be optional"),
    ]:  # fmt: skip
        path.write_text(GOOD.replace("resources:", f"  - {previous}\n{dependencies}resources:"))
        with pytest.raises(ChainError, match=re.escape(message)):
            load_chains(tmp_path)
    path.write_text(GOOD.replace("resources:", f"  - {{collection: lis-snow, role: previous, optional: true}}\n"
                                               f"{dependencies}resources:"))  # fmt: skip
    assert load_chains(tmp_path)["lis-snow"].inputs[-1].role == "previous"


def test_a_previous_input_needs_dependencies(tmp_path: Path) -> None:
    for folder in ("maja-l2a", "dem-tiles", "lis-snow"):
        (tmp_path / folder).mkdir()
    previous = "  - {collection: lis-snow, role: previous}\n"
    (tmp_path / "lis-snow" / "chain.yaml").write_text(GOOD.replace("resources:", previous + "resources:"))
    with pytest.raises(ChainError, match='"dependencies" is a required property'):
        load_chains(tmp_path)


PYRENEES = demand("pyrenees-snow", ["maja-l2a", "lis-snow"], {"30TYN": 42.8, "31TCH": 42.9})
GARONNE = demand("garonne-water", ["maja-l2a", "surfwater-water"], {"31TCH": 42.9, "31TCJ": 43.8})


def test_overlapping_requests_count_shared_tiles_once() -> None:
    report = estimate([PYRENEES, GARONNE], CHAINS, {}, START)
    a, b, c = s2(42.8), s2(42.9), s2(43.8)  # 30TYN, 31TCH (in both requests), 31TCJ
    snow, water = report.requests
    assert (snow.name, snow.tiles, water.tiles) == ("pyrenees-snow", 2, 2)
    assert snow.acquisitions_per_year == pytest.approx(a + b)
    assert snow.cpu_hours_per_year == pytest.approx((a + b) * (MAJA.cpu_hours + LIS.cpu_hours))
    total = report.total
    assert total.tiles == 3
    assert total.acquisitions_per_year == pytest.approx(a + b + c)
    assert {f.chain: f.tiles for f in total.chains} == {"lis-snow": 2, "maja-l2a": 3, "surfwater-water": 2}
    assert total.cpu_hours_per_year == pytest.approx(
        (a + b + c) * MAJA.cpu_hours + (a + b) * LIS.cpu_hours + (b + c) * WATER.cpu_hours
    )
    assert total.storage_tb_per_year == pytest.approx(
        ((a + b + c) * MAJA.output_mb + (a + b) * LIS.output_mb + (b + c) * WATER.output_mb) / 1e6
    )
    assert total.cpu_hours_per_year < snow.cpu_hours_per_year + water.cpu_hours_per_year
    maja = next(f for f in total.chains if f.chain == "maja-l2a")
    assert maja.source == "sentinel-2-l1c" and maja.products_per_year == pytest.approx(a + b + c)
    assert total.sources == {"revisit model": 3}


def test_observed_acquisitions_replace_the_model() -> None:
    report = estimate([PYRENEES, GARONNE], CHAINS, {("sentinel-2-l1c", "31TCH"): 140.0}, START)
    a, c = s2(42.8), s2(43.8)
    assert report.total.acquisitions_per_year == pytest.approx(a + 140 + c)
    assert report.total.sources == {"inventory": 1, "revisit model": 2}
    snow = report.requests[0]
    assert next(f for f in snow.chains if f.chain == "lis-snow").sources == {"revisit model": 1, "inventory": 1}


def test_per_period_chains_make_12_or_1_products_per_tile() -> None:
    synthesis = demand("syntheses", ["maja-l3a-monthly", "lis-snow-yearly"], {"31TCH": 42.9, "31TCJ": 43.8})
    figures = {f.chain: f for f in estimate([synthesis], CHAINS, {}, START).total.chains}
    monthly, yearly = figures["maja-l3a-monthly"], figures["lis-snow-yearly"]
    assert (monthly.products_per_year, yearly.products_per_year) == (24, 2)
    assert monthly.cpu_hours_per_year == 24 * CHAINS["maja-l3a-monthly"].resources.cpu_hours
    assert yearly.storage_tb_per_year == pytest.approx(2 * CHAINS["lis-snow-yearly"].resources.output_mb / 1e6)
    assert monthly.acquisitions_per_year == pytest.approx(s2(42.9) + s2(43.8))


def test_an_unknown_chain_cannot_be_estimated() -> None:
    with pytest.raises(EstimateError, match="request x: ndvi is not a produced collection"):
        estimate([demand("x", ["ndvi"], {"31TCJ": 43.8})], CHAINS, {}, START)


TILES = {f"31T{n}": 45.0 for n in ("CJ", "DJ", "EJ", "FJ")}
A = s2(45.0)  # every tile here is at 45°N
ALPHA = demand("alpha", ["maja-l2a"], dict(list(TILES.items())[:2]), priority=1)  # 2 tiles: 6A CPU-hours
BRAVO = demand("bravo", ["maja-l2a"], TILES, priority=2)  # 4 tiles, 2 shared with alpha: 6A more
CHARLIE = demand("charlie", ["lis-snow"], {"31TCJ": 45.0}, priority=3)  # 0.3A
DELTA = demand("delta", ["maja-l2a"], {"31TDJ": 45.0}, priority=3)  # already accepted with alpha: free


def test_capacity_plan_follows_priority_and_the_budget() -> None:
    plan = plan_capacity([DELTA, CHARLIE, BRAVO, ALPHA], CHAINS, {}, cpu_hours=7 * A, storage_tb=100, as_of=START)
    assert [r.name for r in plan.accepted] == ["alpha", "charlie", "delta"]
    assert [r.cpu_hours_per_year for r in plan.accepted] == pytest.approx([6 * A, 0.3 * A, 0])
    (bravo,) = plan.left_out
    assert bravo.cpu_hours_per_year == pytest.approx(6 * A)
    assert bravo.reason == f"needs {6 * A:,.0f} CPU-hours a year, {A:,.0f} left"
    assert plan.used.cpu_hours_per_year == pytest.approx(6.3 * A)
    assert plan.left.cpu_hours_per_year == pytest.approx(0.7 * A)
    assert plan.used.storage_tb_per_year == pytest.approx((2 * A * MAJA.output_mb + A * LIS.output_mb) / 1e6)


def test_storage_budget_and_ties_by_name() -> None:
    twin = ALPHA.model_copy(update={"name": "aardvark", "tiles": BRAVO.tiles[2:]})
    need = 2 * A * MAJA.output_mb / 1e6
    plan = plan_capacity([ALPHA, twin], CHAINS, {}, cpu_hours=1e6, storage_tb=1.5 * need, as_of=START)
    assert [r.name for r in plan.accepted] == ["aardvark"]
    assert plan.left_out[0].reason == f"needs {need:,.1f} TB a year, {0.5 * need:,.1f} left"


def test_a_zero_budget_accepts_nothing() -> None:
    plan = plan_capacity([ALPHA, BRAVO, CHARLIE], CHAINS, {}, cpu_hours=0, storage_tb=0, as_of=START)
    assert plan.accepted == () and [r.name for r in plan.left_out] == ["alpha", "bravo", "charlie"]
    assert all("CPU-hours" in (r.reason or "") and "TB" in (r.reason or "") for r in plan.left_out)
    assert plan.used.cpu_hours_per_year == plan.used.storage_tb_per_year == 0


def snow(name: str, tiles: dict[str, float], start: date, end: date | None = None, priority: int = 3) -> RequestDemand:
    """A request for snow maps only: the centre must make their L2A too."""
    return demand(name, ["lis-snow"], tiles, priority).model_copy(update={"start": start, "end": end})


def test_a_snow_request_costs_its_l2a_and_its_backlog_shared_tiles_once() -> None:
    """Snow maps need MAJA's L2A: a snow-only request's estimate has its maja-l2a pairs, marked as needed by
    lis-snow, and the backlog of its period before the estimate's date; two such requests sharing a tile (and
    a chain asked for by one, needed by the other) count that tile's products once, over the union of their
    periods."""
    as_of = date(2024, 7, 1)
    early = snow("early", {"30TYN": 42.8, "31TCH": 42.9}, date(2023, 7, 1))  # a year of backlog (2023-07-01 on)
    late = snow("late", {"31TCH": 42.9, "31TCJ": 43.8}, date(2024, 1, 1))  # half a year (182 days)
    l2a_too = demand("l2a", ["maja-l2a"], {"31TCJ": 43.8}).model_copy(update={"start": date(2024, 4, 1)})
    report = estimate([early, late, l2a_too], CHAINS, {}, as_of)
    a, b, c = s2(42.8), s2(42.9), s2(43.8)
    first = {f.chain: f for f in report.requests[0].chains}
    assert set(first) == {"lis-snow", "maja-l2a"}
    l2a, maps = first["maja-l2a"], first["lis-snow"]
    assert (l2a.needed_by, maps.needed_by, l2a.tiles) == (("lis-snow",), (), 2)
    assert l2a.products_per_year == pytest.approx(a + b)
    assert l2a.cpu_hours_per_year == pytest.approx((a + b) * MAJA.cpu_hours)
    assert report.requests[0].backlog_days == 366  # 2023-07-01 to 2024-07-01, a leap day in between
    year = 366 / 365
    assert l2a.backlog_products == pytest.approx((a + b) * year)
    assert l2a.backlog_cpu_hours == pytest.approx((a + b) * year * MAJA.cpu_hours)
    assert maps.backlog_storage_tb == pytest.approx((a + b) * year * LIS.output_mb / 1e6)
    assert report.requests[0].backlog_cpu_hours == pytest.approx((a + b) * year * (MAJA.cpu_hours + LIS.cpu_hours))
    assert report.requests[0].cpu_hours_per_year == pytest.approx((a + b) * (MAJA.cpu_hours + LIS.cpu_hours))

    total = {f.chain: f for f in report.total.chains}
    assert (total["maja-l2a"].tiles, total["lis-snow"].tiles) == (3, 3)  # 31TCH once
    assert total["maja-l2a"].needed_by == ()  # the third request asks for it itself
    assert total["maja-l2a"].products_per_year == pytest.approx(a + b + c)
    half = 182 / 365  # 2024-01-01 to 2024-07-01
    # 31TCH: the union of 2023-07-01.. and 2024-01-01.. is the first; 31TCJ: from 2024-01-01 (late) as well as
    # from 2024-04-01 (l2a): the earlier.
    assert total["maja-l2a"].backlog_products == pytest.approx((a + b) * year + c * half)
    assert total["lis-snow"].backlog_products == pytest.approx((a + b) * year + c * half)
    assert report.total.backlog_cpu_hours == pytest.approx(
        ((a + b) * year + c * half) * (MAJA.cpu_hours + LIS.cpu_hours)
    )
    assert report.total.backlog_cpu_hours < sum(r.backlog_cpu_hours for r in report.requests)


def test_the_capacity_plan_charges_the_year_and_the_backlog_once() -> None:
    """A budget is for the year from the plan's date: a request costs its production in that year (prorated to
    its period) and its backlog, to catch up within the year; tiles and dates already accepted cost nothing."""
    as_of = date(2024, 1, 1)
    tile = {"31TCJ": 45.0}
    rate = A * (MAJA.cpu_hours + LIS.cpu_hours)  # CPU-hours a year of snow maps and their L2A on one tile
    ongoing = snow("ongoing", tile, date(2023, 1, 1), priority=1)  # 365 days of backlog, then the whole year
    ended = snow("ended", {"31TDJ": 45.0}, date(2022, 1, 1), date(2022, 12, 31), priority=2)  # backlog only
    overlap = snow("overlap", tile, date(2022, 7, 2), priority=3)  # before 2023 only is new: 183 days
    plan = plan_capacity([ongoing, ended, overlap], CHAINS, {}, cpu_hours=4 * rate, storage_tb=100, as_of=as_of)
    first, second, third = plan.accepted
    assert [first.cpu_hours_per_year, first.backlog_cpu_hours] == pytest.approx([rate, rate])
    assert [second.cpu_hours_per_year, second.backlog_cpu_hours] == pytest.approx([0, rate])
    assert third.cpu_hours_per_year == pytest.approx(0, abs=1e-9)
    assert third.backlog_cpu_hours == pytest.approx(rate * 183 / 365)
    assert plan.used.cpu_hours_per_year == pytest.approx(rate * (3 + 183 / 365))

    tight = plan_capacity([ongoing, ended], CHAINS, {}, cpu_hours=2.5 * rate, storage_tb=100, as_of=as_of)
    assert [r.name for r in tight.accepted] == ["ongoing"]
    assert tight.left_out[0].reason == (
        f"needs {rate:,.0f} CPU-hours in the budget year ({rate:,.0f} of backlog), {0.5 * rate:,.0f} left"
    )


def test_produced_auxiliary_inputs_are_needed_too_a_static_one_once_per_tile(tmp_path: Path) -> None:
    """A chain whose required auxiliary input the centre produces needs that chain too; through a static input
    (a tile's DEM) once per tile: all its cost is in the backlog."""
    for folder in ("maja-l2a", "dem-tiles", "lis-snow", "sentinel-2-l1c", "srtm"):
        (tmp_path / folder).mkdir()
    (tmp_path / "lis-snow" / "chain.yaml").write_text(GOOD)
    (tmp_path / "maja-l2a" / "chain.yaml").write_text(GOOD.replace("maja-l2a, role", "sentinel-2-l1c, role"))
    (tmp_path / "dem-tiles" / "chain.yaml").write_text(
        GOOD.replace("maja-l2a, role: primary", "srtm, role: primary")
        .replace("  - {collection: dem-tiles, role: auxiliary, match: static}\n", "")
        .replace("cpu_hours: 0.3", "cpu_hours: 2")
    )
    chains = load_chains(tmp_path)
    assert needed_chains(chains, ["lis-snow"]) == {
        "lis-snow": ((), False), "maja-l2a": (("lis-snow",), False), "dem-tiles": (("lis-snow",), True),
    }  # fmt: skip
    request = demand("snow", ["lis-snow"], {"31TCJ": 45.0, "31TDJ": 45.0})
    figures = {f.chain: f for f in estimate([request], chains, {}, START).requests[0].chains}
    dem = figures["dem-tiles"]
    assert (dem.one_off, dem.products_per_year, dem.cpu_hours_per_year) == (True, 0, 0)
    assert (dem.backlog_products, dem.backlog_cpu_hours) == (2, 4)
    plan = plan_capacity([request], chains, {}, cpu_hours=1e6, storage_tb=100, as_of=START)
    assert plan.accepted[0].backlog_cpu_hours == 4  # the DEMs, although the request starts on the plan's day
