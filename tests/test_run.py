"""Running jobs on real processes: the local Dask executor, a test executable in the chain's place, and the
faults a production centre meets (a worker killed, two runs at once, a failing chain, the database restarted)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import HESP, REPO, hesp
from psycopg.conninfo import conninfo_to_dict
from run_scenario import RunScenario, build

from hygor.cluster import EmbeddedCluster
from hymotep.execution import JobResult, Outcome
from hymotep.executors import RunReport
from hymotep.storage import ALTERNATE_ASSETS, internal_href
from hymotep.work_units import GapFilter


@pytest.fixture
def scenario(db_url: str, tmp_path: Path) -> RunScenario:
    return build(db_url, tmp_path)


def test_run_makes_every_product_once_with_lineage_and_logs(scenario: RunScenario) -> None:
    result = hesp("run", "--collection", "surfwater-water", "--workers", "2", env=scenario.env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert scenario.states() == {"succeeded": 4}, result.stdout
    products = scenario.products()
    assert len(products) == 4 and sorted(scenario.runs()) == sorted(set(scenario.runs()))
    summary = scenario.production.gap_summary(GapFilter(collections=["surfwater-water"]))
    assert {r["state"]: r["units"] for r in summary} == {"done": 4}
    with scenario.production.catalog.database().connect() as conn:
        item = conn.execute("SELECT pgstac.get_item(%s, 'surfwater-water') AS item", (products[0],)).fetchone()["item"]
    lineage = [link for link in item["links"] if link["rel"] == "derived_from"]
    assert {link["href"].split("/")[-3] for link in lineage} == {"maja-l2a"}
    water = item["assets"]["WATER"]
    stored = Path(internal_href(water))  # the file, kept as the asset's alternate; its href is public
    assert stored.is_relative_to(scenario.storage / "surfwater-water" / "31TCJ" / "2023") and stored.exists()
    assert water["alternate"]["local"]["href"] == str(stored) and ALTERNATE_ASSETS in item["stac_extensions"]
    assert water["href"] == f"http://127.0.0.1:8080/storage/{stored.relative_to(scenario.storage)}"
    for asset in item["assets"].values():
        assert asset["href"].startswith("http://127.0.0.1:8080/storage/surfwater-water/31TCJ/2023/")
        assert Path(asset["alternate"]["local"]["href"]).is_file()
    thumbnail = item["assets"]["thumbnail"]  # made before the product was stored, and stored with it
    assert Path(internal_href(thumbnail)).parent == stored.parent and thumbnail["file:size"] > 0
    assert water["file:checksum"].startswith("1220")
    log = next(link for link in item["links"] if link["rel"] == "related")
    assert "water of SENTINEL2A" in Path(log["href"].removeprefix("file://")).read_text()


def wait_for(condition: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def start_run(scenario: RunScenario, *args: str, **env: str) -> subprocess.Popen[str]:
    """``hesp run`` in a session of its own (so that the test can kill it with its workers and chains)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HESP_")}
    return subprocess.Popen(
        [HESP, "run", "--collection", "surfwater-water", *args], env={**clean, **scenario.env, **env}, cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip


def test_a_worker_killed_mid_job_leaves_a_lease_that_expires_then_the_job_runs_again(scenario: RunScenario) -> None:
    killed = start_run(scenario, "--workers", "1", "--lease", "2", FAKE_CHAIN_SLEEP="60")
    wait_for(lambda: len(scenario.runs()) == 1, what="the first job to start its chain")
    os.killpg(killed.pid, signal.SIGKILL)  # the run, its Dask workers and the chain: a node that dies
    killed.communicate()
    assert scenario.states() == {"running": 1, "queued": 3}
    time.sleep(2.5)  # the lease expires
    result = hesp("run", "--collection", "surfwater-water", "--lease", "2", env=scenario.env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert scenario.states() == {"succeeded": 4} and len(scenario.products()) == 4
    first = scenario.runs()[0]
    assert scenario.runs().count(first) == 2 and len(scenario.runs()) == 5  # the killed unit ran again, once
    with scenario.production.catalog.database().connect() as conn:
        attempts = conn.execute("SELECT max(attempts) AS n FROM hesp.jobs").fetchone()["n"]
    assert attempts == 2
    assert not any(Path(scenario.env["HESP_WORK_DIR"]).rglob("job-*"))  # the killed attempt's work directory too


def test_two_runs_at_once_run_no_job_twice(db_url: str, tmp_path: Path) -> None:
    scenario = build(db_url, tmp_path, acquisitions=8)
    assert scenario.production.plan_jobs(GapFilter(collections=["surfwater-water"])) == 8
    runs = [start_run(scenario, "--workers", "2", "--no-plan", FAKE_CHAIN_SLEEP="0.3") for _ in range(2)]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert sorted(scenario.runs()) == sorted(set(scenario.runs())) and len(scenario.runs()) == 8
    assert scenario.states() == {"succeeded": 8} and len(scenario.products()) == 8


def test_a_run_of_one_tile_runs_only_that_tiles_jobs(db_url: str, tmp_path: Path) -> None:
    """Jobs queued earlier for two tiles: a run scoped to one claims that tile's jobs only."""
    scenario = build(db_url, tmp_path, acquisitions=2, tiles=("31TCJ", "31TDJ"))
    planned = hesp("plan", "--collection", "surfwater-water", "--format", "json", env=scenario.env)
    assert json.loads(planned.stdout) == {"queued": 4, "requeued": None}, planned.stderr
    result = hesp("run", "--tile", "31TCJ", "--workers", "1", "--format", "json", env=scenario.env)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert (report["planned"], report["succeeded"], report["ran"], report["errors"]) == (0, 2, 2, [])
    assert scenario.states() == {"succeeded": 2, "queued": 2}
    assert len(scenario.products("31TCJ")) == 2 and scenario.products("31TDJ") == []


def test_a_failing_chain_is_retried_then_failed_with_its_error_and_log(scenario: RunScenario) -> None:
    env = {**scenario.env, "FAKE_CHAIN_FAIL": "3"}
    result = hesp("run", "--collection", "surfwater-water", "--backoff", "0", env=env)
    assert result.returncode == 1
    assert "surfwater exited with code 3: fake failure" in result.stdout
    assert len(scenario.runs()) == 12  # 4 units, 3 attempts each
    gaps = hesp("gaps", "--collection", "surfwater-water", "--list", "--format", "json", env=scenario.env)
    units = json.loads(gaps.stdout)
    assert {(u["state"], u["attempts"]) for u in units} == {("failed", 3)}
    assert all("exited with code 3: fake failure" in u["reason"] for u in units)
    with scenario.production.catalog.database().connect() as conn:
        logs = [r["log_path"] for r in conn.execute("SELECT log_path FROM hesp.jobs")]
    last_lines = "fake failure\nhesp: job failed: surfwater exited with code 3: fake failure\n"
    assert all(Path(log).read_text().endswith(last_lines) for log in logs)
    assert not scenario.products()
    # The chain mended: failures are replayed on request.
    retried = hesp("plan", "--retry-failed", "--collection", "surfwater-water", env=scenario.env)
    assert retried.stdout.startswith("failed jobs queued again: 4\n"), retried.stdout + retried.stderr
    assert hesp("run", "--collection", "surfwater-water", env=scenario.env).returncode == 0
    assert len(scenario.products()) == 4
    # The failed series' logs are still there, beside the new attempts' (never overwritten).
    assert all(Path(log).read_text().endswith(last_lines) for log in logs)
    with scenario.production.catalog.database().connect() as conn:
        new_logs = [r["log_path"] for r in conn.execute("SELECT log_path FROM hesp.jobs")]
    assert all(Path(log).name.endswith(".2.log") for log in new_logs) and not set(new_logs) & set(logs)


def test_an_output_linking_out_of_its_product_is_refused_and_not_kept(scenario: RunScenario, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not the chain's")
    env = {**scenario.env, "FAKE_CHAIN_LINK_OUT": str(secret)}
    result = hesp("run", "--collection", "surfwater-water", "--backoff", "0", env=env)
    assert result.returncode == 1
    assert "_QKL.png links out of the product" in result.stdout, result.stdout
    assert not scenario.products() and secret.read_bytes() == b"not the chain's"


def test_chains_run_without_the_centres_secrets(scenario: RunScenario) -> None:
    env = {**scenario.env, "HESP_API_TOKEN": "tok-never-in-a-log", "FAKE_CHAIN_PRINT_ENV": "1"}
    assert hesp("run", "--collection", "surfwater-water", "--max-jobs", "1", env=env).returncode == 0
    password = str(conninfo_to_dict(scenario.env["HESP_DATABASE_URL"])["password"])
    with scenario.production.catalog.database().connect() as conn:
        logs = [
            Path(r["log_path"]).read_text()
            for r in conn.execute("SELECT log_path FROM hesp.jobs WHERE log_path IS NOT NULL")
        ]
    assert logs and all("FAKE_CHAIN_PRINT_ENV=1" in log for log in logs)
    assert not any("tok-never-in-a-log" in log or password in log for log in logs)


def test_the_database_restarted_during_a_run_loses_and_duplicates_nothing(
    scenario: RunScenario, server_url: str, work_root: Path
) -> None:
    run = start_run(scenario, "--workers", "2", "--lease", "3", FAKE_CHAIN_SLEEP="1.5")
    wait_for(lambda: len(scenario.runs()) >= 1, what="a job to start")
    cluster = EmbeddedCluster(work_root / "server", int(str(conninfo_to_dict(server_url)["port"])))
    cluster.down()
    time.sleep(2)
    cluster.up()
    output = run.communicate(timeout=180)[0]
    assert "Traceback" not in output, output
    assert run.returncode in (0, 1), output  # recovered, or stopped with a clear line
    time.sleep(3.5)  # leases of jobs whose outcome could not be recorded expire
    again = hesp("run", "--collection", "surfwater-water", "--lease", "3", env=scenario.env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert scenario.states() == {"succeeded": 4}
    assert len(scenario.products()) == 4 == len(set(scenario.products()))


def test_a_run_whose_lost_attempts_succeeded_later_finished_well() -> None:
    """A worker cut off loses its attempt; when the same run takes the job again and it succeeds, the run did its
    work (`hesp run` exits 0); a lost attempt never taken again, or a job failed for good, is a failed run."""

    def result(job: int, outcome: Outcome) -> JobResult:
        return JobResult(job=job, collection="maja-l2a", tile="31TCJ", outcome=outcome, seconds=1.0)

    recovered = RunReport()
    for outcome in ("lost", "succeeded"):
        recovered.count(result(7, outcome))
    assert recovered.finished_well and recovered.lost == 1
    left = RunReport()
    for job, outcome in ((7, "lost"), (8, "succeeded")):
        left.count(result(job, outcome))
    assert not left.finished_well
    failed = RunReport()
    failed.count(result(9, "failed"))
    assert not failed.finished_well


def test_a_killed_run_leaves_no_chain_running(scenario: RunScenario, tmp_path: Path) -> None:
    """Only `hesp run` is killed (not its group): its workers go, and the chains they started go with them."""
    pids = tmp_path / "pids"
    killed = start_run(scenario, "--workers", "1", FAKE_CHAIN_SLEEP="300", FAKE_CHAIN_PIDS=str(pids))
    wait_for(lambda: pids.exists() and bool(pids.read_text().split()), what="the first chain to start")
    chain = int(pids.read_text().split()[0])
    killed.kill()
    killed.communicate()
    wait_for(lambda: not alive(chain), timeout=120, what="the chain to die with its worker")


def alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
