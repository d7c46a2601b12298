"""Real PostgreSQL + PostGIS + pgSTAC for the tests.

One embedded cluster for the session (started through the project's own code), one template database
migrated once, and a fresh database per test made from the template (``CREATE DATABASE ... TEMPLATE``).
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql
from stac_items import write_l2a_items

from hygor import Catalog, Settings
from hygor.cluster import EmbeddedCluster
from hymotep.production import Production

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
HESP = str(Path(sys.executable).with_name("hesp"))
TEMPLATE = "hesp_template"
# What the portals filter on (tile, cloud cover, platform, relative orbit, chain version, validity).
PORTAL_FILTERS = {"grid:code", "eo:cloud_cover", "platform", "sat:relative_orbit", "processing:version", "hesp:valid"}
_serial = itertools.count()


@pytest.fixture(scope="session")
def work_root() -> Iterator[Path]:
    """A scratch folder every user can traverse (the server may run as the postgres user)."""
    root = Path(tempfile.mkdtemp(prefix="hesp-tests-", dir="/var/tmp"))
    root.chmod(0o755)
    yield root
    for home in root.glob("*/pgdata"):
        EmbeddedCluster(home.parent, 0).down()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fresh_home(work_root: Path) -> Iterator[Path]:
    """An empty HESP_HOME; its cluster, if a test starts one, is stopped afterwards."""
    home = work_root / f"home-{next(_serial)}"
    home.mkdir()
    home.chmod(0o755)
    yield home
    EmbeddedCluster(home, 0).down()


@pytest.fixture(scope="session")
def server_url(work_root: Path) -> str:
    """The admin URL of the session's cluster, with the template database migrated and synced."""
    home = work_root / "server"
    catalog = Catalog(Settings(home=home, port=free_port(), database_url=None))
    url = catalog.url()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    Production(Catalog(Settings(database_url=database_url(url, TEMPLATE)))).init()
    return url


@pytest.fixture
def make_db(server_url: str) -> Iterator[Callable[[], str]]:
    """Makes fresh databases with pgSTAC, the hesp schema and the collections; dropped afterwards."""
    made: list[str] = []

    def make() -> str:
        name = f"test_{os.getpid()}_{next(_serial)}"
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(TEMPLATE))
            )
        made.append(name)
        return database_url(server_url, name)

    yield make
    with psycopg.connect(server_url, autocommit=True) as conn:
        for name in made:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def db_url(make_db: Callable[[], str]) -> str:
    """A fresh database with pgSTAC, the hesp schema and the collections."""
    return make_db()


@pytest.fixture
def empty_db_url(server_url: str) -> Iterator[str]:
    """A fresh database with nothing in it, as a new managed server would give."""
    name = f"empty_{os.getpid()}_{next(_serial)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield database_url(server_url, name)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def database_url(server_url: str, name: str) -> str:
    return server_url.rsplit("/", 1)[0] + "/" + name


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def hesp(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed ``hesp`` command as a user would."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HESP_")}
    return subprocess.run(
        [HESP, *args], env={**clean, **(env or {})}, capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


class HttpProcess:
    """A server process on a loopback port, ready once ``/_mgmt/ping`` answers; its output goes to a file, not a
    pipe that nobody reads while it runs (a full pipe blocks it)."""

    def __init__(
        self, name: str, command: list[str], env: dict[str, str], cwd: Path, wait_s: float = 30, port: int | None = None
    ) -> None:
        self.name = name
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix=f"{name.replace(' ', '-')}-", suffix=".log")  # noqa: SIM115
        argv = [part.replace("{port}", str(self.port)) for part in command]
        self.process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"{name} exited: {self.output()}")
            try:
                if httpx.get(self.url + "/_mgmt/ping", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{name} did not answer within {wait_s:g} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def output(self) -> str:
        """What the server printed so far."""
        return Path(self.log.name).read_text(errors="replace")


class Server(HttpProcess):
    """A ``hesp serve`` process on a loopback port."""

    def __init__(
        self, env: dict[str, str], port: int | None = None, args: tuple[str, ...] = (), wait_s: float = 30
    ) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("HESP_")}
        command = [HESP, "serve", "--port", "{port}", *args]
        super().__init__("hesp serve", command, {**clean, **env}, REPO, wait_s=wait_s, port=port)


@pytest.fixture
def serve() -> Iterator[type[Server]]:
    started: list[Server] = []

    class Tracked(Server):
        def __init__(self, env: dict[str, str], args: tuple[str, ...] = ()) -> None:
            super().__init__(env, args=args)
            started.append(self)

    yield Tracked
    for server in started:
        server.stop()


L2A_PER_TILE = 12  # items per tile in filled_db


@pytest.fixture
def filled_db(db_url: str, tmp_path: Path) -> str:
    """The catalogue with L2A items loaded through `pypgstac load` against the database URL."""
    items = tmp_path / "items.ndjson"
    write_l2a_items(items, L2A_PER_TILE)
    pypgstac = str(Path(sys.executable).with_name("pypgstac"))
    loaded = subprocess.run(
        [pypgstac, "load", "items", str(items), "--dsn", db_url, "--method", "upsert"], capture_output=True, text=True
    )
    assert loaded.returncode == 0, loaded.stderr
    return db_url


def snapshot(url: str) -> tuple[object, ...]:
    with psycopg.connect(url) as conn:
        return (
            conn.execute("SELECT content FROM pgstac.collections ORDER BY id").fetchall(),
            conn.execute("SELECT id, content FROM pgstac.items ORDER BY id").fetchall(),
        )


@contextmanager
def moto_s3() -> Iterator[dict[str, str]]:
    """A moto S3 server in its own process on loopback; the AWS_* settings that lead obstore to it (its URL is
    AWS_ENDPOINT_URL)."""
    server = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if server is None:
        pytest.skip("moto[server] is not installed (pip install -e '.[test]')")
    port = free_port()
    process = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
               "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}  # fmt: skip
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto S3 server (``moto_s3``), its settings in this process's environment."""
    with moto_s3() as settings:
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        yield settings["AWS_ENDPOINT_URL"]
