"""Serving the STAC API: in the foreground (``hesp serve``, one or several worker processes) or from a background
thread (demos, notebooks)."""

from __future__ import annotations

import os
import socket
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from hygor.db import Database, fetch_one
from hygor.errors import HygorError

STARTUP_TIMEOUT_S = 30
# The share of the server's max_connections the API's workers may hold: the rest is production's (workers,
# ingest, watch) and the operators'.
API_SHARE = 0.5


def serve_forever(app: FastAPI | str, host: str, port: int, workers: int = 1) -> None:
    """Serve ``app``; several ``workers`` need it as an import string of a factory (``module:function``), which
    each worker process calls to build its own application and pools."""
    if workers > 1 and not isinstance(app, str):
        raise TypeError("several workers need the application as a factory's import string")
    uvicorn.run(app, host=host, port=port, workers=workers, factory=isinstance(app, str), log_level="warning")


def worker_count(database: Database, per_worker: int, asked: int | None) -> int:
    """The worker processes to run: as ``asked``, or one per core by default, within the API's share of the
    database's connections (``per_worker`` each). Asking for more than fits is an error, not a silent cap."""
    with database.connect() as conn:
        budget = int(fetch_one(conn, "max_connections")["max_connections"] * API_SHARE)
    fitting = max(1, budget // per_worker)
    if asked is None:
        return min(os.cpu_count() or 1, fitting)
    if asked * per_worker > budget:
        raise HygorError(
            f"{asked} workers x {per_worker} connections exceed the API's share of the database's connections "
            f"({budget}): at most {fitting} workers, or a smaller HESP_API_POOL"
        )
    return asked


def require_free(host: str, port: int) -> None:
    """A clear error before uvicorn's log line and exit code 3 when the address is taken."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise HygorError(f"cannot listen on {host}:{port} ({exc.strerror}): choose another --port") from None


class BackgroundServer:
    """``with BackgroundServer(app) as url:`` serves ``app`` on a free loopback port until the block ends."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, name="hesp-api", daemon=True)
        self._host = host

    def __enter__(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise HygorError("the STAC API did not start (is the port free?)")
            time.sleep(0.05)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        return f"http://{self._host}:{port}"

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=STARTUP_TIMEOUT_S)
