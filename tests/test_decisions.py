"""Decided requests, as the centre runs them: a capacity plan applied leaves the lowest priority out, nothing of
it is planned or run (its jobs queued before are released), an operator brings it back in, and the history of
each request lists every change with who made it and when. Real PostgreSQL, the real `hesp` command, a test
executable in Surfwater's place (run_scenario)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gap_scenario
import pytest
from conftest import hesp
from run_scenario import RunScenario, build

from hymotep.work_units import STATES, GapFilter

TILES = ("31TCJ", "31TDJ", "31TEJ")
NAMES = ("first", "second", "third")  # priority 1, 2, 3: one tile each


def write_request(folder: Path, name: str, tile: str, priority: int) -> Path:
    """Water surfaces of one tile over 2023 (a period over: its cost is all backlog, whatever the day)."""
    path = folder / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nrequester: {{name: Test}}\nzone: {{tiles: [{tile}]}}\nchains: [surfwater-water]\n"
        f"period: {{start: 2023-01-01, end: 2023-12-31}}\npriority: {priority}\n"
    )
    return path


def run_json(*args: str, env: dict[str, str]) -> Any:
    result = hesp(*args, "--format", "json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def ok(*args: str, env: dict[str, str]) -> str:
    result = hesp(*args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def scenario(db_url: str, tmp_path: Path) -> RunScenario:
    """Two acquisitions on each of three tiles, three requests of one tile each, added by alice."""
    built = build(db_url, tmp_path, acquisitions=2, tiles=TILES)
    ok("request", "remove", "water", "--by", "setup", env=built.env)  # the scenario's own request
    for priority, (name, tile) in enumerate(zip(NAMES, TILES, strict=True), start=1):
        ok("request", "add", str(write_request(tmp_path, name, tile, priority)), "--by", "alice", env=built.env)
    return built


def queued_tiles(scenario: RunScenario) -> dict[str, int]:
    with scenario.production.catalog.database().connect() as conn:
        rows = conn.execute("SELECT tile, count(*) AS n FROM hesp.jobs WHERE state = 'queued' GROUP BY tile")
        return {row["tile"]: row["n"] for row in rows}


def test_a_request_left_out_is_neither_planned_nor_run_until_accepted(scenario: RunScenario) -> None:
    env = scenario.env
    assert run_json("plan", env=env)["queued"] == 6  # before any decision: every request is accepted
    estimates = run_json("request", "estimate", env=env)["requests"]
    costs = {r["name"]: r["backlog_cpu_hours"] for r in estimates}
    assert all(cost > 0 for cost in costs.values())  # 2023's water surfaces and their L2A, to catch up
    budget = costs["first"] + costs["second"] + 0.5 * costs["third"]  # fits two

    dry = ok("plan", "capacity", "--cpu-hours", str(budget), "--storage-tb", "100", env=env)
    assert "nothing recorded: --apply records these decisions" in dry
    assert {r["decision"] for r in run_json("request", "list", env=env)} == {"accepted"}

    plan = run_json("plan", "capacity", "--cpu-hours", str(budget), "--storage-tb", "100", "--apply",
                    "--by", "planner", env=env)  # fmt: skip
    assert [r["name"] for r in plan["accepted"]] == ["first", "second"]
    assert [r["name"] for r in plan["left_out"]] == ["third"] and plan["applied"]
    assert "CPU-hours in the budget year" in plan["left_out"][0]["reason"]
    third = run_json("request", "show", "third", env=env)
    assert (third["decision"], third["decided_by"]) == ("left-out", "planner")
    assert third["decision_reason"].endswith(plan["left_out"][0]["reason"])
    assert queued_tiles(scenario) == {"31TCJ": 2, "31TDJ": 2}  # the jobs queued for it were released

    summary = run_json("gaps", env=env)
    assert {row["collection"]: row["not-accepted"] for row in summary}["surfwater-water"] == 2
    units = run_json("gaps", "--list", "--state", "not-accepted", env=env)
    assert {(u["tile"], u["reason"]) for u in units} == {("31TEJ", "asked only by requests left out: third")}
    assert run_json("plan", env=env)["queued"] == 0
    ran = run_json("run", "--workers", "1", env=env)
    assert (ran["succeeded"], ran["errors"]) == (4, [])
    assert scenario.products("31TEJ") == [] and len(scenario.products()) == 4

    assert "accepted third" in ok("request", "accept", "third", "--by", "bob", "--reason", "budget raised", env=env)
    assert queued_tiles(scenario) == {}
    ran = run_json("run", "--workers", "1", env=env)
    assert (ran["planned"], ran["succeeded"]) == (2, 2) and len(scenario.products("31TEJ")) == 2
    assert "is accepted already: nothing recorded" in ok("request", "accept", "third", "--reason", "budget raised",
                                                         env=env)  # fmt: skip

    history = run_json("request", "history", "third", env=env)
    assert [(e["action"], e["by"]) for e in history] == [("added", "alice"), ("left-out", "planner"),
                                                         ("accepted", "bob")]  # fmt: skip
    assert [e["at"] for e in history] == sorted(e["at"] for e in history)
    assert history[0]["details"]["chains"] == ["surfwater-water"] and history[0]["details"]["tiles"] == 1
    assert history[1]["details"]["plan"]["cpu_hours"] == pytest.approx(budget)
    assert history[2]["details"] == {"reason": "budget raised", "was": "left-out"}
    accepted = run_json("request", "history", "first", env=env)
    assert [(e["action"], e["by"]) for e in accepted] == [("added", "alice"), ("accepted", "planner")]
    removed = run_json("request", "history", "water", env=env)  # a removed request keeps its history
    assert [e["action"] for e in removed] == ["added", "removed"] and removed[1]["by"] == "setup"
    table = ok("request", "history", env=env)
    assert "left-out" in table and "planner" in table and "budget raised" in table


def test_leaving_out_releases_only_the_jobs_no_accepted_request_asks_for(scenario: RunScenario, tmp_path: Path) -> None:
    """A tile two requests share keeps its jobs when one of them is left out by hand; replacing a request keeps
    its decision and records the fields it changed."""
    env = scenario.env
    ok("request", "add", str(write_request(tmp_path, "shared", "31TCJ", 4)), "--by", "carol", env=env)
    assert run_json("plan", env=env)["queued"] == 6
    missing = hesp("request", "leave-out", "shared", env=env)
    assert missing.returncode != 0 and "--reason" in missing.stderr
    ok("request", "leave-out", "shared", "--reason", "duplicate of first", "--by", "carol", env=env)
    ok("request", "leave-out", "first", "--reason", "paused", env=env)
    assert queued_tiles(scenario) == {"31TDJ": 2, "31TEJ": 2}
    gaps = run_json("gaps", "--list", "--tile", "31TCJ", env=env)
    assert {u["reason"] for u in gaps} == {"asked only by requests left out: first, shared"}

    replaced = write_request(tmp_path, "shared", "31TCJ", 5)
    ok("request", "add", str(replaced), "--replace", "--by", "dave", env=env)
    shared = run_json("request", "show", "shared", env=env)
    assert (shared["decision"], shared["decision_reason"], shared["priority"]) == ("left-out", "duplicate of first", 5)
    history = run_json("request", "history", "shared", env=env)
    assert [(e["action"], e["by"]) for e in history][-1] == ("replaced", "dave")
    assert history[-1]["details"] == {"changed": {"priority": [4, 5]}}


def test_gaps_of_a_request_left_out_and_a_maja_series_that_does_not_wait_for_them(db_url: str, tmp_path: Path) -> None:
    """The gap scenario's request left out: its units are not-accepted, but what is made stays done or invalid,
    and its queued job is released. An accepted request for part of 31TDJ's series starts it afresh (INIT)
    instead of waiting for the acquisition before it, which only the request left out asks for."""
    production = gap_scenario.build(db_url, tmp_path)
    assert production.decide("scenario", "left-out", "test", by="tester")
    with production.catalog.database().connect() as conn:
        assert conn.execute("SELECT state FROM hesp.jobs").fetchall() == [{"state": "failed"}]  # the queued one went
    states = {(r["collection"], r["state"]) for r in production.gaps(GapFilter(states=STATES))}
    assert {state for _, state in states} == {"done", "invalid", "not-accepted"}
    late = tmp_path / "late.yaml"
    late.write_text(gap_scenario.REQUEST.replace("name: scenario", "name: late")
                    .replace("[maja-l2a, lis-snow, maja-l3a-monthly]", "[maja-l2a]")
                    .replace("start: 2023-01-01", "start: 2023-02-20").replace("31TCJ, 31TDJ", "31TDJ"))  # fmt: skip
    production.add_request(late, by="tester")
    units = {
        f"{r['acquired']:%m-%d}": (r["state"], r["mode"])
        for r in production.gaps(GapFilter(collections=["maja-l2a"], tiles=["31TDJ"], states=STATES))
    }
    assert units["02-17"] == ("not-accepted", None)
    assert units["02-22"] == ("runnable", "init")  # not waiting for 02-17
    assert units["02-27"] == ("blocked", "nominal")  # waits for 02-22, as before
    assert units["01-08"] == ("done", None)
