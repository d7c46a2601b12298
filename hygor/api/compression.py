"""Compressed answers at the cheapest levels of brotli and gzip.

stac-fastapi compresses with brotli quality 4, or gzip level 9 for clients that ask only gzip. On a page of 50
MAJA L2A items (1.3 MB of JSON) those cost 12 and 17 ms of processor time, a third of what producing the page
costs; quality 1 and level 1 (nginx's default) cost 4.5 and 5 ms for answers 30 % larger (101 and 130 KB against
78 and 91 KB), which the network carries in less time than the difference.
"""

from __future__ import annotations

from brotli_asgi import BrotliMiddleware, BrotliResponder, Mode
from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipResponder
from starlette.types import ASGIApp, Receive, Scope, Send

BROTLI_QUALITY = 1
BROTLI_WINDOW = 22  # log2 of the window: brotli_asgi's
GZIP_LEVEL = 1
MINIMUM_SIZE = 400  # bytes: smaller answers go as they are (stac-fastapi's threshold)


class Compression:
    """ASGI middleware: brotli for clients that accept it, else gzip for those that accept that, else as is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        accepted = Headers(scope=scope).get("accept-encoding", "") if scope["type"] == "http" else ""
        responder: ASGIApp = self.app
        if "br" in accepted:
            responder = BrotliResponder(self.app, BROTLI_QUALITY, Mode.text, BROTLI_WINDOW, 0, MINIMUM_SIZE)
        elif "gzip" in accepted:
            responder = GZipResponder(self.app, MINIMUM_SIZE, compresslevel=GZIP_LEVEL)
        await responder(scope, receive, send)


def compress_around(app: FastAPI, inside: Middleware) -> None:
    """Put ``Compression`` where stac-fastapi put its ``BrotliMiddleware``, and ``inside`` just inside it, so that
    it sees the JSON as the API wrote it. /storage is served in front of all this (``hydra.web``) and so never
    compressed."""
    position = next(i for i, m in enumerate(app.user_middleware) if m.cls is BrotliMiddleware)  # type: ignore[comparison-overlap]
    app.user_middleware[position : position + 1] = [Middleware(Compression), inside]
