"""The archive: `hesp ingest --recursive --archive` over a tree of THEIA/MUSCATE product folders (L2A, L3A,
L2B-SNOW, metadata only) killed with SIGKILL mid-way and run again loads every product exactly once, without
reading again what the killed run had committed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psycopg
from archive_tree import write_archive
from conftest import HESP, REPO
from products import write_lis

from hygor import Catalog, Settings
from hygor.ingest import IngestOptions, IngestReport

PRODUCTS = 2_000
BATCH = 100


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        items = dict(conn.execute("SELECT collection, count(*) FROM pgstac.items GROUP BY collection").fetchall())
        distinct = conn.execute("SELECT count(DISTINCT id) FROM pgstac.items").fetchone()
        recorded = conn.execute("SELECT count(*) FROM hesp.ingest_products").fetchone()
        runs = conn.execute("SELECT count(*) FROM hesp.ingest_runs").fetchone()
    assert distinct is not None and recorded is not None and runs is not None
    return {**items, "items": sum(items.values()), "distinct": distinct[0], "recorded": recorded[0], "runs": runs[0]}


def ingest_command(archive: Path, url: str) -> tuple[list[str], dict[str, str]]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HESP_")}
    args = [HESP, "ingest", str(archive), "--recursive", "--archive", "--batch-size", str(BATCH), "--format", "json"]
    return args, {**clean, "HESP_DATABASE_URL": url}


def children(pid: int) -> list[int]:
    """The processes ``pid`` started (the loader process, multiprocessing's helpers)."""
    listed = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in listed]


def wait_gone(pids: list[int], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{pid}").exists() for pid in pids):
        assert time.monotonic() < deadline, f"processes {pids} still run"
        time.sleep(0.1)


def test_a_killed_archive_ingest_resumes_and_loads_every_product_once(tmp_path: Path, db_url: str) -> None:
    archive = tmp_path / "archive"
    made = write_archive(archive, PRODUCTS, tiles=20)
    assert set(made) == {"maja-l2a", "maja-l3a-monthly", "lis-snow"} and sum(made.values()) == PRODUCTS

    args, env = ingest_command(archive, db_url)
    with subprocess.Popen(args, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as killed:
        deadline = time.monotonic() + 300
        while counts(db_url)["recorded"] < PRODUCTS // 4:  # a quarter committed: well under way
            assert killed.poll() is None, killed.communicate()
            assert time.monotonic() < deadline, "the ingest committed nothing"
            time.sleep(0.05)
        helpers = children(killed.pid)
        killed.send_signal(signal.SIGKILL)
    wait_gone(helpers)  # the loader process ends with its parent (the batch it may be writing rolls back)

    after_kill = counts(db_url)
    assert PRODUCTS // 4 <= after_kill["recorded"] < PRODUCTS
    # What is recorded as done is exactly what is in the catalogue: items and records share their transaction.
    assert after_kill["items"] == after_kill["distinct"] == after_kill["recorded"]

    resumed = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["resumed"] == after_kill["recorded"] and report["rejected"] == []
    muscate = report["by_reader"]["theia-muscate"]
    assert muscate["resumed"] == after_kill["recorded"]
    assert muscate["products"] == muscate["items"] == PRODUCTS - after_kill["recorded"]  # the rest only
    assert report["ingested"] == PRODUCTS - after_kill["recorded"] and report["updated"] == report["unchanged"] == 0

    final = counts(db_url)
    assert final["items"] == final["distinct"] == PRODUCTS
    assert {collection: final[collection] for collection in made} == made
    assert final["runs"] == final["recorded"] == 0  # a run that ends leaves no record: the next reads everything


def test_progress_has_a_total_and_the_report_counts_per_format(tmp_path: Path, db_url: str) -> None:
    archive = tmp_path / "archive"
    write_archive(archive / "muscate", 30, tiles=3)
    write_lis(archive / "lis")
    (archive / "notes.txt").write_text("not a product")
    seen: list[tuple[int, int]] = []

    def progress(report: IngestReport) -> None:
        seen.append((report.products_done, report.products_found))

    catalog = Catalog(Settings(database_url=db_url))
    report = catalog.ingest([archive], IngestOptions(recursive=True, archive=True), progress)
    assert {found for _, found in seen} == {31} and seen[-1][0] == 31
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert report.by_reader["theia-muscate"].products == 30 and report.by_reader["theia-lis"].items == 1
    assert [Path(rejected.path).name for rejected in report.rejected] == ["notes.txt"]
    assert report.ingested == 31 and report.resumed == 0
    again = catalog.ingest([archive], IngestOptions(recursive=True, archive=True))
    assert again.unchanged == 31 and again.resumed == 0  # a finished run is not resumed: everything is read
