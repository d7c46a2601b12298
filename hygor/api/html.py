"""HTML pages of items for browsers: ``/collections/{id}/items/{id}``, ``/collections/{id}/items`` and
``/search`` answer a small page (thumbnail, main properties, assets, links) to a GET that asks for HTML (an
``Accept`` preferring ``text/html``, as browsers send, or ``?f=html``); every other request gets the JSON as
before (``?f=json`` forces it).

The page is made from the API's own JSON answer to the same request (asked again inside the server with
``Accept: application/json``), so that it shows exactly what a STAC client would get. Items are outside input:
every value is escaped, only http(s) hrefs become links or images, and the page loads nothing but its images
(no script; its one stylesheet inline, allowed by its hash in the Content-Security-Policy).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGES = re.compile(r"^/(?:collections/[^/]+/items(?:/[^/]+)?|search)/?$")
JSON_TYPES = ("application/json", "application/geo+json")
# Left out of the JSON request a page is made from: the page is always rendered whole, uncompressed.
JSON_ONLY_HEADERS = (b"accept", b"accept-encoding", b"if-none-match", b"if-modified-since")
MAIN_PROPERTIES = ("datetime", "platform", "grid:code", "eo:cloud_cover", "eo:snow_cover", "processing:version",
                   "hesp:valid")  # fmt: skip
MAX_VALUE_CHARS = 300
STYLE = (
    "body{font-family:sans-serif;margin:1.5em;max-width:72em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.2em .5em;"
    "text-align:left;vertical-align:top}th{background:#f3f3f3}code{word-break:break-all}"
    ".thumbnail{max-width:256px;max-height:256px;background:#eee}"
    ".items{display:flex;flex-wrap:wrap;gap:1em;list-style:none;padding:0}"
    ".items li{width:256px;border:1px solid #ccc;padding:.5em}nav a{margin-right:1em}"
)
CSP = (
    "default-src 'none'; img-src 'self' data: http: https:; "
    f"style-src 'sha256-{base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()}'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def wants_html(scope: Scope) -> bool:
    """``?f=html``, or no ``f`` and an Accept that ranks text/html at least as high as JSON."""
    chosen = dict(parse_qsl(bytes(scope.get("query_string", b"")).decode("latin-1"))).get("f")
    if chosen is not None:
        return chosen.lower() == "html"
    weights: dict[str, float] = {}
    for entry in Headers(scope=scope).get("accept", "").split(","):
        media, *parameters = (part.strip() for part in entry.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[media.lower()] = max(weight, weights.get(media.lower(), 0.0))
    wanted = weights.get("text/html", 0.0)
    return wanted > 0 and wanted >= max(weights.get(media, 0.0) for media in JSON_TYPES)


class HtmlPages:
    """ASGI middleware: HTML for browsers on the item pages; JSON (marked ``Vary: Accept``) for the others."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or not PAGES.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        if not wants_html(scope):
            await self.app(scope, receive, _varying(send))
            return
        status, body = await _json_answer(self.app, scope, receive)
        try:
            document = json.loads(body)
        except ValueError:
            document = {"description": "the catalogue's answer is not JSON"}
        as_json = f"{scope['path']}?{urlencode([*_query_without_f(scope), ('f', 'json')])}"
        page = render(document if isinstance(document, dict) else {}, status, as_json)
        headers = {"Content-Security-Policy": CSP, "Vary": "Accept", "X-Content-Type-Options": "nosniff"}
        await HTMLResponse(page, status_code=status, headers=headers)(scope, receive, send)


def _query_without_f(scope: Scope) -> list[tuple[str, str]]:
    return [(k, v) for k, v in parse_qsl(bytes(scope.get("query_string", b"")).decode("latin-1"), True) if k != "f"]


def _varying(send: Send) -> Send:
    async def varying(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message).add_vary_header("Accept")
        await send(message)

    return varying


