"""The dashboard's JSON (``/dashboard/api/...``) over the gap scenario, whose states are known exactly
(gap_scenario.py); the page itself is tested in a browser (test_dashboard_browser.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from gap_scenario import build
from shapely.geometry import shape

from hydra.web import create_app
from hygor import Catalog, Settings
from hygor.api.server import BackgroundServer
from hymotep.production import Production
from hymotep.settings import ProductionSettings

TCJ_L2A_STATES = {"done": 3, "invalid": 1, "outdated": 1, "queued": 1, "failed": 1, "blocked": 1, "runnable": 1}


TOKEN = "operator-token"


@pytest.fixture
def catalog(db_url: str, tmp_path: Path) -> Catalog:
    """The gap scenario with failed jobs and a log, its catalogue writable with ``TOKEN``."""
    build(db_url, tmp_path)
    storage = tmp_path / "storage"
    log = storage / "logs" / "maja-l2a" / "job.log"
    log.parent.mkdir(parents=True)
    log.write_text("".join(f"line {n}\n" for n in range(1, 101)) + "ERROR no GIPP for 31TCJ\n")
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE hesp.jobs SET log_path = %s WHERE state = 'failed'", (str(log),))
        conn.execute(
            "INSERT INTO hesp.jobs (collection, chain_version, tile, slot, state, attempts, last_error, log_path)"
            " VALUES ('lis-snow', '1.7.0', '31TDJ', 1, 'failed', 3, 'lis exited with code 2: boom', '/etc/passwd')"
        )
    return Catalog(ProductionSettings(database_url=db_url, storage=storage, api_token=TOKEN))


@pytest.fixture
def api(catalog: Catalog) -> Iterator[httpx.Client]:
    with (
        BackgroundServer(create_app(catalog, dashboard="public")) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield client


def test_log_tails_need_the_token_by_default_and_off_means_no_dashboard(catalog: Catalog) -> None:
    with BackgroundServer(create_app(catalog)) as url:  # HESP_DASHBOARD unset: token
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            failures = httpx.get(f"{url}/dashboard/api/overview", headers=headers, timeout=60).json()["failures"]
            assert failures and all(f["log_hidden"] and f["log_tail"] is None and "log_path" not in f for f in failures)
        failures = httpx.get(
            f"{url}/dashboard/api/overview", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        ).json()["failures"]
        assert any(f["log_tail"] for f in failures) and all(not f["log_hidden"] for f in failures)
    with BackgroundServer(create_app(catalog, dashboard="off")) as url:
        for path in ("/dashboard", "/dashboard/api/overview"):
            assert httpx.get(url + path, timeout=60).status_code == 404
        assert httpx.get(f"{url}/metrics", timeout=60).status_code == 200


def get(client: httpx.Client, path: str, **params: str) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_overview_progress_jobs_and_failures(api: httpx.Client) -> None:
    overview = get(api, "/dashboard/api/overview")
    assert overview["collections"] == ["lis-snow", "lis-snow-yearly", "maja-l2a", "maja-l3a-monthly",
                                       "s1tiling-backscatter", "surfwater-water"]  # fmt: skip
    [request] = overview["requests"]
    assert (request["name"], request["tiles"], request["start"], request["end"]) == (
        "scenario", 2, "2023-01-01", "2023-03-31"
    )  # fmt: skip
    l2a = next(c for c in request["collections"] if c["collection"] == "maja-l2a")
    assert (l2a["units"], l2a["done"], l2a["invalid"]) == (20, 5, 1)
    assert l2a["completeness"] == pytest.approx(6 / 20)
    assert {j["collection"]: (j["queued"], j["failed"]) for j in overview["jobs"]} == {
        "lis-snow": (0, 1), "maja-l2a": (1, 1)
    }  # fmt: skip
    failures = {f["collection"]: f for f in overview["failures"]}
    assert failures["maja-l2a"]["kind"] == "exit code 66" and failures["maja-l2a"]["tile"] == "31TCJ"
    tail = failures["maja-l2a"]["log_tail"].splitlines()
    assert len(tail) == 20 and tail[-1] == "ERROR no GIPP for 31TCJ" and tail[0] == "line 82"
    assert failures["lis-snow"]["log_tail"] is None  # a log outside the storage root is not shown


def test_completeness_per_tile(api: httpx.Client) -> None:
    completeness = get(api, "/dashboard/api/completeness", collection="maja-l2a")
    tcj = completeness["tiles"]["31TCJ"]
    assert tcj["states"] == TCJ_L2A_STATES
    assert (tcj["units"], tcj["done"], tcj["invalid"]) == (9, 3, 1)
    assert tcj["completeness"] == pytest.approx(4 / 9)
    assert completeness["tiles"]["31TDJ"]["completeness"] == pytest.approx(2 / 11)
    assert (
        get(api, "/dashboard/api/completeness", collection="maja-l2a", request="scenario")["tiles"]
        == (completeness["tiles"])
    )
    assert get(api, "/dashboard/api/completeness", collection="surfwater-water")["tiles"] == {}

    for params, message in [
        ({"collection": "sentinel-2-l1c"}, "'sentinel-2-l1c' is not a produced collection"),
        ({"collection": "maja-l2a", "request": "nope"}, "no request named 'nope'"),
    ]:
        response = api.get("/dashboard/api/completeness", params=params)
        assert response.status_code == 404 and response.json()["description"].startswith(message), response.text
    assert api.get("/dashboard/api/completeness").status_code == 400  # stac-fastapi answers 400 to a bad query


def test_tiles_and_their_products(api: httpx.Client, db_url: str) -> None:
    tiles = get(api, "/dashboard/api/tiles")
    assert [f["id"] for f in tiles["features"]] == ["31TCJ", "31TDJ"]
    for feature in tiles["features"]:  # simplified, but the same square to a map
        exact = shape(
            Production(Catalog(Settings(database_url=db_url))).tile_footprints([feature["id"]])[feature["id"]]
        )
        assert shape(feature["geometry"]).symmetric_difference(exact).area < exact.area / 100

    tile = get(api, "/dashboard/api/tiles/31TCJ", collection="maja-l2a")
    assert tile["total"] == 5 and tile["states"] == TCJ_L2A_STATES
    dates = [p["datetime"] for p in tile["products"]]
    assert dates == sorted(dates, reverse=True)
    assert [p["valid"] for p in tile["products"]].count(False) == 1
    assert sorted(g["state"] for g in tile["gaps"]) == ["blocked", "failed", "outdated", "queued", "runnable"]
    for product in tile["products"]:
        item = get(api, product["href"])
        assert (item["id"], item["collection"]) == (product["id"], "maja-l2a")
    assert get(api, "/dashboard/api/tiles/32ABC", collection="maja-l2a")["products"] == []

    countries = get(api, "/dashboard/api/countries")
    assert countries["type"] == "FeatureCollection" and len(countries["features"]) > 150
