"""``hesp watch`` with real processes: an upstream STAC API on loopback (``hesp serve`` over its own database) where
new Sentinel-2 L1C acquisitions appear while the watch runs, a test executable in Surfwater's place, the L2A inputs
already produced; SIGTERM mid-job; two watch processes sharing one database."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fake_chain
import httpx
import psycopg
import pytest
from conftest import HESP, REPO, Server, hesp
from gap_scenario import item
from products import write_muscate_l2a
from run_scenario import L2A_DELAY, TILE, write_request

from hygor import Catalog
from hygor.db import Database
from hygor.loader import ItemLoader
from hymotep.production import Production
from hymotep.settings import ProductionSettings

SOURCE = "s2-upstream"
COLLECTION = "surfwater-water"


@dataclass
class WatchScenario:
    """Our centre (``env``: its database, storage, work and chains) and an upstream catalogue (``upstream``)."""

    production: Production
    env: dict[str, str]
    upstream: str
    days: list[datetime]
    tmp: Path
    added: dict[datetime, float] = field(default_factory=dict)  # when each L1C appeared upstream

    def publish(self, *days: datetime) -> None:
        """New L1C acquisitions upstream."""
        with ItemLoader(Database(self.upstream)) as loader:
            loader.load([item("sentinel-2-l1c", TILE, day) for day in days])
        self.added.update({day: time.time() for day in days})

    def query(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        with psycopg.connect(self.env["HESP_DATABASE_URL"]) as conn:
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def products(self) -> dict[int, str]:
        """The registered products by the slot of their acquisition."""
        rows = self.query("SELECT slot, id FROM hesp.inventory WHERE collection = %s", COLLECTION)
        return {int(slot): str(product) for slot, product in rows}  # type: ignore[call-overload]

    def slot(self, day: datetime) -> int:
        return int(self.query("SELECT hesp.acquisition_slot(%s, %s)", TILE, day)[0][0])  # type: ignore[call-overload]

    def start(self, name: str, *options: str) -> subprocess.Popen[str]:
        """``hesp watch`` in its own session, its output to a file."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith("HESP_")}
        with (self.tmp / f"{name}.log").open("w") as log:  # the child keeps its own descriptor
            return subprocess.Popen(
                [HESP, "watch", "--sources", str(self.tmp / "sources.yaml"), "--collection", COLLECTION,
                 "--workers", "1", "--poll", "0.5", *options],
                env={**clean, **self.env}, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, text=True,
                start_new_session=True,
            )  # fmt: skip

    def output(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text()


@pytest.fixture
def scenario(make_db: Callable[[], str], tmp_path: Path, serve: type[Server]) -> WatchScenario:
    """Six acquisitions of 31TCJ, one a day until yesterday, whose L2A we made already; none of their L1C here yet,
    a request for Surfwater water over them."""
    today = datetime.now(UTC).replace(hour=10, minute=56, second=0, microsecond=0)
    days = [today - timedelta(days=n) for n in range(6, 0, -1)]
    url, upstream = make_db(), make_db()
    l2a = [write_muscate_l2a(tmp_path / "l2a", tile=TILE, when=day + L2A_DELAY, version="4-10") for day in days]
    env = {
        "HESP_DATABASE_URL": url,
        "HESP_STORAGE": str(tmp_path / "storage"),
        "HESP_WORK_DIR": str(tmp_path / "work"),
        "HESP_CHAIN_PATH": str(fake_chain.install(tmp_path / "bin")),
        "FAKE_CHAIN_RECORD": str(tmp_path / "runs.txt"),
        "FAKE_CHAIN_PIDS": str(tmp_path / "pids.txt"),
        "FAKE_CHAIN_SLEEP_FILE": str(tmp_path / "sleep"),
    }
    settings = ProductionSettings(database_url=url, storage=tmp_path / "storage", work_dir=tmp_path / "work")
    production = Production(Catalog(settings))
    assert production.catalog.ingest(l2a).ok
    start, end = f"{days[0]:%Y-%m-%d}", f"{today + timedelta(days=1):%Y-%m-%d}"
    production.add_request(write_request(tmp_path, "water", COLLECTION, start, end))
    api = serve({"HESP_DATABASE_URL": upstream}).url
    (tmp_path / "sources.yaml").write_text(
        f"sources:\n  - name: {SOURCE}\n    url: {api}\n    collection: sentinel-2-l1c\n    tiles: [{TILE}]\n"
        f"    interval: 1s\n    since: {start}\n"
    )
    return WatchScenario(production, env, upstream, days, tmp_path)


def wait_for(condition: Callable[[], bool], what: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the watch exited while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def stop(process: subprocess.Popen[str], timeout: float = 30) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=timeout)


def served(env: dict[str, str]) -> tuple[dict[str, float], dict[str, Any]]:
    """What a ``hesp serve`` on our database says of continuous operation: the samples of ``/metrics``, the
    dashboard's ``latency``."""
    server = Server(env)
    try:
        text = httpx.get(server.url + "/metrics", timeout=30).text
        dashboard = httpx.get(server.url + "/dashboard/api/overview", timeout=30).json()["latency"]
    finally:
        server.stop()
    wanted = ("hesp_acquisition_to_product_seconds", "hesp_newest_acquisition_age_seconds")
    samples = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(wanted)}  # fmt: skip
    return samples, dashboard


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")


