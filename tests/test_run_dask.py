"""Jobs on a real Dask cluster: a `dask scheduler` and two `dask worker` processes on loopback; and the batch
script dask-jobqueue would submit to Slurm or PBS (no batch system here)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port, hesp
from run_scenario import RunScenario, build

DASK = str(Path(sys.executable).with_name("dask"))


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A scheduler and two single-threaded workers; the environment the test chain reads is the workers'."""
    address = f"tcp://127.0.0.1:{free_port()}"
    env = {**os.environ, "FAKE_CHAIN_RECORD": str(tmp_path / "runs.txt"), "FAKE_CHAIN_SLEEP": "0.5"}
    port = address.rsplit(":", 1)[1]
    common = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", port,
                                   "--no-dashboard"], **common)]  # type: ignore[call-overload]  # fmt: skip
    processes += [
        subprocess.Popen([DASK, "worker", address, "--nthreads", "1", "--no-dashboard", "--name", f"w{n}"], **common)  # type: ignore[call-overload]  # fmt: skip
        for n in range(2)
    ]
    try:
        yield address, env
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def test_a_dask_scheduler_and_two_workers_run_the_jobs(
    db_url: str, tmp_path: Path, dask_cluster: tuple[str, dict[str, str]]
) -> None:
    address, _ = dask_cluster
    scenario: RunScenario = build(db_url, tmp_path, acquisitions=6)
    args = ("run", "--collection", "surfwater-water", "--executor", "dask", "--scheduler", address)
    result = hesp(*args, env=scenario.env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert scenario.states() == {"succeeded": 6} and len(scenario.products()) == 6
    assert sorted(scenario.runs()) == sorted(set(scenario.runs())) and len(scenario.runs()) == 6
    with scenario.production.catalog.database().connect() as conn:
        workers = {r["worker"] for r in conn.execute("SELECT DISTINCT worker FROM hesp.jobs")}
    assert len(workers) == 2  # both worker processes ran jobs


def test_an_unreachable_scheduler_is_one_clear_line(db_url: str, tmp_path: Path) -> None:
    scenario = build(db_url, tmp_path, acquisitions=1)
    args = ("run", "-c", "surfwater-water", "--executor", "dask", "--scheduler", f"tcp://127.0.0.1:{free_port()}")
    result = hesp(*args, env=scenario.env)
    assert result.returncode == 1 and result.stderr.startswith("error: cannot reach the Dask scheduler")


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        ("slurm", ["#SBATCH -p production", "#SBATCH --cpus-per-task=8", "#SBATCH --mem=30G", "#SBATCH -t 02:00:00",
                   "#SBATCH -A theia", "--nthreads 8"]),
        ("pbs", ["#PBS -q production", "#PBS -l select=1:ncpus=8:mem=30GB", "#PBS -l walltime=02:00:00",
                 "#PBS -A theia", "--nthreads 8"]),
    ],
)  # fmt: skip
def test_the_batch_script_dask_jobqueue_would_submit(system: str, expected: list[str]) -> None:
    args = ["run", "--jobqueue", system, "--queue", "production", "--cores", "8", "--memory", "32GB",
            "--walltime", "02:00:00", "--account", "theia", "--job-script"]  # fmt: skip
    result = hesp(*args)
    assert result.returncode == 0, result.stderr
    for line in expected:
        assert line in result.stdout, result.stdout
    assert "distributed.cli.dask_worker" in result.stdout or "dask worker" in result.stdout
