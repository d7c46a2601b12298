"""Item pages for browsers: the STAC API answers HTML to a browser (and JSON to every STAC client), showing the
products' thumbnails served from the storage root by the same server. Products are the reference chains'
outputs, annotated for publication, stored, and registered with public hrefs ``<server>/storage/<key>``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser import Watch, chromium, needs_chromium
from conftest import free_port
from playwright.sync_api import Browser, expect
from products import write_muscate_l2a

from hydra.web import create_app
from hygor import Catalog, grid
from hygor.api.html import wants_html
from hygor.api.server import BackgroundServer
from hygor.db import Database
from hygor.loader import ItemLoader
from hygor.readers import reader
from hymotep import storage
from hymotep.publication import annotate_outputs
from hymotep.settings import ProductionSettings
from reference_chains import surfwater

TILE = grid.tile("31TCJ")
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
HOSTILE = "<script>document.title='owned'</script><img src=x onerror=alert(1)>"


@dataclass(frozen=True)
class Site:
    url: str
    items: dict[str, dict[str, Any]]  # by collection


def publish(output_dir: Path, kind: str, product: Path, root: Path, base: str) -> dict[str, Any]:
    """The product's item as production registers it: annotated, stored under ``root``, with public hrefs."""
    (item,) = annotate_outputs(output_dir, reader(kind).read(product))
    acquired = datetime.fromisoformat(item["properties"]["datetime"])
    key = storage.product_key(item["collection"], TILE.id, acquired, item["id"])
    (stored,) = storage.PosixStorage(root, f"{base}/storage").store(output_dir, key, [item]).items
    return stored


@pytest.fixture
def site(db_url: str, tmp_path: Path) -> Iterator[Site]:
    """A MAJA L2A and the Surfwater product the reference chain makes of it, published on a served storage root;
    and a hostile copy of the L2A (markup in its properties and links, a javascript: href)."""
    root, port = tmp_path / "storage", free_port()
    base = f"http://127.0.0.1:{port}"
    l2a = write_muscate_l2a(tmp_path / "maja", tile=TILE.id)
    assert surfwater.main(["--input", str(l2a), "--output", str(tmp_path / "surfwater")]) == 0
    water = next((tmp_path / "surfwater").iterdir())
    items = {
        "surfwater-water": publish(tmp_path / "surfwater", "surfwater", water, root, base),
        "maja-l2a": publish(tmp_path / "maja", "theia-muscate", l2a, root, base),
    }
    hostile = dict(items["maja-l2a"], id="hostile-item", properties={**items["maja-l2a"]["properties"], "x": HOSTILE})
    hostile["assets"] = {**hostile["assets"], "evil": {"href": "javascript:alert(1)", "title": HOSTILE}}
    hostile["links"] = [{"rel": "derived_from", "href": "javascript:alert(2)", "title": HOSTILE}]
    with ItemLoader(Database(db_url)) as loader:
        loader.load([*items.values(), hostile])
    app = create_app(Catalog(ProductionSettings(database_url=db_url, storage=root)))
    with BackgroundServer(app, port=port) as url:
        yield Site(url, items)


def test_browsers_get_html_and_stac_clients_json(site: Site) -> None:
    l2a = site.items["maja-l2a"]
    page_path = f"/collections/maja-l2a/items/{l2a['id']}"
    with httpx.Client(base_url=site.url, timeout=30) as api:
        for accept in (None, "application/json", "application/geo+json", "*/*", "text/html;q=0.5,application/json"):
            answer = api.get(page_path, headers={"Accept": accept} if accept else {})
            assert answer.headers["content-type"].startswith("application/"), accept
            assert answer.json()["id"] == l2a["id"] and "accept" in answer.headers["vary"].lower()
        assert api.get(page_path, headers={"Accept": BROWSER_ACCEPT}, params={"f": "json"}).json()["id"] == l2a["id"]

        for path in (page_path, "/collections/maja-l2a/items", "/search?collections=maja-l2a"):
            for headers, params in (({"Accept": BROWSER_ACCEPT}, {}), ({}, {"f": "html"})):
                page = api.get(path, headers=headers, params=params)
                assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), path
                assert "default-src 'none'" in page.headers["content-security-policy"]
                assert f'src="{l2a["assets"]["thumbnail"]["href"]}"' in page.text, path
        item_page = api.get(page_path, params={"f": "html"}).text
        for shown in ("eo:cloud_cover", "FRE_B4", f'href="{l2a["assets"]["MTD_ALL"]["href"]}"', " kB</td>"):
            assert shown in item_page, shown
        water = site.items["surfwater-water"]
        water_page = api.get(f"/collections/surfwater-water/items/{water['id']}", params={"f": "html"}).text
        assert f'derived_from</th><td><a href="{site.url}/' in water_page and f"input {l2a['id']}</a>" in water_page

        hostile = api.get("/collections/maja-l2a/items/hostile-item", params={"f": "html"}).text
        assert "<script>" not in hostile and "<img src=x" not in hostile and 'href="javascript:' not in hostile
        assert "&lt;script&gt;" in hostile
        missing = api.get("/collections/maja-l2a/items/nothing-here", params={"f": "html"})
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("accept", "query", "html"),
    [
        (BROWSER_ACCEPT, b"", True),
        ("text/html", b"", True),
        ("application/json, text/html;q=0.9", b"", False),
        ("*/*", b"", False),
        ("", b"", False),
        ("text/html;q=0", b"", False),
        ("application/json", b"f=html", True),
        (BROWSER_ACCEPT, b"f=json", False),
    ],
)
def test_html_is_chosen_by_accept_or_by_f(accept: str, query: bytes, html: bool) -> None:
    scope = {"type": "http", "headers": [(b"accept", accept.encode())], "query_string": query}
    assert wants_html(scope) is html


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@needs_chromium
def test_a_browser_shows_the_thumbnails_served_from_the_storage(site: Site, browser: Browser) -> None:
    watch = Watch()
    page = browser.new_page()
    watch.attach(page)
    for collection, item in site.items.items():
        page.goto(f"{site.url}/collections/{collection}/items/{item['id']}")
        image = page.locator("img.thumbnail")
        expect(image).to_have_attribute("src", item["assets"]["thumbnail"]["href"])
        image.evaluate("(img) => img.decode()")
        assert image.evaluate("(img) => img.complete && img.naturalWidth") > 0
        expect(page.locator("h1")).to_contain_text(item["id"])
        data = item["assets"]["FRE_B4" if collection == "maja-l2a" else "WATER"]["href"]
        expect(page.locator(f'a[href="{data}"]')).to_have_count(1)  # the assets, as links to the storage

    page.goto(f"{site.url}/search?collections=maja-l2a,surfwater-water")
    images = page.locator("ul.items img.thumbnail")
    expect(images).to_have_count(3)  # the hostile item shows the L2A's thumbnail
    widths = images.evaluate_all("(all) => Promise.all(all.map((i) => i.decode().then(() => i.naturalWidth)))")
    assert all(width > 0 for width in widths)
    page.locator("ul.items a", has_text=site.items["surfwater-water"]["id"]).click()
    expect(page.locator("h1")).to_contain_text(site.items["surfwater-water"]["id"])

    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{site.url}/collections/maja-l2a/items/hostile-item")
    expect(page.locator("table").first).to_contain_text(HOSTILE)  # shown as text
    assert dialogs == [] and page.title() != "owned"
    watch.assert_clean()
