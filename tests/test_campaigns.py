"""Reprocessing campaigns on a real production: L2A products of MAJA 4.10 on two tiles and the water maps made from
them; chain.yaml at 4.11 (a copied collections folder, MAJA replaced by a test executable writing real MUSCATE
L2As); a campaign on one tile replays only its units, at its priority; once the new L2As supersede the old, the
water maps made from them are outdated (lineage) and made again; a paused campaign's jobs are not claimed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import fake_chain
import gap_scenario
import pytest
from conftest import hesp
from run_scenario import L2A_DELAY, RunScenario, build

from hydra.dashboard.data import overview
from hydra.metrics import ProductionCollector
from hygor.db import Database
from hygor.items import derived_from_link
from hygor.loader import ItemLoader
from hygor.settings import default_collections_dir
from hymotep.work_units import STATES, GapFilter

L2A, WATER, WASP = "maja-l2a", "surfwater-water", "maja-l3a-monthly"
TILES = ("31TCJ", "31TDJ")
CAMPAIGN = "maja-4-11-tcj"
FAKE_MAJA = """chain: {name: maja, version: "4.11"}
unit: {kind: per-acquisition}
inputs:
  - {collection: sentinel-2-l1c, role: primary, match: same-acquisition}
resources: {cpu_hours: 3.0, memory_gb: 12, wall_minutes: 45, output_mb: 1000}
run:
  command: [maja, --tile, "{tile}", --acquired, "{acquired}", --output, "{output_dir}",
            --chain-version, "{version}"]
  outputs: {reader: theia-muscate, expect: "SENTINEL2?_*_L2A_T{tile}_*"}
  max_attempts: 1
"""


def campaign_file(folder: Path, version: str = "4.11", **fields: str) -> Path:
    path = folder / f"campaign-{version}.yaml"
    lines = {
        "name": CAMPAIGN,
        "title": "MAJA 4.11 on 31TCJ",
        "collection": L2A,
        "chain_version": f'"{version}"',
        "zone": "{tiles: [31TCJ]}",
        "period": "{start: 2023-01-01, end: 2023-01-31}",
        "priority": "1",
        **fields,
    }
    path.write_text("".join(f"{key}: {value}\n" for key, value in lines.items()))
    return path


@pytest.fixture
def made(db_url: str, tmp_path: Path) -> RunScenario:
    """Two acquisitions on each tile, their L2A by MAJA 4.10 and the water maps made from those by `hesp run`."""
    scenario = build(db_url, tmp_path, acquisitions=2, tiles=TILES)
    run(scenario.env, "--collection", WATER)
    return scenario


@pytest.fixture
def env(made: RunScenario, tmp_path: Path) -> dict[str, str]:
    """The environment of a centre whose maja-l2a chain.yaml is at 4.11 (the test MAJA on the chain path)."""
    on_disk(made, tmp_path / "l1c")
    collections = tmp_path / "collections"
    shutil.copytree(default_collections_dir(), collections)
    (collections / L2A / "chain.yaml").write_text(FAKE_MAJA)
    fake_chain.install(Path(made.env["HESP_CHAIN_PATH"]), name="maja", module="fake_maja")
    return {**made.env, "HESP_COLLECTIONS_DIR": str(collections)}


def on_disk(made: RunScenario, folder: Path) -> None:
    """The scenario's L1C items given files (the test MAJA reads none, but a job's inputs must be there)."""
    with made.production.catalog.database().connect() as conn:
        rows = conn.execute(
            "UPDATE pgstac.items SET content = jsonb_set(content, '{assets,data,href}', to_jsonb(%s || id))"
            " WHERE collection = 'sentinel-2-l1c' RETURNING id",
            (f"{folder}/",),
        ).fetchall()
    folder.mkdir()
    for row in rows:
        (folder / row["id"]).write_text("L1C")


def ok(*args: str, env: dict[str, str], timeout: float = 120) -> str:
    result = hesp(*args, env=env, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def run(env: dict[str, str], *args: str) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(ok("run", "--workers", "1", "--format", "json", *args, env=env, timeout=300))
    return report


def gaps(env: dict[str, str], collection: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(tile, day) -> the unit, every state."""
    out = ok("gaps", "--list", "-c", collection, "--state", "outdated", "--state", "queued", "--state", "done",
             "--state", "runnable", "--format", "json", env=env)  # fmt: skip
    return {(u["tile"], u["acquired"][:10]): u for u in json.loads(out)}


