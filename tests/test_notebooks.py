"""The notebooks (notebooks/*.ipynb) are stored without outputs and run to the end against a filled database
(tests/notebook_scenario.py), in a kernel of this virtual environment; the jobs' runs they read (hydra.runs)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pandas
import pytest
from conftest import REPO
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from notebook_scenario import FAILED_RUN, RUNNING, RUNS, build

from hydra.runs import CAPACITY_COLUMNS, RUN_COLUMNS, capacity_used, job_runs
from hygor import Catalog, Settings

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
# Figures rendered as PNG without a display: what Jupyter itself uses, so that plotting errors show here too
# (the Agg backend would only draw a figure when it is saved).
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
CELL_TIMEOUT_S = 120


def test_the_coverage_notebook_is_there() -> None:
    assert REPO / "notebooks" / "coverage.ipynb" in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_stored_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nbformat.validate(notebook)
    assert notebook.nbformat == 4
    assert notebook.metadata.kernelspec.name == "python3"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}, cell {cell.id}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_runs_against_a_filled_database(
    path: Path, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(db_url, tmp_path)
    # The kernel inherits this environment: the project's settings point it at the test database.
    for name in [name for name in os.environ if name.startswith("HESP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HESP_DATABASE_URL", db_url)
    monkeypatch.setenv("MPLBACKEND", INLINE_BACKEND)
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "1")  # this environment's kernelspec before a user's
    workdir = tmp_path / "run"
    workdir.mkdir()

    command = KernelManager(kernel_name="python3").format_kernel_cmd()
    assert command[0] == sys.executable, f"the python3 kernel is not this environment's Python: {command}"
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, kernel_name="python3", timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(workdir)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, when a cell fails

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    warnings = [output.text for output in outputs if output.output_type == "stream" and output.name == "stderr"]
    assert not warnings, "\n".join(warnings)
    assert any("image/png" in output.get("data", {}) for output in outputs), "no figure was drawn"


def test_job_runs_and_capacity_used(db_url: str, tmp_path: Path) -> None:
    catalog = build(db_url, tmp_path).catalog
    with catalog.database().connect() as conn:  # queued again after a failed attempt of 30 minutes: it counts
        conn.execute(
            "INSERT INTO hesp.jobs (collection, chain_version, tile, slot, state, attempts, last_error, started_at,"
            " updated_at) VALUES ('lis-snow', '1.7.0', '31TDJ', 1, 'queued', 1, 'exit code 1',"
            " '2023-03-01T10:00:00Z', '2023-03-01T10:30:00Z')"
        )
    runs = job_runs(catalog=catalog)
    assert list(runs.columns) == list(RUN_COLUMNS)
    # The scenario's queued job never ran (no started_at): left out.
    assert len(runs) == len(RUNS) + 3
    assert sorted(runs["state"].value_counts().items()) == [("failed", 1), ("queued", 1), ("running", 1),
                                                              ("succeeded", len(RUNS))]  # fmt: skip
    running = runs[runs["state"] == "running"].iloc[0]
    assert running["tile"] == RUNNING[0] and pandas.isna(running["ended_at"]) and pandas.isna(running["duration_s"])
    finished = runs.dropna(subset=["duration_s"])
    elapsed = (finished["ended_at"] - finished["started_at"]).dt.total_seconds()
    assert elapsed.tolist() == finished["duration_s"].tolist()
    assert sorted(finished["duration_s"] / 60) == sorted([m for *_, m in RUNS] + [FAILED_RUN[3], 30])
    assert job_runs("maja-l3a-monthly", catalog=catalog).empty
    assert set(job_runs(["lis-snow"], catalog=catalog)["state"]) == {"succeeded", "queued"}

    used = capacity_used(catalog=catalog)
    assert list(used.columns) == list(CAPACITY_COLUMNS)
    months = {(c, f"{m:%Y-%m}"): row for (c, m), row in used.iterrows()}
    assert sorted(months) == [("lis-snow", "2023-01"), ("lis-snow", "2023-03"), ("maja-l2a", "2023-01"),
                              ("maja-l2a", "2023-02")]  # fmt: skip
    january = months["maja-l2a", "2023-01"]
    assert (january["runs"], january["succeeded"], january["failed"]) == (6, 5, 1)
    assert january["hours"] == pytest.approx((44 + 47 + 41 + 49 + 55 + 20) / 60)
    assert january["cpu_hours"] == pytest.approx(january["hours"] * 4)  # maja-l2a: 3 CPU-hours in 45 minutes
    retried = months["lis-snow", "2023-03"]
    assert (retried["runs"], retried["succeeded"], retried["failed"]) == (1, 0, 1)
    assert retried["cpu_hours"] == pytest.approx(0.5 * 1.8)  # lis-snow: 0.3 CPU-hours in 10 minutes


def test_no_runs(db_url: str) -> None:
    catalog = Catalog(Settings(database_url=db_url))
    assert job_runs(catalog=catalog).empty
    used = capacity_used(catalog=catalog)
    assert used.empty and list(used.columns) == list(CAPACITY_COLUMNS)
