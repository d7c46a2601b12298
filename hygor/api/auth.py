"""Bearer-token protection of every write, denying by default.

Any request that may change data (POST, PUT, PATCH, DELETE) needs ``Authorization: Bearer <token>``, except
the read-only POST endpoints of the STAC API (searches). A write route that a future extension adds is
protected without being listed anywhere.
"""

from __future__ import annotations

import secrets

from starlette.types import ASGIApp, Receive, Scope, Send

from hygor.api.limits import refuse

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READ_ONLY_POSTS = frozenset({"/search"})


def bearer_matches(authorizations: list[str], token: str | None) -> bool:
    """Whether exactly one ``Authorization`` value was given and it is ``Bearer <token>`` (never without a token)."""
    if token is None or len(authorizations) != 1:
        return False
    return secrets.compare_digest(authorizations[0].encode(), f"Bearer {token}".encode())


class BearerTokenWrites:
    """ASGI middleware: 401 without a bearer token on a write, 403 with a wrong one."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._is_write(scope):
            given = [value for name, value in scope["headers"] if name == b"authorization"]
            if len(given) > 1:
                await refuse(send, 400, "more than one Authorization header")
                return
            if not given or not given[0].startswith(b"Bearer "):
                await refuse(send, 401, "a bearer token is required to change the catalogue")
                return
            if not secrets.compare_digest(given[0], self._expected):
                await refuse(send, 403, "this token may not change the catalogue")
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _is_write(scope: Scope) -> bool:
        path = scope["path"].removeprefix(scope.get("root_path", "")).rstrip("/") or "/"
        return scope["method"] in WRITE_METHODS and not (scope["method"] == "POST" and path in READ_ONLY_POSTS)
