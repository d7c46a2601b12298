"""The one boundary to PostgreSQL: where the database is, connections, and driver errors translated."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads

from hygor.cluster import ClusterState, EmbeddedCluster
from hygor.errors import DatabaseError, DatabaseUnreachable, HygorError
from hygor.settings import Settings
from hygor.sql import query

CONNECT_TIMEOUT_S = 5


def redact(url: str) -> str:
    """The URL with its password hidden, for messages."""
    if "://" in url:
        try:
            parts = urlsplit(url)
        except ValueError:
            return "<unparsable database URL>"
        if parts.password is None:
            return url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparsable database URL>"
    if "password" in params:
        params["password"] = "***"
    return make_conninfo("", **params)


@dataclass(frozen=True)
class Database:
    """A PostgreSQL database reached by URL; ``embedded`` when it is the cluster in ``HESP_HOME``."""

    url: str
    embedded: ClusterState | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, start: bool = True) -> Database:
        """The configured database; the embedded cluster is started on demand unless ``start`` is False."""
        if settings.database_url:
            return cls(settings.database_url)
        cluster = EmbeddedCluster(settings.home, settings.port, settings.pg_bindir, settings.db_access)
        state = cluster.up() if start else cluster.state()
        if state.port is None:
            return cls("", state)
        return cls(cluster.url(state.port), state)

    def dsn(self, **options: Any) -> str:
        return make_conninfo(self.url, **options)

    @contextlib.contextmanager
    def connect(self, *, autocommit: bool = False) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """A connection whose driver errors come out as ``HygorError``s with one clear line."""
        if not self.url:
            raise DatabaseUnreachable("the embedded database is not running: start it with `hesp db up`")
        try:
            conn = psycopg.connect(
                self.url, autocommit=autocommit, row_factory=dict_row, connect_timeout=CONNECT_TIMEOUT_S
            )
        except psycopg.OperationalError as exc:
            raise DatabaseUnreachable(f"cannot connect to {redact(self.url)}: {_first_line(exc)}") from exc
        except psycopg.ProgrammingError as exc:
            raise DatabaseUnreachable(f"invalid database URL {redact(self.url)}: {_first_line(exc)}") from exc
        try:
            with conn, translate_errors():
                yield conn
        finally:
            conn.close()


class ConnectionPool:
    """Connections kept open for a process that talks to the database all the time (a worker running jobs):
    connecting costs a server process and cold caches each time. A connection broken by a restart of the server
    is replaced when it is next taken; a database out of reach is a ``DatabaseUnreachable`` after ``wait_s``."""

    def __init__(self, url: str, *, size: int = 2, wait_s: float = 10.0) -> None:
        from psycopg_pool import ConnectionPool as Pool

        self._wait_s = wait_s
        self._pool: Pool[psycopg.Connection[dict[str, Any]]] = Pool(
            url,
            min_size=1,
            max_size=size,
            kwargs={"row_factory": dict_row, "connect_timeout": CONNECT_TIMEOUT_S},
            check=Pool.check_connection,
            configure=_fast_json,
            open=False,
            name="hesp",
        )
        self._url = url

    @contextlib.contextmanager
    def connect(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """A connection of the pool, committed when the block ends well, rolled back otherwise."""
        from psycopg_pool import PoolTimeout

        try:
            if self._pool.closed:
                self._pool.open(wait=False)
            with self._pool.connection(timeout=self._wait_s) as conn, translate_errors():
                yield conn
        except PoolTimeout as exc:
            raise DatabaseUnreachable(f"cannot connect to {redact(self._url)} within {self._wait_s:g} s") from exc


def _fast_json(conn: psycopg.Connection[Any]) -> None:
    """JSON columns read by orjson: a worker reads its inputs' items whole, geometry and all."""
    set_json_loads(_loads, conn)


def _loads(data: bytes | str) -> Any:
    """orjson's reading, or the standard library's for what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Driver errors raised inside become ``DatabaseError``s naming the failing statement's message."""
    try:
        yield
    except HygorError:
        raise
    except psycopg.OperationalError as exc:
        raise DatabaseUnreachable(f"lost the database: {_first_line(exc)}") from exc
    except psycopg.Error as exc:
        raise DatabaseError(_first_line(exc)) from exc


def fetch_one(conn: psycopg.Connection[dict[str, Any]], name: str, /, **params: Any) -> dict[str, Any]:
    row = conn.execute(query(name), params or None).fetchone()
    if row is None:
        raise DatabaseError(f"query {name} returned no row")
    return row


def fetch_all(conn: psycopg.Connection[dict[str, Any]], name: str, /, **params: Any) -> list[dict[str, Any]]:
    return conn.execute(query(name), params or None).fetchall()


def execute(conn: psycopg.Connection[dict[str, Any]], name: str, /, **params: Any) -> None:
    conn.execute(query(name), params or None)


def relation_exists(conn: psycopg.Connection[dict[str, Any]], relation: str) -> bool:
    return bool(fetch_one(conn, "relation_exists", name=relation)["exists"])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
