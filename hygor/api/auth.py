"""Bearer-token protection of every write, denying by default.

Any request that may change data (POST, PUT, PATCH, DELETE) needs ``Authorization: Bearer <token>``, except
the read-only POST endpoints of the STAC API (searches). A write route that a future extension adds is
protected without being listed anywhere.
"""

from __future__ import annotations

import json
import secrets

from starlette.types import ASGIApp, Receive, Scope, Send

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READ_ONLY_POSTS = frozenset({"/search"})


class BearerTokenWrites:
    """ASGI middleware: 401 without a bearer token on a write, 403 with a wrong one."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._is_write(scope):
            given = dict(scope["headers"]).get(b"authorization")
            if given is None or not given.startswith(b"Bearer "):
                await _refuse(send, 401, "a bearer token is required to change the catalogue")
                return
            if not secrets.compare_digest(given, self._expected):
                await _refuse(send, 403, "this token may not change the catalogue")
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _is_write(scope: Scope) -> bool:
        path = scope["path"].removeprefix(scope.get("root_path", "")).rstrip("/") or "/"
        return scope["method"] in WRITE_METHODS and not (scope["method"] == "POST" and path in READ_ONLY_POSTS)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"code": "Unauthorized" if status == 401 else "Forbidden", "description": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="hesperides"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
