"""The list of collections that portals poll, answered from memory while pgSTAC's collections do not change.

A plain ``GET /collections`` (no query) is answered here, in front of stac-fastapi's routing and the other
middleware, with the answer the API gave last time to the same request headers (host and forwarding headers:
its links; ``Accept``: JSON or a browser's page; ``Accept-Encoding``; ``Origin``: CORS), for as long as
``pgstac.collections`` is as it was then: one small query a request (the rows' xmin) instead of the framework's
work. A conditional request gets its 304 from the kept answer's ETag.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from hygor.api.caches import TtlCache
from hygor.api.conditional import matches, not_modified, whole_answer
from hygor.api.fast_search import SQL

PATHS = ("/collections", "/collections/")
VARYING = (
    b"host",
    b"accept",
    b"accept-encoding",
    b"origin",
    b"forwarded",
    b"x-forwarded-host",
    b"x-forwarded-proto",
    b"x-forwarded-port",
    b"x-forwarded-prefix",
)
CONDITIONAL = (b"if-none-match", b"if-modified-since")

Answer = tuple[list[tuple[bytes, bytes]], bytes]


class CollectionsCache:
    """ASGI middleware: the plain list of collections from memory, per state of ``pgstac.collections``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._answers: TtlCache[tuple[Any, ...], Answer] = TtlCache(64, 3600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] not in PATHS or scope["query_string"]:
            await self.app(scope, receive, send)
            return
        async with scope["app"].state.readpool.acquire() as conn:
            state = await conn.fetchval(SQL["collections_state"])
        headers = [(k, v) for k, v in scope["headers"] if k not in CONDITIONAL]
        key = (scope["path"], state, *sorted((k, v) for k, v in headers if k in VARYING))
        answer = self._answers.get(key)
        if answer is None:
            answered = await whole_answer(self.app, {**scope, "headers": headers}, receive, send)
            if answered is None:
                return
            answer = (list(answered[0].get("headers", [])), answered[1])
            self._answers.put(key, answer)
        raw, body = answer
        if_none_match = Headers(scope=scope).get("if-none-match")
        etag = Headers(raw=raw).get("etag")
        if if_none_match is not None and etag is not None and matches(if_none_match, etag):
            await not_modified(raw, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        await send({"type": "http.response.body", "body": body})