def test_new_acquisitions_become_products_and_sigterm_leaves_nothing_half_done(scenario: WatchScenario) -> None:
    first, second, third, slow = scenario.days[:4]
    scenario.publish(first, second)
    seen: dict[int, float] = {}

    def registered(count: int) -> Callable[[], bool]:
        def check() -> bool:
            for slot in scenario.products():
                seen.setdefault(slot, time.time())
            return len(seen) >= count

        return check

    watch = scenario.start("watch", "--grace", "1")
    try:
        wait_for(registered(2), "the first two products", watch)
        scenario.publish(third)  # appears upstream while the watch runs: made without any other command
        wait_for(registered(3), "the product of the new acquisition", watch)

        (scenario.tmp / "sleep").write_text("120")  # the next job is slow: stopped mid-job
        scenario.publish(slow)
        pids = scenario.tmp / "pids.txt"
        wait_for(lambda: len(pids.read_text().split()) == 4, "the slow job's chain", watch)
        assert scenario.query("SELECT count(*) FROM hesp.jobs WHERE state = 'running'") == [(1,)]
        assert stop(watch) == 0, scenario.output("watch")
    finally:
        if watch.poll() is None:
            os.killpg(watch.pid, signal.SIGKILL)
    output = scenario.output("watch")
    assert "harvested 2" in output and "released" in output and output.rstrip().endswith("stopped"), output

    chain = int(pids.read_text().split()[-1])
    assert not alive(chain), "the slow job's chain was stopped"
    assert scenario.query("SELECT state, count(*) FROM hesp.jobs GROUP BY state ORDER BY state") == [
        ("queued", 1), ("succeeded", 3)
    ]  # fmt: skip
    ((job, attempts),) = scenario.query("SELECT id, attempts FROM hesp.jobs WHERE state = 'queued'")
    assert attempts == 0, "the released attempt is given back"
    history = json.loads(hesp("status", "--job", str(job), "--format", "json", env=scenario.env).stdout)
    assert [(a["outcome"], a["error"]) for a in history["history"]] == [
        ("released", "surfwater stopped: the run was stopped, the job released")
    ]
    assert not list((scenario.tmp / "work" / COLLECTION).glob(f"job-{job}-*")), "its work directory is removed"

    products = scenario.products()  # nothing half-registered: the items and the stored products agree
    assert set(products) == {scenario.slot(day) for day in (first, second, third)}
    stored = {p.name for p in (scenario.tmp / "storage" / COLLECTION / TILE).glob("*/*") if p.is_dir()}
    assert stored == set(products.values())
    orphans = hesp("storage", "orphans", "--min-age", "0", "--format", "json", env=scenario.env)
    assert orphans.returncode == 0 and json.loads(orphans.stdout)["keys"] == [], orphans.stdout

    # Latency: each product registered between its L1C's appearance upstream and the test seeing it.
    rows = scenario.query(
        "SELECT j.slot, a.ended_at FROM hesp.job_attempts a JOIN hesp.jobs j ON j.id = a.job"
        " WHERE a.outcome = 'succeeded'"
    )
    by_slot = {scenario.slot(day): day for day in (first, second, third)}
    latencies = []
    for slot, ended in rows:
        day = by_slot[slot]  # type: ignore[index]
        assert scenario.added[day] - 1 <= ended.timestamp() <= seen[slot] + 1  # type: ignore[attr-defined,index]
        latencies.append((ended - day).total_seconds())  # type: ignore[operator]
    samples, dashboard = served(scenario.env)
    median = statistics.median(latencies)
    p95 = statistics.quantiles(latencies, n=100, method="inclusive")[94]
    label = f'collection="{COLLECTION}"'
    assert samples[f'hesp_acquisition_to_product_seconds{{{label},quantile="0.5"}}'] == pytest.approx(median, abs=1)
    assert samples[f'hesp_acquisition_to_product_seconds{{{label},quantile="0.95"}}'] == pytest.approx(p95, abs=1)
    age = samples[f'hesp_newest_acquisition_age_seconds{{source="{SOURCE}"}}']
    assert age == pytest.approx(time.time() - slow.timestamp(), abs=10), "the newest acquisition harvested"
    assert [(c["collection"], c["products"]) for c in dashboard["collections"]] == [(COLLECTION, 3)]
    assert dashboard["collections"][0]["median_s"] == pytest.approx(median, abs=1)
    assert [s["source"] for s in dashboard["sources"]] == [SOURCE]

    status = hesp("status", env=scenario.env)
    assert status.returncode == 0 and "acquisition to product" in status.stdout and SOURCE in status.stdout


