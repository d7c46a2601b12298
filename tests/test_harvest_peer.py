"""``hesp harvest`` from a peer that is not Hespérides: a stock stac-fastapi-pgstac (``uvicorn
stac_fastapi.pgstac.app:create_app --factory``, its own process and its own database with pgSTAC installed by
``pypgstac migrate``) serving items as the public catalogues publish them: the Copernicus Data Space Ecosystem's
STAC catalogue (tests/fixtures/cdse/, written from its documentation: see tests/fixtures/SOURCES.md) and Earth Search.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from conftest import FIXTURES, HESP, REPO, HttpProcess, database_url, hesp
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from pypgstac.db import PgstacDB
from pypgstac.load import Loader, Methods
from pypgstac.migrate import Migrate

CDSE = FIXTURES / "cdse"
S1_ID = "S1A_IW_GRDH_1SDV_20210809T173953_20210809T174018_039156_049F13_6FF8"
L1C_ID = "S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248"
EARTH_SEARCH = FIXTURES / "real" / "stac-items" / "S2A_28QCH_20200714_0_L2A.json"
# Slice 8 of the real slice's datatake: the next 25 s of the ascending pass, further north (lon/lat).
NEXT_SLICE = [[1.512143, 46.03389], [4.85136, 46.436539], [4.51, 47.94], [1.08, 47.53], [1.512143, 46.03389]]
REPEAT_DAYS, ORBITS_PER_CYCLE, PASSES = 12, 175, 30  # Sentinel-1A repeats its ground track every 12 days
S1_TILES = ("31TDL", "31TDM")  # slice 7 covers both, slice 8 only 31TDM
S1_UNITS = len(S1_TILES) * 12  # the months of 2021


class Peer(HttpProcess):
    """A stock stac-fastapi-pgstac on a loopback port, on a database of its own."""

    def __init__(self, dsn: str, workdir: Path) -> None:
        self.dsn = dsn
        info = conninfo_to_dict(dsn)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HESP_", "PG", "POSTGRES"))} | {
            "PGUSER": str(info["user"]),
            "PGPASSWORD": str(info.get("password", "")),
            "PGHOST": str(info["host"]),
            "PGPORT": str(info["port"]),
            "PGDATABASE": str(info["dbname"]),
        }
        command = [sys.executable, "-m", "uvicorn", "stac_fastapi.pgstac.app:create_app", "--factory",
                   "--host", "127.0.0.1", "--port", "{port}"]  # fmt: skip
        super().__init__("stac-fastapi-pgstac", command, env, workdir, wait_s=60)


def collection(collection_id: str, title: str) -> dict[str, Any]:
    return {
        "type": "Collection",
        "stac_version": "1.1.0",
        "id": collection_id,
        "title": title,
        "description": title,
        "license": "other",
        "extent": {
            "spatial": {"bbox": [[-180, -90, 180, 90]]},
            "temporal": {"interval": [["2014-10-03T00:00:00Z", None]]},
        },
        "links": [],
    }


def s1_pass_series() -> list[dict[str, Any]]:
    """The real slice (CDSE layout) and its following slice, on every repeat of the pass through 2021."""
    real = json.loads((CDSE / f"{S1_ID}.json").read_text())
    start = datetime(2021, 8, 9, 17, 39, 53, tzinfo=UTC)
    first = start - timedelta(days=REPEAT_DAYS * 18)  # 2021-01-18
    items = []
    for index in range(PASSES):
        cycle = (first - start).days // REPEAT_DAYS + index
        for slice_index, geometry in enumerate((real["geometry"]["coordinates"][0], NEXT_SLICE)):
            begin = start + timedelta(days=REPEAT_DAYS * cycle, seconds=25 * slice_index)
            orbit = 39156 + ORBITS_PER_CYCLE * cycle
            name = f"S1A_IW_GRDH_1SDV_{begin:%Y%m%dT%H%M%S}_{begin + timedelta(seconds=25):%Y%m%dT%H%M%S}_{orbit:06d}"
            name += f"_{0x049F13 + cycle:06X}_{begin:%M%S}"
            text = json.dumps(real).replace(S1_ID, name).replace("2021/08/09", f"{begin:%Y/%m/%d}")
            item = json.loads(text)
            item["geometry"]["coordinates"] = [geometry]
            xs, ys = [x for x, _ in geometry], [y for _, y in geometry]
            item["bbox"] = [min(xs), min(ys), max(xs), max(ys)]
            begins, ends = (f"{when:%Y-%m-%dT%H:%M:%S}.153776Z" for when in (begin, begin + timedelta(seconds=25)))
            properties = item["properties"]
            properties.update(datetime=begins, start_datetime=begins, end_datetime=ends)
            properties["sat:absolute_orbit"] = orbit
            items.append(item)
    return items


@pytest.fixture(scope="module")
def peer(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Peer, list[dict[str, Any]]]]:
    """The peer, loaded: (it, the Sentinel-1 items it serves)."""
    name = f"peer_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = database_url(server_url, name)
    db = PgstacDB(dsn=dsn)
    Migrate(db).run_migration()
    loader = Loader(db)
    collections = [
        collection("sentinel-1-grd", "Sentinel-1 Level-1 GRD (CDSE)"),
        collection("sentinel-2-l1c", "Sentinel-2 Level-1C (CDSE)"),
        collection("sentinel-s2-l2a-cogs", "Sentinel-2 L2A COGs (Earth Search v0)"),
    ]
    loader.load_collections(iter(collections), insert_mode=Methods.insert)
    s1 = s1_pass_series()
    l1c = json.loads((CDSE / f"{L1C_ID}.json").read_text())
    loader.load_items(iter([*s1, l1c, json.loads(EARTH_SEARCH.read_text())]), insert_mode=Methods.insert)
    db.close()
    server = Peer(dsn, tmp_path_factory.mktemp("peer"))
    yield server, s1
    server.stop()
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def harvest_s1(peer: Peer, mirror: str) -> subprocess.CompletedProcess[str]:
    return hesp(*s1_command(peer), "--format", "json", env={"HESP_DATABASE_URL": mirror})


def s1_command(peer: Peer) -> list[str]:
    tiles = [arg for tile in S1_TILES for arg in ("--tiles", tile)]
    window = ["--datetime", "2021-01-01/2022-01-01", "--page-size", "2"]
    return ["harvest", "--from", peer.url, "--collection", "sentinel-1-grd", *window, *tiles]


def scalar(url: str, query: str) -> Any:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchone()[0]  # type: ignore[index]


def test_cdse_sentinel_1_harvest_interrupted_and_resumed_loads_each_item_once(
    peer: tuple[Peer, list[dict[str, Any]]], db_url: str
) -> None:
    server, upstream = peer
    page = httpx.get(f"{server.url}/collections/sentinel-1-grd/items", params={"limit": 1}).json()
    assert page["features"][0]["properties"]["auth:schemes"]["s3"] == {"type": "s3"}  # served as CDSE shapes it

    env = {k: v for k, v in os.environ.items() if not k.startswith("HESP_")} | {"HESP_DATABASE_URL": db_url}
    interrupted = subprocess.Popen(
        [HESP, *s1_command(server)], env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while scalar(db_url, "SELECT count(*) FROM hesp.harvest_units") < 3 and time.monotonic() < deadline:
        if interrupted.poll() is not None:
            break
        time.sleep(0.01)
    interrupted.send_signal(signal.SIGKILL)
    interrupted.wait()
    done_before = scalar(db_url, "SELECT count(*) FROM hesp.harvest_units")
    loaded_before = scalar(db_url, "SELECT count(*) FROM pgstac.items")
    assert 3 <= done_before < S1_UNITS, "the harvest was not interrupted mid-way"

    resumed = harvest_s1(server, db_url)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    report = json.loads(resumed.stdout)
    assert (report["units"], report["units_skipped"], report["rejected"]) == (S1_UNITS, done_before, [])
    # What the first run had committed is not loaded again: the second run ingests exactly the rest (a unit cut
    # off before it was recorded is fetched again, and its items already loaded are found unchanged).
    assert report["ingested"] == len(upstream) - loaded_before

    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT id, collection, content FROM pgstac.items").fetchall()
        per_unit = conn.execute("SELECT sum(items) FROM hesp.harvest_units").fetchone()[0]  # type: ignore[index]
        covered = conn.execute(
            "SELECT tile, count(*) FROM hesp.inventory WHERE collection = 'sentinel-1-grd'"
            " AND tile IN ('31TDL', '31TDM') GROUP BY tile ORDER BY tile"
        ).fetchall()
    assert sorted(row[0] for row in rows) == sorted(item["id"] for item in upstream)
    assert per_unit == len(upstream)  # each item was loaded under one unit only: the first tile it covers
    assert {row[1] for row in rows} == {"sentinel-1-grd"}
    assert covered == [("31TDL", PASSES), ("31TDM", 2 * PASSES)]  # the inventory places slices by footprint
    upstream_by_id = {item["id"]: item for item in upstream}
    for item_id, _, content in rows:
        expected = upstream_by_id[item_id]["properties"]
        assert {k: content["properties"][k] for k in expected} == expected
        assert content["assets"]["vv"]["href"].startswith("s3://eodata/Sentinel-1/SAR/IW_GRDH_1S/2021/")

    again = harvest_s1(server, db_url)
    assert json.loads(again.stdout)["units_skipped"] == S1_UNITS


@pytest.mark.parametrize(
    ("source", "ours", "tile", "window", "item_id"),
    [
        ("sentinel-2-l1c", "sentinel-2-l1c", "46RER", "2021-09-01/2021-10-01", L1C_ID),
        ("sentinel-s2-l2a-cogs", "sentinel-2-l2a-esa", "28QCH", "2020-07-01/2020-08-01", "S2A_28QCH_20200714_0_L2A"),
    ],
    ids=["cdse-sentinel-2-l1c", "earth-search-v0-l2a"],
)
def test_sentinel_2_items_of_public_catalogues_land_in_our_collections(
    peer: tuple[Peer, list[dict[str, Any]]], db_url: str, source: str, ours: str, tile: str, window: str, item_id: str
) -> None:
    server, _ = peer
    arguments = ["--from", server.url, "--collection", ours, "--source-collection", source, "--tiles", tile]
    result = hesp("harvest", *arguments, "--datetime", window, "--format", "json", env={"HESP_DATABASE_URL": db_url})
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["ingested"] == 1
    with psycopg.connect(db_url) as conn:
        content = conn.execute("SELECT pgstac.get_item(%s, %s)", (item_id, ours)).fetchone()[0]  # type: ignore[index]
        placed = conn.execute("SELECT tile FROM hesp.inventory WHERE id = %s", (item_id,)).fetchall()
    assert content["collection"] == ours and content["stac_version"] == "1.1.0"
    assert placed == [(tile,)]
    assert not any(link["rel"] in ("self", "parent", "root") for link in content["links"])
    upstream = json.loads(((CDSE / f"{L1C_ID}.json") if source == "sentinel-2-l1c" else EARTH_SEARCH).read_text())
    if source == "sentinel-2-l1c":
        assert content["properties"] == upstream["properties"]
        b04 = content["assets"]["B04"]
        assert b04["href"].startswith("s3://eodata/Sentinel-2/MSI/L1C/2021/09/08/")
        assert b04["alternate"]["https"]["href"].startswith("https://download.dataspace.copernicus.eu/odata/v1/")
    else:
        assert content["properties"]["eo:cloud_cover"] == upstream["properties"]["eo:cloud_cover"]
        assert content["properties"]["grid:code"] == "MGRS-28QCH"  # from its id: Earth Search v0 has no grid:code
        assert content["assets"]["visual"]["href"] == upstream["assets"]["visual"]["href"]
