"""``hesp harvest`` against a real STAC API on loopback (a second ``hesp serve`` on another database)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from conftest import HESP, REPO, hesp
from stac_items import l2a_item

from hygor import Catalog, Settings
from hymotep.storage import ALTERNATE_ASSETS

TILES = ("31TCJ", "31TDJ")
START = datetime(2022, 1, 2, 10, 50)
DAYS = 2 * 365
HARVEST = ["--collection", "sentinel-2-l2a-esa", "--datetime", "2022-01-01/2024-01-01", "--page-size", "3"]


@pytest.fixture
def upstream(make_db: Callable[[], str], tmp_path: Path, serve) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A STAC API serving two tiles of L2A items every 5 days over two years (292 items): (its URL, its database)."""
    url = make_db()
    items = tmp_path / "upstream.ndjson"
    with items.open("w") as out:
        for day in range(0, DAYS, 5):
            for tile in TILES:
                item = l2a_item(tile, START + timedelta(days=day), cloud_cover=float(day % 100))
                for asset in item["assets"].values():  # a Hespérides peer's own storage, as it publishes it
                    asset["alternate"] = {"local": {"href": f"/peer/storage/{item['id']}"},
                                          "mirror": {"href": "https://mirror.example.org/x"}}  # fmt: skip
                item["stac_extensions"] = [*item.get("stac_extensions", []), ALTERNATE_ASSETS]
                out.write(json.dumps(item | {"collection": "sentinel-2-l2a-esa"}) + "\n")
    report = Catalog(Settings(database_url=url)).ingest([items])
    assert report.ok and report.ingested == 2 * len(range(0, DAYS, 5))
    return str(serve({"HESP_DATABASE_URL": url}).url), url


def contents(url: str) -> dict[str, object]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, content FROM pgstac.items WHERE collection = 'sentinel-2-l2a-esa'")
        return {row[0]: row[1] for row in rows}


def units_done(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) FROM hesp.harvest_units").fetchone()[0])  # type: ignore[index]


def test_harvest_is_resumable_and_idempotent(upstream: tuple[str, str], make_db: Callable[[], str]) -> None:
    api, source = upstream
    mirror = make_db()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESP_")} | {"HESP_DATABASE_URL": mirror}
    command = [HESP, "harvest", "--from", api, *HARVEST]
    for tile in TILES:
        command += ["--tiles", tile]

    interrupted = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while units_done(mirror) < 3 and interrupted.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    interrupted.send_signal(signal.SIGKILL)
    interrupted.wait()
    done_before = units_done(mirror)
    assert 3 <= done_before < 2 * 24, "the harvest was not interrupted mid-way"

    resumed = harvest_both_tiles(api, mirror)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["units"] == 2 * 24 and report["units_skipped"] == done_before
    assert not report["rejected"]

    upstream_items = contents(source)
    harvested = contents(mirror)
    assert harvested.keys() == upstream_items.keys()
    assert all(harvested[k]["properties"] == upstream_items[k]["properties"] for k in harvested)  # type: ignore[index]

    again = harvest_both_tiles(api, mirror)
    assert json.loads(again.stdout)["units_skipped"] == 2 * 24
    assert contents(mirror) == harvested


def harvest_both_tiles(api: str, mirror: str) -> subprocess.CompletedProcess[str]:
    tiles = [arg for tile in TILES for arg in ("--tiles", tile)]
    return hesp("harvest", "--from", api, *HARVEST, *tiles, "--format", "json", env={"HESP_DATABASE_URL": mirror})


def test_tiles_select_items_of_those_tiles_only(upstream: tuple[str, str], db_url: str) -> None:
    result = hesp(
        "harvest",
        "--from",
        upstream[0],
        *HARVEST,
        "--tiles",
        "31TCJ",
        "--format",
        "json",
        env={"HESP_DATABASE_URL": db_url},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ingested"] == len(range(0, DAYS, 5))
    assert all("_T31TCJ_" in item_id for item_id in contents(db_url))
    with psycopg.connect(db_url) as conn:  # as the API serves them (pgSTAC keeps assets dehydrated)
        rows = conn.execute("SELECT pgstac.get_item(id, collection) FROM pgstac.items").fetchall()
    harvested = [asset for row in rows for asset in row[0]["assets"].values()]
    assert harvested and all(asset["alternate"] == {"mirror": {"href": "https://mirror.example.org/x"}}
                             for asset in harvested), "the peer's internal locations are not ours"  # fmt: skip


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--bbox", "1,2,3"], "is not W,S,E,N"),
        (["--datetime", "2023-05-01/2023-01-01"], "ends before it starts"),
        (["--tiles", "99ZZZ"], "99ZZZ"),
        (["--collection", "nope"], "unknown collection 'nope'"),
    ],
)
def test_bad_arguments_are_refused(db_url: str, arguments: list[str], message: str) -> None:
    base = ["harvest", "--from", "http://127.0.0.1:9/", "--collection", "sentinel-2-l2a-esa"]
    result = hesp(*base, *arguments, env={"HESP_DATABASE_URL": db_url})
    assert result.returncode != 0 and message in result.stderr
