"""The API's error boundary: every error answers a STAC API error body, ``{"code", "description"}``.

A client's mistake is a 4xx that says what is wrong in one line, including the database errors that only a
request's own values cause (a bad cast, an unknown function in a filter, a forged paging token). Only a real
server fault is a 500: it carries an id that the server log repeats beside the traceback, never the request's
headers, SQL or paths.
"""

from __future__ import annotations

import logging
import uuid
from http import HTTPStatus
from typing import Any

import asyncpg
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

log = logging.getLogger("hygor.api")

# SQLSTATE classes a request's values cause: data exceptions, syntax or access errors, pgSTAC's own RAISEs
# (bad paging tokens, unsupported operators), program limits (a filter too complex for the planner).
CLIENT_SQLSTATE_CLASSES = ("22", "42", "P0", "54")
MAX_DESCRIPTION = 300


def error_body(status: int, description: str) -> dict[str, str]:
    """A STAC API error: the status's name as ``code`` and a one-line, bounded ``description``."""
    line = " ".join(description.split())
    if len(line) > MAX_DESCRIPTION:
        line = line[: MAX_DESCRIPTION - 1] + "…"
    return {"code": HTTPStatus(status).phrase.replace(" ", ""), "description": line}


def error_response(status: int, description: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, description), status_code=status, headers=headers)


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return error_response(exc.status_code, detail, getattr(exc, "headers", None))


def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, "; ".join(_describe(error) for error in exc.errors()) or "invalid request")


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part not in ("query", "body", "path"))
    return f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid"))


def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, asyncpg.PostgresError)
    state = str(getattr(exc, "sqlstate", "") or "")
    if state.startswith(CLIENT_SQLSTATE_CLASSES):
        message = str(getattr(exc, "message", None) or exc).splitlines()[0]
        return error_response(400, message)
    return _server_fault(request, exc)


def _malformed_json(request: Request, exc: Exception) -> JSONResponse:
    return error_response(400, f"a parameter is not valid JSON: {exc}")


def _server_fault(request: Request, exc: Exception) -> JSONResponse:
    reference = uuid.uuid4().hex[:12]
    log.error("internal error %s on %s %s", reference, request.method, request.url.path, exc_info=exc)
    return error_response(500, f"internal error, reference {reference}")


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` (and of routes added to it later) in the STAC API error format."""
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(asyncpg.PostgresError, _database_error)
    app.add_exception_handler(orjson.JSONDecodeError, _malformed_json)
    app.add_exception_handler(Exception, _server_fault)
