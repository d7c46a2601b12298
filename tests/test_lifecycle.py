"""The publication lifecycle on a real production: a unit made with chain version A, then reprocessed with B (the
collection's chain.yaml edited in a copied collections folder), served by the real STAC API; two versions of
an input ingested; products withdrawn, restored and pruned with the ``hesp`` commands."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import hesp
from products import write_muscate_l2a
from run_scenario import RunScenario, build

from hygor import Catalog, Settings
from hygor.api.server import BackgroundServer
from hygor.settings import default_collections_dir
from hymotep.storage import internal_href
from hymotep.work_units import GapFilter

WATER = "surfwater-water"
VERSION_EXTENSION = "https://stac-extensions.github.io/version/v1.2.0/schema.json"


@pytest.fixture
def scenario(db_url: str, tmp_path: Path) -> RunScenario:
    """Two acquisitions of 31TCJ, their water maps made by chain version 1.0.0."""
    made = build(db_url, tmp_path, acquisitions=2)
    run(made.env)
    return made


@pytest.fixture
def api(db_url: str) -> Iterator[str]:
    with BackgroundServer(Catalog(Settings(database_url=db_url)).api()) as url:
        yield url


def run(env: dict[str, str]) -> None:
    result = hesp("run", "--collection", WATER, "--workers", "1", env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def reprocessed(scenario: RunScenario, tmp_path: Path, version: str) -> dict[str, str]:
    """The environment of a collections folder whose Surfwater chain is at ``version``, after running it for a
    campaign replaying the water maps of 31TCJ."""
    collections = tmp_path / "collections"
    shutil.copytree(default_collections_dir(), collections)
    chain = collections / WATER / "chain.yaml"
    chain.write_text(chain.read_text().replace('version: "1.0.0"', f'version: "{version}"'))
    env = {**scenario.env, "HESP_COLLECTIONS_DIR": str(collections)}
    campaign = tmp_path / f"water-{version}.yaml"
    campaign.write_text(
        f"name: water-{version.replace('.', '-')}\ncollection: {WATER}\nchain_version: {version}\n"
        "zone: {tiles: [31TCJ]}\nperiod: {start: 2023-01-01}\n"
    )
    added = hesp("campaign", "add", str(campaign), env=env)
    assert added.returncode == 0, added.stdout + added.stderr
    run(env)
    return env


def item(scenario: RunScenario, collection: str, item_id: str) -> dict[str, Any]:
    with scenario.production.catalog.database().connect() as conn:
        row = conn.execute("SELECT pgstac.get_item(%s, %s) AS item", (item_id, collection)).fetchone()
    return row["item"] if row else {}


def ids(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {feature["id"] for feature in response.json()["features"]}


def link(stac_item: dict[str, Any], rel: str) -> str | None:
    return next((lk["href"] for lk in stac_item.get("links", []) if lk["rel"] == rel), None)


def test_a_reprocessed_unit_supersedes_its_old_product_which_the_api_hides_but_keeps_reachable(
    scenario: RunScenario, tmp_path: Path, api: str
) -> None:
    old = scenario.products()
    env = reprocessed(scenario, tmp_path, "1.1.0")
    new = sorted(set(scenario.products()) - set(old))
    assert len(old) == len(new) == 2
    for old_id in old:
        stale = item(scenario, WATER, old_id)
        assert stale["properties"]["deprecated"] is True and VERSION_EXTENSION in stale["stac_extensions"]
        successor = link(stale, "successor-version")
        assert successor is not None and successor.startswith(f"collections/{WATER}/items/")
        current = item(scenario, WATER, successor.rsplit("/", 1)[1])
        assert current["properties"]["processing:version"] == "1.1.0" and "deprecated" not in current["properties"]
        assert link(current, "predecessor-version") == f"collections/{WATER}/items/{old_id}"
    with scenario.production.catalog.database().connect() as conn:
        rows = conn.execute("SELECT id, superseded FROM hesp.inventory WHERE collection = %s", (WATER,)).fetchall()
    assert {r["id"]: r["superseded"] for r in rows} == {**{i: True for i in old}, **{i: False for i in new}}

    # The default view: current versions only, however the search is made.
    assert ids(httpx.get(f"{api}/search", params={"collections": WATER})) == set(new)
    assert ids(httpx.post(f"{api}/search", json={"collections": [WATER]})) == set(new)
    assert ids(httpx.get(f"{api}/collections/{WATER}/items")) == set(new)
    text_filter = {"collections": [WATER], "filter": "\"processing:version\" LIKE '1%'", "filter-lang": "cql2-text"}
    assert ids(httpx.post(f"{api}/search", json=text_filter)) == set(new)
    assert ids(
        httpx.get(f"{api}/search", params={"collections": WATER, "filter": "\"processing:version\" LIKE '1%'"})
    ) == set(new)
    assert ids(
        httpx.post(f"{api}/search", json={"collections": [WATER], "query": {"platform": {"eq": "sentinel-2a"}}})
    ) == set(new)
    # Old versions: by id (lineage), or asked for by name.
    assert ids(httpx.get(f"{api}/search", params={"ids": ",".join(old)})) == set(old)
    assert httpx.get(f"{api}/collections/{WATER}/items/{old[0]}").json()["properties"]["deprecated"] is True
    asked = {"collections": [WATER], "filter": {"op": "=", "args": [{"property": "deprecated"}, True]}}
    assert ids(httpx.post(f"{api}/search", json=asked)) == set(old)
    assert ids(httpx.get(f"{api}/search", params={"collections": WATER, "filter": "deprecated = true"})) == set(old)

    summary = scenario.production.gap_summary(GapFilter(collections=[WATER], chain_version="1.1.0"))
    assert {r["state"]: r["units"] for r in summary} == {"done": 2}

    # Withdrawing the newer version makes the older one current again; restoring it supersedes the older again.
    superseded, newer = old[0], link(item(scenario, WATER, old[0]), "successor-version").rsplit("/", 1)[1]
    before = item(scenario, WATER, superseded), item(scenario, WATER, newer)
    assert hesp("withdraw", newer, "--reason", "bad version", env=env).returncode == 0
    reinstated = item(scenario, WATER, superseded)
    assert "deprecated" not in reinstated["properties"] and link(reinstated, "successor-version") is None
    assert VERSION_EXTENSION not in reinstated["stac_extensions"]
    assert ids(httpx.get(f"{api}/collections/{WATER}/items")) == {superseded, *new} - {newer}
    summary = scenario.production.gap_summary(GapFilter(collections=[WATER], chain_version="1.1.0"))
    assert {r["state"]: r["units"] for r in summary} == {"done": 1, "blocked": 1}
    assert hesp("restore", newer, env=env).returncode == 0
    assert (item(scenario, WATER, superseded), item(scenario, WATER, newer)) == before
    assert ids(httpx.get(f"{api}/collections/{WATER}/items")) == set(new)


def test_prune_deletes_superseded_products_but_keeps_those_a_current_product_derives_from(
    scenario: RunScenario, tmp_path: Path, api: str
) -> None:
    old = scenario.products()
    old_files = [Path(internal_href(item(scenario, WATER, i)["assets"]["WATER"])).parent for i in old]
    env = reprocessed(scenario, tmp_path, "1.1.0")
    new = sorted(set(scenario.products()) - set(old))
    # A newer version of the first L2A ingested (hesp ingest, the other write path): the old one is superseded,
    # but the current water map of that unit derives from it.
    lineage = [link for link in item(scenario, WATER, new[0])["links"] if link["rel"] == "derived_from"]
    old_l2a = lineage[0]["href"].rsplit("/", 1)[1]
    with scenario.production.catalog.database().connect() as conn:
        when = conn.execute("SELECT acquired FROM hesp.inventory WHERE id = %s", (old_l2a,)).fetchone()["acquired"]
    newer = write_muscate_l2a(tmp_path / "l2a-newer", tile="31TCJ", when=when, version="4-11")
    assert scenario.production.catalog.ingest([newer]).ok
    assert item(scenario, "maja-l2a", old_l2a)["properties"]["deprecated"] is True

    dry = hesp("prune", "--superseded", "--older-than", "0", "--dry-run", "--format", "json", env=env)
    assert dry.returncode == 0, dry.stderr
    listed = json.loads(dry.stdout)
    assert {p["id"] for p in listed["deleted"]} == set(old) and all(p["bytes"] > 0 for p in listed["deleted"])
    assert listed["kept"] == [{"collection": "maja-l2a", "id": old_l2a, "needed_by": f"{WATER} {new[0]}"}]
    assert all(folder.exists() for folder in old_files)
    recent = hesp("prune", "--superseded", "--older-than", "1", "--format", "json", env=env)
    assert json.loads(recent.stdout)["deleted"] == []  # superseded minutes ago

    pruned = hesp("prune", "--superseded", "--older-than", "0", env=env)
    assert pruned.returncode == 0, pruned.stderr
    assert "deleted 2 superseded products" in pruned.stdout and old_l2a in pruned.stdout
    assert not any(folder.exists() for folder in old_files)
    assert all(Path(internal_href(item(scenario, WATER, i)["assets"]["WATER"])).exists() for i in new)
    assert httpx.get(f"{api}/collections/{WATER}/items/{old[0]}").status_code == 404
    assert set(scenario.products()) == set(new)
    assert item(scenario, "maja-l2a", old_l2a)  # kept: the lineage of a current product
    assert hesp("prune", "--older-than", "0", env=env).returncode != 0  # nothing said to prune


def test_withdraw_then_restore_round_trips_and_gaps_do_not_remake_a_withdrawn_product(
    scenario: RunScenario, api: str
) -> None:
    product = scenario.products()[0]
    before = item(scenario, WATER, product)
    files = Path(internal_href(before["assets"]["WATER"]))
    with scenario.production.catalog.database().connect() as conn:
        digest = conn.execute("SELECT private FROM pgstac.items WHERE id = %s", (product,)).fetchone()["private"]

    out = hesp("withdraw", product, "--reason", "wrong water mask", "--by", "qa-team", env=scenario.env)
    assert out.returncode == 0, out.stderr
    assert httpx.get(f"{api}/collections/{WATER}/items/{product}").status_code == 404
    assert product not in ids(httpx.get(f"{api}/search", params={"ids": product}))
    assert product not in ids(
        httpx.post(f"{api}/search", json={"filter": {"op": "=", "args": [{"property": "deprecated"}, False]}})
    )
    assert files.exists()
    again = hesp("withdraw", product, "--reason", "twice", env=scenario.env)
    assert again.returncode == 1 and again.stderr.strip() == f"error: {WATER} {product} is already withdrawn"
    unknown = hesp("restore", "NOPE", env=scenario.env)
    assert unknown.stderr.strip() == "error: unknown item NOPE"

    # The unit is not made again over the kept files: gaps say why, and a run makes nothing.
    units = list(scenario.production.gaps(GapFilter(collections=[WATER])))
    assert [(u["state"], product in (u["reason"] or "")) for u in units] == [("blocked", True)]
    runs = len(scenario.runs())
    run(scenario.env)
    assert len(scenario.runs()) == runs
    ingested = hesp("ingest", str(files.parent), env=scenario.env)  # nor ingested again from its kept files
    assert ingested.returncode == 0 and "ingested 0, updated 0, unchanged 1" in ingested.stdout, ingested.stdout
    assert httpx.get(f"{api}/collections/{WATER}/items/{product}").status_code == 404

    back = hesp("restore", product, "--by", "qa-team", "--reason", "mask checked", env=scenario.env)
    assert back.returncode == 0, back.stderr
    assert item(scenario, WATER, product) == before
    assert httpx.get(f"{api}/collections/{WATER}/items/{product}").json()["id"] == product
    with scenario.production.catalog.database().connect() as conn:
        assert (
            conn.execute("SELECT private FROM pgstac.items WHERE id = %s", (product,)).fetchone()["private"] == digest
        )
    not_withdrawn = hesp("restore", product, env=scenario.env)
    assert not_withdrawn.stderr.strip() == f"error: {WATER} {product} is not withdrawn"

    history = json.loads(hesp("withdrawals", product, "--format", "json", env=scenario.env).stdout)["events"]
    assert [(e["action"], e["by"], e["reason"]) for e in history] == [
        ("withdraw", "qa-team", "wrong water mask"),
        ("restore", "qa-team", "mask checked"),
    ]
    summary = scenario.production.gap_summary(GapFilter(collections=[WATER]))
    assert {r["state"]: r["units"] for r in summary} == {"done": 2}
