"""The embedded PostgreSQL cluster: the default database when no ``HESP_DATABASE_URL`` is given.

It lives in ``HESP_HOME`` (data, socket, log, password), is started on demand and reused, and listens on
127.0.0.1 unless ``NetworkAccess`` opens it to the workers of other nodes (more addresses, and pg_hba lines for the
allowed networks; always with the password that initdb set, scram-sha-256). PostgreSQL refuses to run as root:
when the caller is root the server runs as the ``postgres`` system user that Debian's package creates, which
then owns the data directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import pwd
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from hygor.errors import ClusterError, PostgresNotInstalled

SUPERUSER = "hesp"
DATABASE = "hesp"
SERVICE_USER_WHEN_ROOT = "postgres"
INSTALL_HINT = "install them with: apt-get install postgresql-15 postgresql-15-postgis-3"
# Tuned for catalogue work on a small machine: bulk loads and large set operations.
SERVER_SETTINGS = {
    "shared_buffers": "'512MB'",
    "work_mem": "'64MB'",
    "maintenance_work_mem": "'512MB'",
    "max_wal_size": "'4GB'",
    "max_connections": "100",
    "jit": "off",
    # Errors' CONTEXT would copy the failing rows of a COPY (item contents) into the log.
    "log_error_verbosity": "'terse'",
}


LOOPBACK = "127.0.0.1"
ANY_ADDRESS = ("*", "0.0.0.0")
# What initdb --auth=scram-sha-256 writes, less replication: the cluster's own users, locally, with the password.
BASE_HBA = (
    "local all all scram-sha-256",
    f"host all all {LOOPBACK}/32 scram-sha-256",
    "host all all ::1/128 scram-sha-256",
)


@dataclass(frozen=True)
class NetworkAccess:
    """Where the cluster listens and whom it lets in: ``listen`` addresses (or ``*``), and the ``allow`` networks
    (CIDR) whose clients may connect with the password. Loopback is always allowed."""

    listen: tuple[str, ...] = (LOOPBACK,)
    allow: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for address in self.listen:
            if address not in ANY_ADDRESS:
                ipaddress.ip_address(address)  # ValueError: not an address
        for network in self.allow:
            ipaddress.ip_network(network, strict=False)
        beyond = [a for a in self.listen if a in ANY_ADDRESS or not ipaddress.ip_address(a).is_loopback]
        if beyond and not self.allow:
            raise ValueError(f"listening on {', '.join(beyond)} opens the database to other machines: name the "
                             "networks allowed to connect in HESP_DB_ALLOW (e.g. 10.1.0.0/16)")  # fmt: skip

    @property
    def remote_host(self) -> str | None:
        """The address workers elsewhere reach the cluster at: the first listen address other than 127.0.0.1 (this
        host's name when it listens on every address); None when it listens on 127.0.0.1 alone."""
        for address in self.listen:
            if address in ANY_ADDRESS:
                return socket.getfqdn()
            if address != LOOPBACK:
                return address
        return None

    def hba(self) -> str:
        allowed = [f"host all all {ipaddress.ip_network(n, strict=False)} scram-sha-256" for n in self.allow]
        return "\n".join((*BASE_HBA, *allowed)) + "\n"


LOOPBACK_ONLY = NetworkAccess()


@dataclass(frozen=True)
class PostgresInstall:
    """The PostgreSQL binaries the cluster runs with."""

    bindir: Path
    sharedir: Path

    @classmethod
    def find(cls, bindir: Path | None = None) -> PostgresInstall:
        candidates = [bindir] if bindir else _candidate_bindirs()
        for candidate in candidates:
            if all((candidate / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres", "pg_config")):
                sharedir = Path(_run([str(candidate / "pg_config"), "--sharedir"]).strip())
                install = cls(candidate, sharedir)
                install.require_postgis()
                return install
        where = str(bindir) if bindir else "/usr/lib/postgresql/*/bin or PATH"
        raise PostgresNotInstalled(f"PostgreSQL server binaries not found in {where}: {INSTALL_HINT}")

    def require_postgis(self) -> None:
        if not (self.sharedir / "extension" / "postgis.control").is_file():
            raise PostgresNotInstalled(f"PostGIS is not installed for the PostgreSQL in {self.bindir}: {INSTALL_HINT}")

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


def _candidate_bindirs() -> list[Path]:
    versioned = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("pg_ctl")
    return versioned + ([Path(on_path).resolve().parent] if on_path else [])


@dataclass(frozen=True)
class ClusterState:
    """What ``hesp db status`` says of the embedded cluster."""

    home: Path
    initialized: bool
    running: bool
    port: int | None
    pid: int | None


class EmbeddedCluster:
    """A PostgreSQL cluster owned by one ``HESP_HOME``."""

    def __init__(
        self, home: Path, preferred_port: int, bindir: Path | None = None, access: NetworkAccess = LOOPBACK_ONLY
    ) -> None:
        self.home = home.resolve()
        self.preferred_port = preferred_port
        self._bindir = bindir
        self.access = access
        self.data_dir = self.home / "pgdata"
        self.socket_dir = self.home / "run"
        self.log_file = self.home / "postgres.log"
        self.password_file = self.home / "password"
        self.conf_file = self.data_dir / "hesp.conf"
        self.hba_file = self.data_dir / "pg_hba.conf"

    # -- public ---------------------------------------------------------------------------------

    def state(self) -> ClusterState:
        initialized = (self.data_dir / "PG_VERSION").is_file()
        pid, port = self._postmaster() if initialized else (None, None)
        return ClusterState(self.home, initialized, pid is not None, port, pid)

    def up(self) -> ClusterState:
        """Initialise the cluster if needed, start it if stopped; return its state."""
        with self._lock():
            state = self.state()
            if state.running:
                return state
            install = PostgresInstall.find(self._bindir)
            if not state.initialized:
                self._initdb(install)
            self._start(install)
            state = self.state()
            self._create_database(state)
            return state

    def down(self) -> bool:
        """Stop this cluster only; return whether it was running."""
        with self._lock():
            if not self.state().running:
                return False
            install = PostgresInstall.find(self._bindir)
            self._as_owner([install.tool("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w"])
            return True

    def url(self, port: int, host: str = LOOPBACK) -> str:
        password = quote(self.password_file.read_text().strip(), safe="")
        where = f"[{host}]" if ":" in host else host  # an IPv6 address, bracketed
        return f"postgresql://{SUPERUSER}:{password}@{where}:{port}/{DATABASE}"

    def remote_url(self, port: int) -> str | None:
        """The URL for workers on other machines, when the cluster listens beyond 127.0.0.1."""
        host = self.access.remote_host
        return None if host is None else self.url(port, host)

    # -- steps ----------------------------------------------------------------------------------

    def _initdb(self, install: PostgresInstall) -> None:
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise ClusterError(f"{self.data_dir} is not empty and holds no cluster: move it away first")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self.password_file.write_text(secrets.token_urlsafe(24) + "\n")
        self.password_file.chmod(0o600)
        self._give_to_owner(self.data_dir, self.socket_dir, self.password_file)
        self._as_owner(
            [
                install.tool("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                f"--pwfile={self.password_file}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ]
        )
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude_if_exists = 'hesp.conf'\n")

    def _start(self, install: PostgresInstall) -> None:
        port = self._free_port()
        self._write_conf(port)
        self.log_file.touch()
        self.log_file.chmod(0o600)  # it holds statements and their errors: for the server's user alone
        self._give_to_owner(self.log_file, self.conf_file, self.hba_file, self.socket_dir)
        try:
            self._as_owner(
                [
                    install.tool("pg_ctl"),
                    "start",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    "60",
                ]
            )
        except ClusterError as exc:
            raise ClusterError(f"{exc}; server log: {self._log_tail()}") from exc

    def _create_database(self, state: ClusterState) -> None:
        assert state.port is not None
        admin_url = self.url(state.port).rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))

    # -- helpers --------------------------------------------------------------------------------

    def _write_conf(self, port: int) -> None:
        """hesp.conf and pg_hba.conf from this start's settings: a restart applies changed network access."""
        listen = ",".join(self.access.listen)
        settings = {**SERVER_SETTINGS, "listen_addresses": f"'{listen}'", "port": str(port),
                    "unix_socket_directories": f"'{self.socket_dir}'"}  # fmt: skip
        self.conf_file.write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))
        self.hba_file.write_text(self.access.hba())

    def _free_port(self) -> int:
        """The port this cluster listened on last time when it is free (clients that hold its URL, the workers of
        a run among them, reconnect after ``hesp db down; hesp db up``), else the preferred one, else any."""
        addresses = ["" if a in ANY_ADDRESS else a for a in self.access.listen]
        for port in (*self._last_port(), self.preferred_port, 0):
            with contextlib.ExitStack() as probes:
                try:
                    for address in addresses:
                        family = socket.AF_INET6 if ":" in address else socket.AF_INET
                        probe = probes.enter_context(socket.socket(family, socket.SOCK_STREAM))
                        # As PostgreSQL binds: a port whose last connections are in TIME_WAIT is free to take again.
                        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        probe.bind((address, port))
                        port = int(probe.getsockname()[1])  # port 0: the one the first bind got, for the others
                except OSError:
                    continue
                return port
        raise ClusterError(f"no free TCP port on {', '.join(self.access.listen)}")

    def _last_port(self) -> tuple[int, ...]:
        try:
            lines = self.conf_file.read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return ()
        ports = [line.partition("=")[2].strip() for line in lines if line.partition("=")[0].strip() == "port"]
        return tuple(int(port) for port in ports[-1:] if port.isdigit())

    def _postmaster(self) -> tuple[int | None, int | None]:
        """(pid, port) of the running server, from postmaster.pid, or (None, None)."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None, None
        if len(lines) < 4 or not lines[0].strip().isdigit():
            return None, None
        pid, port = int(lines[0]), int(lines[3])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None, None
        except PermissionError:
            pass  # alive, owned by the service user
        return pid, port

    def _service_user(self) -> pwd.struct_passwd | None:
        """The user the server runs as when the caller is root; None when it runs as the caller."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(SERVICE_USER_WHEN_ROOT)
        except KeyError:
            raise PostgresNotInstalled(
                f"running as root needs the '{SERVICE_USER_WHEN_ROOT}' system user: {INSTALL_HINT}"
            ) from None

    def _give_to_owner(self, *paths: Path) -> None:
        user = self._service_user()
        if user is None:
            return
        for path in paths:
            os.chown(path, user.pw_uid, user.pw_gid)
        probe = subprocess.run(
            ["runuser", "-u", user.pw_name, "--", "test", "-w", str(self.data_dir)], capture_output=True
        )
        if probe.returncode != 0:
            raise ClusterError(
                f"the '{user.pw_name}' user that runs the server cannot reach {self.home}: "
                "set HESP_HOME to a directory every user can traverse (e.g. under /var/tmp)"
            )

    def _as_owner(self, command: list[str]) -> str:
        user = self._service_user()
        prefix = ["runuser", "-u", user.pw_name, "--"] if user else []
        return _run(prefix + command, cwd=self.home)

    def _log_tail(self, lines: int = 5) -> str:
        try:
            tail = self.log_file.read_text(errors="replace").strip().splitlines()[-lines:]
        except OSError:
            return "(no log)"
        return " | ".join(tail)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.home.mkdir(parents=True, exist_ok=True)
        with (self.home / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield


def _run(command: list[str], cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ClusterError(f"{Path(command[0]).name} failed: {exc}") from exc
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        name = next((Path(part).name for part in command if "/" in part), command[0])
        raise ClusterError(f"{name} failed: {message[-1] if message else f'exit code {done.returncode}'}")
    return done.stdout
