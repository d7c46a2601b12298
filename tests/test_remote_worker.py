"""A worker on another address than the database: the embedded database listens on 127.0.0.1 and 127.0.0.2 for
the networks allowed (password authentication), and a Dask worker bound to 127.0.0.3, with no setting of its own,
claims and registers jobs through the URL `hesp db url --workers` prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
from conftest import free_port, hesp
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from run_scenario import build

from hygor.cluster import EmbeddedCluster

DASK = str(Path(sys.executable).with_name("dask"))
LISTEN = {"HESP_DB_LISTEN": "127.0.0.1,127.0.0.2", "HESP_DB_ALLOW": "127.0.0.0/8"}


@pytest.fixture(scope="module")
def remote_home(work_root: Path) -> Iterator[dict[str, str]]:
    """An embedded database listening on 127.0.0.1 and 127.0.0.2, initialised; the settings that reach it."""
    home = work_root / "remote"
    home.mkdir(mode=0o755)
    env = {"HESP_HOME": str(home), "HESP_PORT": str(free_port()), **LISTEN}
    for command in (("db", "up"), ("db", "init")):
        done = hesp(*command, env=env, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    yield env
    EmbeddedCluster(home, 0).down()


@pytest.fixture
def dask_worker_elsewhere(tmp_path: Path) -> Iterator[tuple[str, psutil.Process]]:
    """A scheduler on 127.0.0.1 and one worker bound to 127.0.0.3, started without any HESP_ setting."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESP_")}
    env["FAKE_CHAIN_RECORD"] = str(tmp_path / "runs.txt")
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                                 **quiet)  # type: ignore[call-overload]  # fmt: skip
    worker = subprocess.Popen([DASK, "worker", address, "--host", "127.0.0.3", "--nthreads", "1", "--no-dashboard"],
                              **quiet)  # type: ignore[call-overload]  # fmt: skip
    try:
        yield address, psutil.Process(worker.pid)
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait(timeout=30)


def database_peers(worker: psutil.Process, port: int) -> set[str]:
    """The addresses of the database that the worker's processes are connected to."""
    processes = [worker, *worker.children(recursive=True)]
    return {c.raddr.ip for p in processes for c in p.net_connections("tcp") if c.raddr and c.raddr.port == port}


def test_a_worker_elsewhere_claims_and_registers_through_the_remote_url(
    remote_home: dict[str, str], tmp_path: Path, dask_worker_elsewhere: tuple[str, psutil.Process]
) -> None:
    local_url = hesp("db", "url", env=remote_home).stdout.strip()
    worker_url = hesp("db", "url", "--workers", env=remote_home).stdout.strip()
    port = int(remote_home["HESP_PORT"])
    assert conninfo_to_dict(worker_url)["host"] == "127.0.0.2" and int(conninfo_to_dict(worker_url)["port"]) == port
    scenario = build(local_url, tmp_path, acquisitions=4)
    env = {**{k: v for k, v in scenario.env.items() if k != "HESP_DATABASE_URL"}, **remote_home}
    scheduler, worker = dask_worker_elsewhere
    result = hesp("run", "-c", "surfwater-water", "--executor", "dask", "--scheduler", scheduler, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert scenario.states() == {"succeeded": 4} and len(scenario.products()) == 4
    assert database_peers(worker, port) == {"127.0.0.2"}  # the worker claimed through the address for workers
    with scenario.production.catalog.database().connect() as conn:
        workers = {r["worker"] for r in conn.execute("SELECT DISTINCT worker FROM hesp.jobs")}
    assert len(workers) == 1


def test_the_remote_address_wants_the_password(remote_home: dict[str, str]) -> None:
    worker_url = hesp("db", "url", "--workers", env=remote_home).stdout.strip()
    with psycopg.connect(worker_url) as conn:
        assert conn.execute("SELECT inet_server_addr()::text").fetchone() == ("127.0.0.2/32",)
    without_password = make_conninfo(worker_url, password="")
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(without_password, connect_timeout=5)
    wrong = make_conninfo(worker_url, password="not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5)


def test_the_default_database_listens_on_127_0_0_1_only(fresh_home: Path) -> None:
    env = {"HESP_HOME": str(fresh_home), "HESP_PORT": str(free_port())}
    assert hesp("db", "up", env=env, timeout=120).returncode == 0
    url = hesp("db", "url", env=env).stdout.strip()
    assert hesp("db", "url", "--workers", env=env).stdout.strip() == url
    with pytest.raises(psycopg.OperationalError, match="refused"):
        psycopg.connect(make_conninfo(url, host="127.0.0.2"), connect_timeout=5)
    doctor = hesp("doctor", "--jobqueue", "pbs", "--format", "json", env=env, timeout=60)
    verdicts = {c["name"]: (c["outcome"], c["detail"]) for c in json.loads(doctor.stdout)["checks"]}
    outcome, detail = verdicts["workers' database"]  # PBS lists no nodes: the workers may run anywhere
    assert outcome == "fail" and "this machine's loopback: set HESP_DB_LISTEN and HESP_DB_ALLOW" in detail, detail


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"HESP_DB_LISTEN": "0.0.0.0"}, "invalid setting HESP_DB_ALLOW: Value error, listening on 0.0.0.0 opens"),
        ({"HESP_DB_LISTEN": "127.0.0.1,10.0.0.300"}, "invalid setting HESP_DB_LISTEN"),
        ({"HESP_DB_LISTEN": "*", "HESP_DB_ALLOW": "anyone"}, "invalid setting HESP_DB_ALLOW"),
    ],
)
def test_an_open_database_without_an_allowed_network_is_refused(
    fresh_home: Path, settings: dict[str, str], message: str
) -> None:
    done = hesp("db", "up", env={"HESP_HOME": str(fresh_home), **settings})
    assert done.returncode == 1 and done.stderr.startswith(f"error: {message}"), done.stderr
    assert not (fresh_home / "pgdata").exists()
