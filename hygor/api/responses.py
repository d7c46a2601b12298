"""The API's JSON answers written by orjson, straight from the dicts the client returns.

By default FastAPI first copies every value of an answer through ``jsonable_encoder`` (Python, value by value)
and then encodes it with the standard library: on a page of hydrated items (50 MAJA L2A items are about 2 MB,
their collection's asset descriptions merged into each) that is most of a request's time. stac-fastapi's
``enable_direct_response`` skips the copy but keeps the slow encoder; this does the same with orjson, keeping
each route's media type (``application/geo+json`` for items, ``application/json`` otherwise).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Response
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.utils import get_dependant
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, request_response


class OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def direct(endpoint: Callable[..., Awaitable[Any]], media_type: str | None) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(endpoint)
    async def answered(*args: Any, **kwargs: Any) -> Any:
        content = await endpoint(*args, **kwargs)
        return content if isinstance(content, Response) else OrjsonResponse(content, media_type=media_type)

    return answered


def orjson_responses(app: FastAPI) -> None:
    """Make every JSON route of ``app`` answer through ``OrjsonResponse``."""
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        response_class = route.response_class
        if isinstance(response_class, DefaultPlaceholder):
            response_class = response_class.value
        if isinstance(response_class, type) and issubclass(response_class, JSONResponse):
            route.endpoint = direct(route.endpoint, response_class.media_type)
            route.dependant = get_dependant(path=route.path_format, call=route.endpoint)
            route.app = request_response(route.get_route_handler())
