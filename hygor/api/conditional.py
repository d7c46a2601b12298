"""Conditional GETs on collections and items: a weak ETag from the body's hash, ``Last-Modified`` from an item's
``updated``, and 304 Not Modified when the client already has that version.

Portals poll the same collections and item pages; a 304 spares them the body (the server still builds it: the
hash is of what it would send, which is always right, however the item changed).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import orjson
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SCOPE = "/collections"
# Headers a 304 repeats from the 200 it stands for (RFC 9110, 15.4.5).
KEPT_ON_304 = (b"etag", b"last-modified", b"cache-control", b"vary", b"content-location", b"expires")


def weak_etag(body: bytes) -> str:
    return f'W/"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def item_updated(body: bytes) -> datetime | None:
    """When a single item says it was last updated (``properties.updated``), to the second."""
    try:
        document: Any = orjson.loads(body)
        updated = datetime.fromisoformat(document["properties"]["updated"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    if document.get("type") != "Feature":
        return None
    return (updated if updated.tzinfo else updated.replace(tzinfo=UTC)).replace(microsecond=0)


def is_item(path: str) -> bool:
    """Whether ``path`` names one item: ``/collections/{c}/items/{id}``."""
    parts = path.strip("/").split("/")
    return len(parts) == 4 and parts[2] == "items"


def matches(if_none_match: str, etag: str) -> bool:
    """The weak comparison ``If-None-Match`` asks for (RFC 9110, 13.1.2)."""
    wanted = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in wanted or etag.removeprefix("W/") in wanted


def not_modified_since(if_modified_since: str, modified: datetime | None) -> bool:
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    return modified is not None and since.tzinfo is not None and modified <= since


async def whole_answer(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> tuple[Message, bytes] | None:
    """``app``'s 200 to ``scope``, whole: its start message and body, for the caller to send; any other answer
    (errors, redirects) goes to ``send`` as it is, and None."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def buffered(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif start is not None and start["status"] == 200:
            chunks.append(message.get("body", b""))
            return
        if start is not None and start["status"] != 200:
            await send(message)

    await app(scope, receive, buffered)
    if start is None or start["status"] != 200:
        return None
    return start, b"".join(chunks)


async def not_modified(headers: list[tuple[bytes, bytes]], send: Send) -> None:
    """304 Not Modified, with the headers it repeats from the 200 it stands for (``headers``)."""
    kept = [(k, v) for k, v in headers if k.lower() in KEPT_ON_304]
    await send({"type": "http.response.start", "status": 304, "headers": kept})
    await send({"type": "http.response.body", "body": b""})


class ConditionalGets:
    """ASGI middleware: ETag (and Last-Modified for an item) on successful GETs under ``/collections``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not scope["path"].startswith(SCOPE):
            await self.app(scope, receive, send)
            return
        answered = await whole_answer(self.app, scope, receive, send)
        if answered is not None:
            start, body = answered
            await self._answer(Headers(scope=scope), start, body, send, is_item(scope["path"]))

    @staticmethod
    async def _answer(request: Headers, start: Message, body: bytes, send: Send, one_item: bool) -> None:
        headers = MutableHeaders(raw=list(start["headers"]))
        etag = weak_etag(body)
        headers["etag"] = etag
        modified = item_updated(body) if one_item else None  # a list or a page is not parsed for nothing
        if modified is not None:
            headers["last-modified"] = format_datetime(modified, usegmt=True)
        if_none_match = request.get("if-none-match")
        fresh = (
            matches(if_none_match, etag)
            if if_none_match is not None
            else not_modified_since(request.get("if-modified-since", ""), modified)
        )
        if fresh:
            await not_modified(headers.raw, send)
            return
        await send({**start, "headers": headers.raw})
        await send({"type": "http.response.body", "body": body})