def jobs(made: RunScenario, collection: str) -> list[dict[str, Any]]:
    with made.production.catalog.database().connect() as conn:
        return conn.execute(
            "SELECT tile, state, priority, campaign FROM hesp.jobs WHERE collection = %s AND chain_version = '4.11'"
            " ORDER BY tile, slot",
            (collection,),
        ).fetchall()


def current(made: RunScenario, collection: str) -> dict[str, str]:
    """Current (not superseded) products of ``collection``: id -> version."""
    with made.production.catalog.database().connect() as conn:
        rows = conn.execute(
            "SELECT id, version FROM hesp.inventory WHERE collection = %s AND NOT superseded", (collection,)
        ).fetchall()
    return {r["id"]: r["version"] for r in rows}


def test_a_campaign_replays_its_units_only_and_the_products_made_from_what_it_replaced(
    made: RunScenario, env: dict[str, str], tmp_path: Path
) -> None:
    old_l2a = current(made, L2A)
    assert set(old_l2a.values()) == {"4.10"} and len(old_l2a) == 4

    # A new chain version alone makes every L2A outdated, and plans none of them.
    units = gaps(env, L2A)
    assert {u["state"] for u in units.values()} == {"outdated"} and len(units) == 4
    assert {u["reason"] for u in units.values()} == {"made by version 4.10, 4.11 requested; no campaign covers it"}
    assert "queued 0 jobs" in ok("plan", env=env)

    # A campaign must name the installed version; then it replays its own tile only, at its priority.
    refused = hesp("campaign", "add", str(campaign_file(tmp_path, "4.12")), env=env)
    assert refused.returncode == 1
    assert "maja-l2a's chain.yaml is at version 4.11, not 4.12" in refused.stdout + refused.stderr
    assert "on 1 tiles" in ok("campaign", "add", str(campaign_file(tmp_path)), env=env)
    units = gaps(env, L2A)
    assert {t: u["reason"] for t, u in units.items() if t[0] == "31TCJ"} == dict.fromkeys(
        [("31TCJ", "2023-01-03"), ("31TCJ", "2023-01-08")], f"made by version 4.10, 4.11 requested; campaign {CAMPAIGN}"
    )
    assert json.loads(ok("plan", "--format", "json", env=env))["queued"] == 2
    assert jobs(made, L2A) == [{"tile": "31TCJ", "state": "queued", "priority": 1, "campaign": CAMPAIGN}] * 2

    # Paused, its queued jobs are claimed by no run.
    ok("campaign", "pause", CAMPAIGN, env=env)
    assert run(env, "--collection", L2A)["succeeded"] == 0
    assert [j["state"] for j in jobs(made, L2A)] == ["queued", "queued"]

    # Resumed: the two L2As of 31TCJ are made again and supersede the 4.10 ones.
    ok("campaign", "resume", CAMPAIGN, env=env)
    assert run(env, "--collection", L2A)["succeeded"] == 2
    l2a = current(made, L2A)
    replaced = sorted(set(old_l2a) - set(l2a))
    assert len(replaced) == 2 and all("T31TCJ" in i for i in replaced)
    assert sorted(v for v in l2a.values()) == ["4.10", "4.10", "4.11", "4.11"]

    # The water maps made from the replaced L2As are outdated, with that reason, for the campaign.
    water = gaps(env, WATER)
    assert {t: u["state"] for t, u in water.items()} == {
        ("31TCJ", "2023-01-03"): "outdated", ("31TCJ", "2023-01-08"): "outdated",
        ("31TDJ", "2023-01-03"): "done", ("31TDJ", "2023-01-08"): "done",
    }  # fmt: skip
    stale = water[("31TCJ", "2023-01-03")]
    successor = next(i for i in l2a if "T31TCJ" in i and "20230103" in i)
    assert stale["reason"] == (
        f"made from maja-l2a {next(i for i in replaced if '20230103' in i)}, superseded by {successor};"
        f" campaign {CAMPAIGN}"
    )
    assert (stale["campaign"], stale["priority"]) == (CAMPAIGN, 1)

    # `hesp run` makes them again from the new L2As; nothing else (31TDJ's L2As stay outdated).
    before = len(made.runs())
    assert run(env)["succeeded"] == 2
    assert sorted(made.runs()[before:]) == sorted(i for i in l2a if l2a[i] == "4.11")
    assert {u["state"] for u in gaps(env, WATER).values()} == {"done"}
    assert {t[0]: u["state"] for t, u in gaps(env, L2A).items()} == {"31TCJ": "done", "31TDJ": "outdated"}

    shown = json.loads(ok("campaign", "show", CAMPAIGN, "--format", "json", env=env))
    assert shown["progress"].items() >= {"succeeded": 4, "queued": 0, "failed": 0, "waiting": 0}.items()
    assert shown["campaign"]["state"] == "active" and shown["campaign"]["tiles"] == 1
    progress = {"queued": 0, "running": 0, "succeeded": 4, "failed": 0}
    [status] = json.loads(ok("status", "--format", "json", env=env))["campaigns"]
    assert status.items() >= {"campaign": CAMPAIGN, "state": "active", "priority": 1, **progress}.items()
    metric = next(m for m in ProductionCollector(made.production).collect() if m.name == "hesp_campaign_units")
    assert {s.labels["state"]: s.value for s in metric.samples if s.labels["campaign"] == CAMPAIGN} == progress
    [row] = overview(made.production, with_logs=False)["campaigns"]
    assert row.items() >= {"campaign": CAMPAIGN, "chain_version": "4.11", "units": 4, **progress}.items()
    assert f"{CAMPAIGN}: MAJA 4.11 on 31TCJ" in ok("campaign", "show", CAMPAIGN, env=env)
    assert CAMPAIGN in ok("campaign", "list", env=env) and CAMPAIGN in ok("status", env=env)
    assert "removed campaign" in ok("campaign", "remove", CAMPAIGN, env=env)
    assert json.loads(ok("campaign", "list", "--format", "json", env=env)) == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"collection": "sentinel-2-l1c"}, "collection: sentinel-2-l1c is not a produced collection"),
        ({"zone": "{tiles: []}"}, "zone/tiles: [] has less than 1 item"),
        ({"zone": "{tiles: [99XXX]}"}, "zone: "),
        ({"period": "{start: 2023-02-01, end: 2023-01-01}"}, "period ends (2023-01-01) before it starts (2023-02-01)"),
        ({"priority": "9"}, "priority: 9 is greater than the maximum of 5"),
    ],
)
def test_a_bad_campaign_file_is_refused_with_one_line(
    db_url: str, tmp_path: Path, fields: dict[str, str], expected: str
) -> None:
    env = {"HESP_DATABASE_URL": db_url}
    result = hesp("campaign", "add", str(campaign_file(tmp_path, "4.10.0", **fields)), env=env)
    assert result.returncode == 1
    assert expected in result.stdout + result.stderr
    assert len((result.stdout + result.stderr).strip().splitlines()) == 1


