"""What one request may ask of the server, checked before any parser sees it.

cql2's parser recurses once per nesting level: a text filter 3,000 parentheses or 4,000 ``NOT`` deep overflows
its stack and kills the whole server (a segmentation fault, not an exception), and its validator's memory grows
steeply with nesting (a ``NOT`` nested 20 deep takes about 200 MB). So every filter, in a query string or a
search body, has its depth measured here first with a scanner that cannot recurse, then is parsed only if
shallow enough. Text filters posted to ``/search`` are converted to CQL2 JSON here too, with the same parser as
GET, so that portals may post either language.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from cql2 import Expr
from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hygor.api.errors import error_body

# Containers (JSON objects and arrays) a filter may nest: about ten operators deep with a multipolygon inside.
MAX_FILTER_NESTING = 24
MAX_FILTER_CHARS = 20_000
MAX_SEARCH_BODY_BYTES = 1 << 20
MAX_BODY_BYTES = 64 << 20  # item and collection writes: a large FeatureCollection fits
MAX_IDS = 10_000
MAX_GEOMETRY_POSITIONS = 50_000

_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_NOT_RUN = re.compile(r"(?:\bNOT\b\s*)+", re.IGNORECASE)


class RequestRefused(Exception):
    """A request the server will not process, with the HTTP status and the reason given to the client."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def text_filter_depth(text: str) -> int:
    """An upper bound of the recursion a CQL2 text filter costs the parser: parentheses, or ``NOT`` chains."""
    bare = _QUOTED.sub("''", text)
    depth = deepest = 0
    for char in bare:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth -= 1
    nots = max((len(run.group().split()) for run in _NOT_RUN.finditer(bare)), default=0)
    return max(deepest, nots)


def nesting(value: Any) -> int:
    """How many objects and arrays ``value`` nests, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def checked_filter(value: Any, lang: str | None) -> dict[str, Any]:
    """``value`` (text, JSON text or parsed JSON) as CQL2 JSON, refused when too deep or malformed."""
    if isinstance(value, str):
        if len(value) > MAX_FILTER_CHARS:
            raise RequestRefused(400, f"filter longer than {MAX_FILTER_CHARS} characters")
        if lang == "cql2-json":
            value = _json(value.encode(), "filter")
        else:
            if text_filter_depth(value) > MAX_FILTER_NESTING:
                raise RequestRefused(400, f"filter nested deeper than {MAX_FILTER_NESTING} levels")
            try:
                value = Expr(value).to_json()
            except Exception as exc:  # cql2 raises bare exceptions on syntax errors
                raise RequestRefused(400, f"invalid CQL2 text filter: {exc}") from None
    if not isinstance(value, dict):
        raise RequestRefused(400, "filter must be a CQL2 JSON object or CQL2 text")
    if nesting(value) > MAX_FILTER_NESTING:
        raise RequestRefused(400, f"filter nested deeper than {MAX_FILTER_NESTING} levels")
    return value


def check_ids(ids: Any) -> None:
    if isinstance(ids, list | tuple) and len(ids) > MAX_IDS:
        raise RequestRefused(400, f"more than {MAX_IDS} ids")


def check_geometry(geometry: Any) -> None:
    """Refuse an ``intersects`` geometry with more positions than the limit, counted without recursion."""
    positions, stack = 0, [geometry]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.get(key) for key in ("coordinates", "geometries"))
        elif isinstance(node, list):
            if node and not isinstance(node[0], list | dict):
                positions += 1
            else:
                stack.extend(node)
        if positions > MAX_GEOMETRY_POSITIONS:
            raise RequestRefused(400, f"intersects geometry has more than {MAX_GEOMETRY_POSITIONS} positions")


def _json(raw: bytes, what: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:  # also orjson's own limit on nesting
        raise RequestRefused(400, f"{what} is not valid JSON: {exc}") from None


class RequestLimits:
    """ASGI middleware: filters in query strings and search bodies are checked before the API parses them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check_query(scope)
            self._check_declared_size(scope)
            if scope["method"] == "POST" and scope["path"].rstrip("/").endswith("/search"):
                receive = await self._checked_search_body(scope, receive)
        except RequestRefused as refused:
            await refuse(send, refused.status, refused.description)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _check_query(scope: Scope) -> None:
        params = QueryParams(scope.get("query_string", b""))
        if "filter" in params:
            checked_filter(params["filter"], params.get("filter-lang") or params.get("filter_lang") or "cql2-text")
        if "ids" in params:
            check_ids([i for value in params.getlist("ids") for i in value.split(",")])
        if "intersects" in params:
            check_geometry(_json(params["intersects"].encode(), "intersects"))

    @staticmethod
    def _check_declared_size(scope: Scope) -> None:
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit():
            raise RequestRefused(400, "Content-Length is not a number")
        if int(declared) > MAX_BODY_BYTES:
            raise RequestRefused(413, f"request body larger than {MAX_BODY_BYTES} bytes")

    @staticmethod
    async def _checked_search_body(scope: Scope, receive: Receive) -> Receive:
        """The body read whole (within the limit), its filter checked, text filters turned into CQL2 JSON."""
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestRefused(400, "the client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_SEARCH_BODY_BYTES:
                raise RequestRefused(413, f"search body larger than {MAX_SEARCH_BODY_BYTES} bytes")
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        search = _json(body, "the search body") if body.strip() else {}
        if not isinstance(search, dict):
            raise RequestRefused(400, f"the search body must be a JSON object, not a JSON {type(search).__name__}")
        check_ids(search.get("ids"))
        check_geometry(search.get("intersects"))
        if search.get("filter") is not None:
            lang = search.get("filter-lang") or search.get("filter_lang")
            if isinstance(search["filter"], str) and lang in (None, "cql2-text"):
                search["filter"] = checked_filter(search["filter"], "cql2-text")
                search.pop("filter_lang", None)
                search["filter-lang"] = "cql2-json"
                body = orjson.dumps(search)
                _set_content_length(scope, len(body))
            else:
                checked_filter(search["filter"], lang)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay


def _set_content_length(scope: Scope, length: int) -> None:
    headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
    scope["headers"] = [*headers, (b"content-length", str(length).encode())]


async def refuse(send: Send, status: int, description: str) -> None:
    """Answer with a STAC API error body: ``code`` and a one-line ``description``."""
    body = orjson.dumps(error_body(status, description))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="hesperides"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
