"""``hesp request``: requests stored in the database with their tiles, or refused with nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from conftest import REPO, hesp

EXAMPLES = REPO / "schemas" / "examples"


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