def test_two_watch_processes_share_the_work_and_run_no_job_twice(scenario: WatchScenario) -> None:
    (scenario.tmp / "sleep").write_text("1.5")  # jobs long enough for both processes to take some
    scenario.publish(*scenario.days)
    watches = [scenario.start(f"watch-{n}", "--grace", "5") for n in range(2)]
    try:
        wait_for(lambda: len(scenario.products()) == len(scenario.days), "every product", watches[0], timeout=90)
        assert [stop(w) for w in watches] == [0, 0]
    finally:
        for w in watches:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGKILL)
    attempts = scenario.query("SELECT job, outcome, worker FROM hesp.job_attempts ORDER BY job")
    assert len(attempts) == len(scenario.days) and {a[1] for a in attempts} == {"succeeded"}, attempts
    assert len({a[0] for a in attempts}) == len(scenario.days), "one attempt a job"
    assert len({a[2] for a in attempts}) == 2, "both processes' workers ran jobs"
    runs = (scenario.tmp / "runs.txt").read_text().split()
    assert len(runs) == len(set(runs)) == len(scenario.days), "no chain ran twice"
    harvests = [line for n in range(2) for line in scenario.output(f"watch-{n}").splitlines()
                if f"{SOURCE}: " in line and "not due" not in line]  # fmt: skip
    assert harvests, "the source was harvested"


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        ("sources: [", "malformed YAML"),
        ("sources: []", "sources: [] has less than 1 item"),
        ("sources: [{name: a1, url: 'http://x', collection: sentinel-2-l1}]",
         "sources/0/collection: unknown collection 'sentinel-2-l1'"),
        ("sources: [{name: a1, url: 'http://x', collection: sentinel-2-l1c, interval: 5 minutes}]",
         "sources/0/interval"),
        ("sources: [{name: a1, url: 'http://x', collection: sentinel-2-l1c, tiles: [31ZZZ]}]", "sources/0/tiles"),
        ("sources: [{name: a1, url: 'http://x', collection: sentinel-2-l1c, since: 2024-02-30}]",
         "sources/0/since: '2024-02-30' is not a day"),
        ("sources: [{name: a1, url: 'http://x', collection: sentinel-2-l1c},"
         " {name: a1, url: 'http://y', collection: sentinel-2-l1c}]", "sources/1/name: 'a1' names two sources"),
        ("sources: [{name: a1, url: 'ftp://x', collection: sentinel-2-l1c, upstream: x}]", "sources/0"),
    ],
)  # fmt: skip
def test_a_bad_sources_file_is_one_line_and_nothing_starts(tmp_path: Path, sources: str, message: str) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(sources)
    result = hesp("watch", "--sources", str(path), "--once", env={"HESP_HOME": str(tmp_path / "home")})
    assert result.returncode == 1 and not result.stdout
    assert result.stderr.startswith(f"error: {path}: ") and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "home").exists()