async def _json_answer(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[int, bytes]:
    """The status and body the API answers ``scope`` as a JSON client asks it (no ``f``, no compression, not
    conditional)."""
    headers = [(k, v) for k, v in scope["headers"] if k not in JSON_ONLY_HEADERS]
    inner = {**scope, "method": "GET", "query_string": urlencode(_query_without_f(scope)).encode(),
             "headers": [*headers, (b"accept", b"application/json")]}  # fmt: skip
    answer: dict[str, Any] = {"status": 500, "body": []}

    async def collect(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"].append(message.get("body", b""))

    await app(inner, receive, collect)
    return answer["status"], b"".join(answer["body"])


def render(document: dict[str, Any], status: int, as_json: str) -> str:
    """The page of an item, of a page of items, or of an error."""
    if status >= 400 or document.get("type") not in ("Feature", "FeatureCollection"):
        title = f"Error {status}"
        body = f"<p>{_text(document.get('description') or document.get('detail') or 'unexpected answer')}</p>"
    elif document["type"] == "Feature":
        title = f"{document.get('collection', '')} / {document.get('id', '')}"
        body = _item(document)
    else:
        title = "Items"
        body = _items(document)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        f"<title>{_text(title)} — Hespérides</title><style>{STYLE}</style></head><body>"
        f'<h1>{_text(title)}</h1><nav><a href="/">Catalogue</a><a href="{_text(as_json)}">JSON</a></nav>'
        f"{body}</body></html>\n"
    )


def _item(item: dict[str, Any]) -> str:
    properties = item.get("properties") or {}
    main = [key for key in MAIN_PROPERTIES if key in properties]
    ordered = main + sorted(key for key in properties if key not in MAIN_PROPERTIES)
    rows = "".join(f"<tr><th>{_text(k)}</th><td>{_text(_value(properties[k]))}</td></tr>" for k in ordered)
    assets = "".join(
        f"<tr><th>{_text(key)}</th><td>{_link(asset.get('href'), asset.get('title') or key)}</td>"
        f"<td>{_text(asset.get('type', ''))}</td><td>{_text(', '.join(map(str, asset.get('roles', []))))}</td>"
        f"<td>{_text(_size(asset.get('file:size')))}</td></tr>"
        for key, asset in _assets(item).items()
    )
    links = "".join(
        f"<tr><th>{_text(link.get('rel', ''))}</th><td>{_link(link.get('href'), link.get('title') or link.get('href'))}"
        "</td></tr>"
        for link in item.get("links") or []
        if isinstance(link, dict)
    )
    return (
        f"{_thumbnail(item)}<h2>Properties</h2><table>{rows}</table>"
        f"<h2>Assets</h2><table><tr><th>key</th><th>file</th><th>type</th><th>roles</th><th>size</th></tr>{assets}"
        f"</table><h2>Links</h2><table>{links}</table>"
    )


def _items(collection: dict[str, Any]) -> str:
    features = [f for f in collection.get("features") or [] if isinstance(f, dict)]
    cards = ""
    for feature in features:
        properties = feature.get("properties") or {}
        self_link = next((link.get("href") for link in _links(feature) if link.get("rel") == "self"), None)
        facts = ", ".join(f"{k} {_value(properties[k])}" for k in MAIN_PROPERTIES if k in properties)
        cards += f"<li>{_thumbnail(feature)}<p>{_link(self_link, feature.get('id', ''))}</p><p>{_text(facts)}</p></li>"
    matched = collection.get("numberMatched")
    count = f"{len(features)} items" + (f" of {matched}" if isinstance(matched, int) else "")
    paging = "".join(
        f'<a rel="{_text(link["rel"])}" href="{_text(link["href"])}">{_text(link["rel"])}</a>'
        for link in _links(collection)
        if link.get("rel") in ("prev", "previous", "next") and link.get("method", "GET") == "GET" and _http(link)
    )
    return f'<p>{_text(count)}</p><ul class="items">{cards}</ul><nav>{paging}</nav>'


def _thumbnail(item: dict[str, Any]) -> str:
    assets = _assets(item)
    chosen = assets.get("thumbnail") or next((a for a in assets.values() if "thumbnail" in a.get("roles", [])), None)
    if chosen is None or not _http(chosen):
        return '<p class="thumbnail">no picture</p>'
    title = _text(chosen.get("title") or f"thumbnail of {item.get('id', '')}")
    return f'<img class="thumbnail" src="{_text(chosen["href"])}" alt="{title}" title="{title}">'


def _assets(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assets = item.get("assets") if isinstance(item.get("assets"), dict) else {}
    return {str(k): a for k, a in (assets or {}).items() if isinstance(a, dict)}


def _links(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [link for link in document.get("links") or [] if isinstance(link, dict)]


def _http(reference: dict[str, Any]) -> bool:
    return urlsplit(str(reference.get("href", ""))).scheme.lower() in ("http", "https")


def _link(href: Any, label: Any) -> str:
    """A link for an http(s) ``href``; any other (a server path, ``javascript:``) shown as text only."""
    if href is not None and _http({"href": href}):
        return f'<a href="{_text(href)}">{_text(label)}</a>'
    return f"{_text(label)}<br><code>{_text(href)}</code>" if href is not None and label != href else _text(label)


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _size(size: Any) -> str:
    if not isinstance(size, int):
        return ""
    value = float(size)
    for unit in ("bytes", "kB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def _text(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)