def test_a_synthesis_made_from_a_superseded_l2a_is_outdated_and_planned(db_url: str, tmp_path: Path) -> None:
    """Per-period chains cascade too: January's WASP L3A of 31TCJ names two L2As; one is superseded."""
    production = gap_scenario.build(db_url, tmp_path)
    january = gap_scenario.at("01-15")
    synthesis = gap_scenario.item(WASP, "31TCJ", january, version="1.1.0")
    inputs = [gap_scenario.l2a("31TCJ", day)["id"] for day in ("01-03", "01-08")]
    synthesis["links"] = [derived_from_link(L2A, item_id) for item_id in inputs]
    newer = gap_scenario.item(L2A, "31TCJ", gap_scenario.at("01-03") + L2A_DELAY, version="4.11.0", name="l2a-4-11")
    only_tcj = GapFilter(collections=[WASP], tiles=["31TCJ"], states=STATES)

    def unit() -> dict[str, Any]:
        return next(r for r in production.gaps(only_tcj) if r["acquired"].month == 1)

    with ItemLoader(Database(db_url)) as loader:
        loader.load([synthesis])
    assert unit()["state"] == "done"
    with ItemLoader(Database(db_url)) as loader:
        loader.load([newer])
    with production.catalog.database().connect() as conn:
        conn.execute("SELECT * FROM hesp.supersede(ARRAY['maja-l2a'], ARRAY['l2a-4-11'])")
    stale = unit()
    assert (stale["state"], stale["reason"]) == ("outdated", f"made from maja-l2a {inputs[0]}, superseded by l2a-4-11")
    production.plan_jobs(GapFilter(collections=[WASP], tiles=["31TCJ"]))
    assert unit()["state"] == "queued"
