"""`hesp run --jobqueue slurm` on a real one-node Slurm cluster (scripts/slurm-cluster): dask-jobqueue submits the
workers as batch jobs, they claim over TCP and register the products, and a worker job cancelled mid-run costs
only the lease of the job it held."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import HESP, REPO, free_port, hesp
from run_scenario import RunScenario, build

SCRIPT = str(REPO / "scripts" / "slurm-cluster")
UNITS = 50


@pytest.fixture(scope="module")
def slurm() -> Iterator[dict[str, str]]:
    """A one-node Slurm cluster of its own (state folder, ports); the environment its commands need."""
    missing = [tool for tool in ("munged", "slurmctld", "slurmd", "sbatch") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"Slurm cannot run here: {', '.join(missing)} not installed (apt-get install slurm-wlm munge)")
    if os.geteuid() != 0:
        pytest.skip("Slurm cannot run here: the one-node cluster needs root (slurmd starts jobs as their users)")
    state = Path(tempfile.mkdtemp(prefix="hesp-slurm-", dir="/var/tmp"))
    env = {**os.environ, "HESP_SLURM_DIR": str(state), "HESP_SLURM_CTLD_PORT": str(free_port()),
           "HESP_SLURM_SLURMD_PORT": str(free_port())}  # fmt: skip
    started = subprocess.run([SCRIPT, "start"], env=env, capture_output=True, text=True, timeout=120)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield {"SLURM_CONF": str(state / "slurm.conf")}
    finally:
        subprocess.run([SCRIPT, "stop"], env=env, capture_output=True, timeout=60)
        shutil.rmtree(state, ignore_errors=True)


def slurm_command(slurm: dict[str, str], *args: str) -> str:
    done = subprocess.run(args, env={**os.environ, **slurm}, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def succeeded(scenario: RunScenario) -> int:
    return scenario.states().get("succeeded", 0)


# The workers' start-up from the site file: the chain's sleep reaches the workers through it alone.
SITE = """\
scheduler: slurm
queue: hesp
cores: 1
memory: 1GB
walltime: "00:10:00"
jobs: 2
prologue: ['echo "worker job $SLURM_JOB_ID on $(hostname)"']
environment: {FAKE_CHAIN_SLEEP: "0.1"}
"""


def test_a_slurm_run_survives_a_cancelled_worker_job(db_url: str, tmp_path: Path, slurm: dict[str, str]) -> None:
    scenario = build(db_url, tmp_path, acquisitions=UNITS)
    (tmp_path / "site.yaml").write_text(SITE)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HESP_")}, **scenario.env, **slurm,
           "HESP_SITE_CONFIG": str(tmp_path / "site.yaml")}  # fmt: skip
    doctor = hesp("doctor", "--jobqueue", "slurm", "--format", "json", env=env)
    verdicts = {c["name"]: c["outcome"] for c in json.loads(doctor.stdout)["checks"]}
    batch = ("batch commands", "batch queue", "workers' database", "shared storage")
    assert {name: verdicts[name] for name in batch} == dict.fromkeys(batch, "pass"), doctor.stdout
    args = [HESP, "run", "-c", "surfwater-water", "--jobqueue", "slurm", "--lease", "4"]
    run = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while succeeded(scenario) < 5:  # the workers are up and claiming
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()[0]
            time.sleep(0.2)
        workers = slurm_command(slurm, "squeue", "-h", "-t", "RUNNING", "-o", "%i").split()
        assert workers, "no worker job running"
        slurm_command(slurm, "scancel", workers[0])
        output, _ = run.communicate(timeout=240)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, output
    assert scenario.states() == {"succeeded": UNITS}
    products = scenario.products()
    assert len(products) == len(set(products)) == UNITS  # each unit registered once
    runs = scenario.runs()
    assert len(runs) - len(set(runs)) <= 1  # at most the chain run cut off with its worker ran twice
    gaps = json.loads(hesp("gaps", "--request", "water", "--format", "json", env=scenario.env).stdout)
    assert [row["gaps"] for row in gaps if row["collection"] == "surfwater-water"] == [0], gaps
    accounted = slurm_command(slurm, "sacct", "--completion", "-n", "-P", "-o", "JobID,JobName,State").splitlines()
    states = {line.split("|")[0]: line.split("|")[2] for line in accounted if "|dask-worker|" in line}
    assert states.get(workers[0]) == "CANCELLED", accounted
    assert len(states) >= 3, accounted  # the cancelled worker was replaced
    worker_logs = list((scenario.storage / "logs" / "workers").glob("*.out"))
    assert any(f"worker job {workers[0]} on " in log.read_text() for log in worker_logs)  # the site's prologue ran
