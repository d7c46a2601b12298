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
from hymotep.chains import ChainError, load_chains, source_collection
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


def s2(latitude: float) -> float:
    """Hand-computed Sentinel-2 acquisitions a year at a latitude (5-day revisit, overlapping orbits)."""
    return 365 / 5 * max(1.0, S2_OVERLAP / math.cos(math.radians(latitude)))


def demand(name: str, chains: list[str], tiles: dict[str, float], priority: int = 3) -> RequestDemand:
    return RequestDemand(
        name=name,
        priority=priority,
        chains=tuple(chains),
        tiles=tuple(TileDemand(tile=t, latitude=lat) for t, lat in tiles.items()),
        start=date(2024, 1, 1),
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
    report = estimate([PYRENEES, GARONNE], CHAINS, {})
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
    report = estimate([PYRENEES, GARONNE], CHAINS, {("sentinel-2-l1c", "31TCH"): 140.0})
    a, c = s2(42.8), s2(43.8)
    assert report.total.acquisitions_per_year == pytest.approx(a + 140 + c)
    assert report.total.sources == {"inventory": 1, "revisit model": 2}
    snow = report.requests[0]
    assert next(f for f in snow.chains if f.chain == "lis-snow").sources == {"revisit model": 1, "inventory": 1}


def test_per_period_chains_make_12_or_1_products_per_tile() -> None:
    synthesis = demand("syntheses", ["maja-l3a-monthly", "lis-snow-yearly"], {"31TCH": 42.9, "31TCJ": 43.8})
    figures = {f.chain: f for f in estimate([synthesis], CHAINS, {}).total.chains}
    monthly, yearly = figures["maja-l3a-monthly"], figures["lis-snow-yearly"]
    assert (monthly.products_per_year, yearly.products_per_year) == (24, 2)
    assert monthly.cpu_hours_per_year == 24 * CHAINS["maja-l3a-monthly"].resources.cpu_hours
    assert yearly.storage_tb_per_year == pytest.approx(2 * CHAINS["lis-snow-yearly"].resources.output_mb / 1e6)
    assert monthly.acquisitions_per_year == pytest.approx(s2(42.9) + s2(43.8))


def test_an_unknown_chain_cannot_be_estimated() -> None:
    with pytest.raises(EstimateError, match="request x: ndvi is not a produced collection"):
        estimate([demand("x", ["ndvi"], {"31TCJ": 43.8})], CHAINS, {})


TILES = {f"31T{n}": 45.0 for n in ("CJ", "DJ", "EJ", "FJ")}
A = s2(45.0)  # every tile here is at 45°N
ALPHA = demand("alpha", ["maja-l2a"], dict(list(TILES.items())[:2]), priority=1)  # 2 tiles: 6A CPU-hours
BRAVO = demand("bravo", ["maja-l2a"], TILES, priority=2)  # 4 tiles, 2 shared with alpha: 6A more
CHARLIE = demand("charlie", ["lis-snow"], {"31TCJ": 45.0}, priority=3)  # 0.3A
DELTA = demand("delta", ["maja-l2a"], {"31TDJ": 45.0}, priority=3)  # already accepted with alpha: free


def test_capacity_plan_follows_priority_and_the_budget() -> None:
    plan = plan_capacity([DELTA, CHARLIE, BRAVO, ALPHA], CHAINS, {}, cpu_hours=7 * A, storage_tb=100)
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
    plan = plan_capacity([ALPHA, twin], CHAINS, {}, cpu_hours=1e6, storage_tb=1.5 * need)
    assert [r.name for r in plan.accepted] == ["aardvark"]
    assert plan.left_out[0].reason == f"needs {need:,.1f} TB a year, {0.5 * need:,.1f} left"


def test_a_zero_budget_accepts_nothing() -> None:
    plan = plan_capacity([ALPHA, BRAVO, CHARLIE], CHAINS, {}, cpu_hours=0, storage_tb=0)
    assert plan.accepted == () and [r.name for r in plan.left_out] == ["alpha", "bravo", "charlie"]
    assert all("CPU-hours" in (r.reason or "") and "TB" in (r.reason or "") for r in plan.left_out)
    assert plan.used.cpu_hours_per_year == plan.used.storage_tb_per_year == 0
