"""``hesp request``: requests stored in the database with their tiles, or refused with nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from conftest import REPO, hesp

EXAMPLES = REPO / "hymotep" / "examples"


def stored(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT (SELECT count(*) FROM hesp.requests), (SELECT count(*) FROM hesp.request_tiles)")
        return tuple(row.fetchone())  # type: ignore[arg-type,return-value]


def test_add_list_show_replace_remove(db_url: str) -> None:
    env = {"HESP_DATABASE_URL": db_url}
    for name in ("pyrenees-snow", "occitanie-water"):
        added = hesp("request", "add", str(EXAMPLES / f"{name}.yaml"), env=env)
        assert added.returncode == 0, added.stderr
    listed = json.loads(hesp("request", "list", "--format", "json", env=env).stdout)
    assert [r["name"] for r in listed] == ["pyrenees-snow", "occitanie-water"]  # by priority
    snow = json.loads(hesp("request", "show", "pyrenees-snow", "--format", "json", env=env).stdout)
    assert snow["chains"] == ["maja-l2a", "lis-snow"] and snow["end"] is None and snow["tiles"] == 9

    again = hesp("request", "add", str(EXAMPLES / "occitanie-water.yaml"), env=env)
    assert again.returncode == 1 and "exists already: use --replace" in again.stderr
    assert hesp("request", "add", str(EXAMPLES / "occitanie-water.yaml"), "--replace", env=env).returncode == 0
    assert stored(db_url)[0] == 2

    assert hesp("request", "remove", "occitanie-water", env=env).returncode == 0
    assert stored(db_url) == (1, 9)
    missing = hesp("request", "remove", "occitanie-water", env=env)
    assert missing.returncode == 1 and "no request named 'occitanie-water'" in missing.stderr


def test_a_region_zone_is_resolved_to_its_tiles(db_url: str, tmp_path: Path) -> None:
    request = tmp_path / "france.yaml"
    request.write_text(
        "name: france-l2a\nrequester: {name: THEIA}\nzone: {region: france}\nchains: [maja-l2a]\n"
        "period: {start: 2024-01-01}\npriority: 3\n"
    )
    result = hesp("request", "add", str(request), env={"HESP_DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    assert "95 tiles" in result.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("chains: [maja-l2a, snowman]", "unknown chain"),
        ("period: {start: 2024-01-01, end: 2023-01-01}", "before it starts"),
        ("zone: {tiles: []}", "zone"),
        ("zone: {region: atlantis}", "no region named 'atlantis'"),
        ("chains: [maja-l2a", "line"),
    ],
)
def test_faulty_files_are_refused_and_nothing_is_stored(db_url: str, tmp_path: Path, text: str, message: str) -> None:
    base = {
        "name": "name: faulty",
        "requester": "requester: {name: Someone}",
        "zone": "zone: {tiles: [31TCJ]}",
        "chains": "chains: [maja-l2a]",
        "period": "period: {start: 2024-01-01}",
    }
    base[text.split(":")[0]] = text
    request = tmp_path / "faulty.yaml"
    request.write_text("\n".join(base.values()) + "\n")
    result = hesp("request", "add", str(request), env={"HESP_DATABASE_URL": db_url})
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, result.stderr
    assert stored(db_url) == (0, 0)


def test_estimates_count_shared_tiles_once_and_use_the_inventory(db_url: str, tmp_path: Path) -> None:
    from datetime import datetime, timedelta

    from stac_items import l2a_item

    env = {"HESP_DATABASE_URL": db_url}
    for name in ("pyrenees-snow", "occitanie-water"):
        assert hesp("request", "add", str(EXAMPLES / f"{name}.yaml"), env=env).returncode == 0
    # 40 L1C acquisitions of 31TCJ every 5 days: 39 intervals over 195 days, 73.05 a year.
    inputs = tmp_path / "l1c.ndjson"
    start = datetime(2023, 1, 2, 10, 56)
    inputs.write_text(
        "".join(
            json.dumps(l2a_item("31TCJ", start + timedelta(days=5 * n), 10.0) | {"collection": "sentinel-2-l1c"}) + "\n"
            for n in range(40)
        )
    )
    assert hesp("ingest", str(inputs), env=env).returncode == 0

    report = json.loads(hesp("request", "estimate", "--format", "json", env=env).stdout)
    snow, water = (next(r for r in report["requests"] if r["name"] == n) for n in ("pyrenees-snow", "occitanie-water"))
    chains = {c["chain"]: c for c in report["total"]["chains"]}
    shared = 9 + 31 - report["total"]["tiles"]
    assert shared > 0 and chains["maja-l2a"]["tiles"] == report["total"]["tiles"]
    l2a = {r["name"]: next(c for c in r["chains"] if c["chain"] == "maja-l2a") for r in (snow, water)}
    assert (
        chains["maja-l2a"]["cpu_hours_per_year"]
        < l2a["pyrenees-snow"]["cpu_hours_per_year"] + l2a["occitanie-water"]["cpu_hours_per_year"]
    )
    assert report["total"]["sources"]["inventory"] == 1
    one = json.loads(hesp("request", "estimate", "pyrenees-snow", "--format", "json", env=env).stdout)
    assert [r["name"] for r in one["requests"]] == ["pyrenees-snow"]

    total_cpu = report["total"]["cpu_hours_per_year"] + report["total"]["backlog_cpu_hours"]
    plenty = json.loads(
        hesp(
            "plan", "capacity", "--cpu-hours", str(total_cpu + 1), "--storage-tb", "100", "--format", "json", env=env
        ).stdout
    )
    assert [r["name"] for r in plenty["accepted"]] == ["pyrenees-snow", "occitanie-water"] and not plenty["left_out"]
    tight_budget = snow["cpu_hours_per_year"] + snow["backlog_cpu_hours"] + 1
    tight = json.loads(
        hesp(
            "plan", "capacity", "--cpu-hours", str(tight_budget), "--storage-tb", "100", "--format", "json", env=env
        ).stdout
    )
    assert [r["name"] for r in tight["accepted"]] == ["pyrenees-snow"]
    assert [r["name"] for r in tight["left_out"]] == ["occitanie-water"]
    assert "CPU-hours" in tight["left_out"][0]["reason"]
    assert tight["used"]["cpu_hours_per_year"] <= tight_budget
