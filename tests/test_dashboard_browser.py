"""The dashboard page in a real browser: Debian's Chromium driven by Playwright, over the real application
(``hydra.web.create_app``) and a real database filled with known states (dashboard_scenario.py).

What a user sees is checked from what the browser draws: the colour of each tile is read from a screenshot at
the tile's centre, the tile panel is opened by a real mouse click. The page must load nothing from anywhere but
the server (every other request is aborted and recorded) and log no error or warning.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from browser import Watch, chromium, needs_chromium
from dashboard_scenario import API_TOKEN, COLOURS, LOG_TAIL, NO_UNIT, Scenario, build
from PIL import Image
from playwright.sync_api import Browser, Page, ViewportSize, expect

from hydra.web import create_app
from hygor.api.server import BackgroundServer
from hymotep.work_units import STATES, GapFilter

REPO = Path(__file__).resolve().parents[1]
DOCS_SCREENSHOT = REPO / "docs" / "dashboard.png"
VIEWPORT: ViewportSize = {"width": 1400, "height": 900}
COLOUR_TOLERANCE = 4  # per channel, out of 255

pytestmark = needs_chromium

# Every tile's centre on the screen, in CSS pixels of the page.
TILE_CENTRES_JS = """
(tiles) => {
    const box = hesp.map.getContainer().getBoundingClientRect();
    const centres = {};
    hesp.tilesLayer.eachLayer((layer) => {
        if (!tiles.includes(layer.feature.id)) return;
        const point = hesp.map.latLngToContainerPoint(layer.getCenter());
        centres[layer.feature.id] = [box.left + point.x, box.top + point.y];
    });
    return centres;
}
"""
NEXT_FRAMES_JS = "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"


@pytest.fixture
def dashboard(db_url: str, tmp_path: Path) -> Iterator[tuple[str, Scenario]]:
    """The application over the dashboard scenario, served on a loopback port: (base URL, scenario)."""
    scenario = build(db_url, tmp_path)
    with BackgroundServer(create_app(scenario.catalog)) as url:
        yield url, scenario


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


def open_dashboard(browser: Browser, url: str, watch: Watch) -> Page:
    page = browser.new_page(viewport=VIEWPORT)
    watch.attach(page)
    page.goto(url)
    page.evaluate("() => hesp.ready")
    return page


def pixel_colours(page: Page, tiles: list[str], screenshot: Path) -> dict[str, tuple[int, int, int]]:
    """The colour drawn at the centre of each of ``tiles``, read from a screenshot (saved to ``screenshot``)."""
    page.evaluate(NEXT_FRAMES_JS)
    centres = page.evaluate(TILE_CENTRES_JS, tiles)
    assert sorted(centres) == sorted(tiles), "tiles missing from the map"
    png = page.screenshot()
    screenshot.write_bytes(png)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return {tile: image.getpixel((round(x), round(y))) for tile, (x, y) in centres.items()}


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return (int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16))


def assert_colours(seen: dict[str, tuple[int, int, int]], expected: dict[str, str]) -> None:
    wrong = {
        tile: (colour, seen[tile])
        for tile, colour in expected.items()
        if any(abs(a - b) > COLOUR_TOLERANCE for a, b in zip(rgb(colour), seen[tile], strict=True))
    }
    assert wrong == {}, f"tile: (expected, drawn): {wrong}"


def tile_centre(page: Page, tile: str) -> tuple[float, float]:
    x, y = page.evaluate(TILE_CENTRES_JS, [tile])[tile]
    return x, y


def legend_counts(page: Page) -> dict[str, int]:
    rows = page.locator("#legend li").evaluate_all(
        "(rows) => rows.map((row) => [row.dataset.class, row.querySelector('.count').textContent])"
    )
    return {key: int(count.split()[0]) for key, count in rows}


def units(scenario: Scenario) -> dict[str, dict[str, Any]]:
    """maja-l2a units per tile and state, as the production API counts them."""
    wanted = GapFilter(collections=["maja-l2a"], states=STATES)
    per_tile: dict[str, dict[str, Any]] = {}
    for row in scenario.production.gap_summary(wanted, by_tile=True):
        per_tile.setdefault(row["tile"], {})[row["state"]] = row["units"]
    return per_tile


def test_the_map_shows_completeness_and_the_panel_the_products(
    dashboard: tuple[str, Scenario], browser: Browser, tmp_path: Path
) -> None:
    base, scenario = dashboard
    per_tile = units(scenario)
    finished = {tile: (s.get("done", 0) + s.get("invalid", 0), sum(s.values())) for tile, s in per_tile.items()}
    assert finished == {"31TCJ": (4, 9), "31TDJ": (2, 11), "31TCH": (6, 6), "31TEH": (4, 6), "31TDH": (0, 6)}
    watch = Watch()
    page = open_dashboard(browser, f"{base}/dashboard?collection=maja-l2a", watch)

    # (3) The colour at each tile's centre is its class colour; the legend counts the tiles of each class.
    assert_colours(pixel_colours(page, list(COLOURS), tmp_path / "dashboard-map.png"), COLOURS)
    assert legend_counts(page) == {"complete": 1, "most": 1, "started": 2, "none": 1, "no-unit": 1}

    # A tooltip on hover, then a real click on 31TCJ: its products, linked into the STAC API, and its gaps.
    x, y = tile_centre(page, "31TCJ")
    page.mouse.move(x, y)
    expect(page.locator(".leaflet-tooltip")).to_contain_text("31TCJ")
    expect(page.locator(".leaflet-tooltip")).to_contain_text("44 %")
    page.mouse.click(x, y)
    panel = page.locator("#tile-panel")
    expect(panel.locator("h2")).to_contain_text("Tile 31TCJ")
    expect(panel).to_contain_text("3 done + 1 invalid of 9 units")
    expect(panel.locator('[data-state="failed"]')).to_have_text("failed: 1")
    links = panel.locator("a")
    expect(links).to_have_count(5)
    products = links.evaluate_all("(links) => links.map((a) => [a.textContent, a.getAttribute('href')])")
    days = ["20230207", "20230118", "20230113", "20230108", "20230103"]  # newest first
    assert [product_id for product_id, _ in products] == [f"maja-l2a_31TCJ_{day}T105800" for day in days]
    for product_id, href in products:
        assert href == f"/collections/maja-l2a/items/{product_id}"
    item = httpx.get(base + products[0][1], timeout=30).json()
    assert (item["type"], item["id"], item["collection"]) == ("Feature", products[0][0], "maja-l2a")
    expect(panel.locator("table.gaps tbody tr")).to_have_count(5)  # outdated, queued, failed, blocked, runnable

    # (5) The progress of request `scenario`, the jobs and the failure with its log tail.
    progress = page.locator('#progress [data-request="scenario"] [data-collection="maja-l2a"]')
    expect(progress).to_contain_text("5 + 1 invalid / 20 units · 30 %")
    expect(page.locator('#progress [data-request="dashboard"] [data-collection="maja-l2a"]')).to_contain_text(
        "10 / 18 units · 55 %"
    )
    jobs = page.locator('#jobs tr[data-collection="maja-l2a"] td')
    assert jobs.all_inner_texts() == ["maja-l2a", "1", "0", "0", "0", "1"]  # queued ... failed
    failure = page.locator(f'#failures [data-job="{scenario.failed_job}"]')
    expect(failure).to_contain_text("exit code 66")
    expect(failure).to_contain_text(f"maja-l2a · 31TCJ · job {scenario.failed_job} · failed")
    expect(failure).to_contain_text("log tail hidden")  # log tails need the API token (HESP_DASHBOARD=token)
    page.once("dialog", lambda dialog: dialog.accept(API_TOKEN))
    failure.locator("button.token").click()
    failure = page.locator(f'#failures [data-job="{scenario.failed_job}"]')
    failure.locator("summary").click()
    expect(failure.locator("pre")).to_be_visible()
    expect(failure.locator("pre")).to_contain_text(LOG_TAIL)

    page.locator("#side").evaluate("(side) => side.scrollTo(0, 0)")  # the legend and the tile, for the README
    page.screenshot(path=tmp_path / "dashboard.png", full_page=True)
    if not DOCS_SCREENSHOT.exists():  # the README's picture: delete it to take it again
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=DOCS_SCREENSHOT, full_page=True)

    # (1) and (2): no error or warning, nothing requested off the loopback.
    watch.assert_clean()


def test_the_view_follows_the_request_and_the_link_reproduces_it(
    dashboard: tuple[str, Scenario], browser: Browser, tmp_path: Path
) -> None:
    base, _ = dashboard
    watch = Watch()
    page = open_dashboard(browser, f"{base}/dashboard?collection=sentinel-2-l1c", watch)
    # Not a produced collection: said, and the default view instead, the first produced collection with units
    # (lis-snow, asked by `scenario`) and all requests.
    expect(page.locator("#message")).to_contain_text('no collection "sentinel-2-l1c"')
    assert parse_qs(urlsplit(page.url).query) == {"collection": ["lis-snow"]}
    expect(page.locator("#request")).to_have_value("")

    page.select_option("#collection", "maja-l2a")
    page.select_option("#request", "dashboard")
    expect(page.locator('#legend [data-class="no-unit"] .count')).to_have_text("3 tiles")  # 31TCJ, 31TDJ, 31TEJ
    expect(page.locator("#message")).to_be_hidden()
    only_dashboard = {**COLOURS, "31TCJ": NO_UNIT, "31TDJ": NO_UNIT}
    assert_colours(pixel_colours(page, list(COLOURS), tmp_path / "request.png"), only_dashboard)
    assert parse_qs(urlsplit(page.url).query) == {"collection": ["maja-l2a"], "request": ["dashboard"]}

    again = open_dashboard(browser, page.url, watch)
    expect(again.locator("#collection")).to_have_value("maja-l2a")
    expect(again.locator("#request")).to_have_value("dashboard")
    assert_colours(pixel_colours(again, list(COLOURS), tmp_path / "link.png"), only_dashboard)
    watch.assert_clean()
