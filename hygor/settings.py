"""Settings of the catalogue, read once from the environment (prefix ``HESP_``) or a ``.env`` file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hygor.cluster import NetworkAccess


def default_collections_dir() -> Path:
    """The collections shipped with hygor (``hygor/data/collections``)."""
    return Path(str(resources.files("hygor").joinpath("data", "collections")))


class Settings(BaseSettings):
    """Where the catalogue lives and how it is reached.

    Without ``database_url`` the catalogue runs its own PostgreSQL cluster under ``home``.
    """

    model_config = SettingsConfigDict(env_prefix="HESP_", env_file=".env", extra="ignore")

    database_url: str | None = None
    home: Path = Path(".hesp")
    collections_dir: Path = default_collections_dir()
    api_token: SecretStr | None = None
    # Connections each `hesp serve` worker process may hold for reads; a process with writes enabled holds a
    # few more (``hygor.api.pools``). Workers x this stays under the server's max_connections.
    api_pool: int = Field(default=8, ge=1)
    # The embedded cluster's preferred port; another free one is taken when it is busy.
    port: int = 54329
    # Folder of initdb/pg_ctl/postgres; found from pg_config or /usr/lib/postgresql when unset.
    pg_bindir: Path | None = None
    # The embedded cluster's addresses (comma-separated; * for all), and the networks (CIDR, comma-separated)
    # whose clients may connect with its password: workers on other nodes. A restart applies a change.
    db_listen: str = "127.0.0.1"
    db_allow: str = ""

    @property
    def db_access(self) -> NetworkAccess:
        return NetworkAccess(_items(self.db_listen), _items(self.db_allow))

    @field_validator("db_listen")
    @classmethod
    def _addresses(cls, listen: str) -> str:
        NetworkAccess(_items(listen), ("127.0.0.1/32",))  # ValueError: not an address
        return listen

    @field_validator("db_allow")
    @classmethod
    def _allowed(cls, allow: str, info: ValidationInfo) -> str:
        """A network for each address beyond loopback: refused otherwise (ValueError)."""
        if "db_listen" in info.data:
            NetworkAccess(_items(info.data["db_listen"]), _items(allow))
        return allow

    @field_validator("database_url")
    @classmethod
    def _parsable(cls, url: str | None) -> str | None:
        if url:
            try:
                conninfo_to_dict(url)
            except psycopg.ProgrammingError as exc:
                raise ValueError(f"not a PostgreSQL URL ({str(exc).splitlines()[0]})") from None
        return url


def _items(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())
