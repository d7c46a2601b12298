"""The embedded default database, driven through the ``hesp db`` commands as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from conftest import HESP, free_port, hesp

from hygor.settings import default_collections_dir

COLLECTION_IDS = sorted(p.name for p in default_collections_dir().iterdir() if (p / "collection.json").is_file())


def test_up_init_status_down_on_a_fresh_home(fresh_home: Path) -> None:
    env = {"HESP_HOME": str(fresh_home), "HESP_PORT": str(free_port())}

    up = hesp("db", "up", env=env)
    assert up.returncode == 0, up.stderr
    assert "embedded PostgreSQL running" in up.stdout
    assert (fresh_home / "postgres.log").stat().st_mode & 0o077 == 0

    first = hesp("db", "init", env=env)
    assert first.returncode == 0, first.stderr
    assert "pgSTAC 0.10.0 (was not installed)" in first.stdout
    assert "applied migration 0001_hesp_schema" in first.stdout

    status = json.loads(hesp("db", "status", "--format", "json", env=env).stdout)
    assert status["pgstac"] == "0.10.0"
    assert status["postgis"].startswith("3.")
    assert [c["id"] for c in status["collections"]] == COLLECTION_IDS
    assert all(m["applied"] for m in status["migrations"])

    again = hesp("db", "init", env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "already up to date: pgSTAC 0.10.0, nothing changed"
    assert json.loads(hesp("db", "status", "--format", "json", env=env).stdout) == status
    init_report = json.loads(hesp("db", "init", "--format", "json", env=env).stdout)
    assert init_report["migrations_applied"] == [] and init_report["collections"]["unchanged"] == COLLECTION_IDS
    synced = json.loads(hesp("collections", "sync", "--format", "json", env=env).stdout)
    assert (synced["created"], synced["updated"], synced["queryables"]) == ([], [], "unchanged")

    url = hesp("db", "url", env=env).stdout.strip()
    assert url.startswith("postgresql://hesp:")
    assert subprocess.run(["psql", url, "-Atc", "SELECT 1"], capture_output=True, text=True).stdout.strip() == "1"

    down = hesp("db", "down", env=env)
    assert down.returncode == 0 and down.stdout.strip() == "stopped"
    assert subprocess.run(["psql", url, "-Atc", "SELECT 1"], capture_output=True).returncode != 0
    stopped = json.loads(hesp("db", "status", "--format", "json", env=env).stdout)
    assert stopped["server"]["running"] is False
    assert hesp("db", "down", env=env).stdout.strip() == "was not running"


def test_a_busy_port_gets_another_and_down_stops_only_its_own_cluster(work_root: Path, fresh_home: Path) -> None:
    port = free_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        env = {"HESP_HOME": str(fresh_home), "HESP_PORT": str(port)}
        assert hesp("db", "up", env=env).returncode == 0
    mine = json.loads(hesp("db", "status", "--format", "json", env=env).stdout)["server"]
    assert mine["running"] and mine["port"] != port
    # Restarted while the preferred port is free again, it keeps its port: workers holding its URL reconnect.
    assert hesp("db", "down", env=env).returncode == 0 and hesp("db", "up", env=env).returncode == 0
    assert json.loads(hesp("db", "status", "--format", "json", env=env).stdout)["server"]["port"] == mine["port"]

    other_home = work_root / "other-home"
    other_home.mkdir(mode=0o755)
    other = {"HESP_HOME": str(other_home), "HESP_PORT": str(mine["port"])}
    try:
        assert hesp("db", "up", env=other).returncode == 0
        theirs = json.loads(hesp("db", "status", "--format", "json", env=other).stdout)["server"]
        assert theirs["port"] != mine["port"]
        assert hesp("db", "down", env=other).stdout.strip() == "stopped"
        assert json.loads(hesp("db", "status", "--format", "json", env=env).stdout)["server"]["running"]
    finally:
        hesp("db", "down", env=other)


def test_the_cluster_is_restarted_on_demand(fresh_home: Path) -> None:
    env = {"HESP_HOME": str(fresh_home), "HESP_PORT": str(free_port())}
    assert hesp("db", "up", env=env).returncode == 0
    assert hesp("db", "down", env=env).returncode == 0
    listed = hesp("collections", "list", "--format", "json", env=env)
    assert listed.returncode == 1 and "run `hesp db init`" in listed.stderr  # started, but empty
    assert json.loads(hesp("db", "status", "--format", "json", env=env).stdout)["server"]["running"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the non-root path is what every other test runs")
def test_a_normal_user_runs_its_own_cluster(work_root: Path) -> None:
    """As root the server runs as `postgres`; here a normal user runs hesp itself."""
    home = work_root / "user-home"
    home.mkdir()
    shutil.chown(home, "postgres", "postgres")
    env = {"HESP_HOME": str(home), "HESP_PORT": str(free_port()), "HOME": str(home), "PATH": os.environ["PATH"]}
    as_user = ["runuser", "-u", "postgres", "--", HESP]
    try:
        up = subprocess.run([*as_user, "db", "up"], env=env, cwd=home, capture_output=True, text=True, timeout=120)
        assert up.returncode == 0, up.stderr
        assert (home / "pgdata").stat().st_uid == (home).stat().st_uid
    finally:
        subprocess.run([*as_user, "db", "down"], env=env, cwd=home, capture_output=True, timeout=60)
