"""Settings of the catalogue, read once from the environment (prefix ``HESP_``) or a ``.env`` file."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# In HESP_HOME: the chain path that `hesp demo` ran its reference chains with, used while HESP_CHAIN_PATH is unset.
CHAIN_PATH_RECORD = "chain_path"


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
    # The embedded cluster's preferred port; another free one is taken when it is busy.
    port: int = 54329
    # Folder of initdb/pg_ctl/postgres; found from pg_config or /usr/lib/postgresql when unset.
    pg_bindir: Path | None = None
    # Where products and job logs are kept (<storage>/<collection>/<tile>/<year>/...): <home>/storage by default.
    storage: Path | None = None
    # Where jobs get their private work directories: <home>/work by default.
    work_dir: Path | None = None
    # Folders searched for the chains' commands before PATH (os.pathsep-separated).
    chain_path: str = ""

    @property
    def storage_root(self) -> Path:
        return (self.storage or self.home / "storage").absolute()

    @property
    def work_root(self) -> Path:
        return (self.work_dir or self.home / "work").absolute()

    @property
    def chain_search_path(self) -> str:
        """The folders of the chains' commands: HESP_CHAIN_PATH, else the chain path recorded in ``home``."""
        record = self.home / CHAIN_PATH_RECORD
        if self.chain_path or not record.is_file():
            return self.chain_path
        return record.read_text().strip()

    @field_validator("database_url")
    @classmethod
    def _parsable(cls, url: str | None) -> str | None:
        if url:
            try:
                conninfo_to_dict(url)
            except psycopg.ProgrammingError as exc:
                raise ValueError(f"not a PostgreSQL URL ({str(exc).splitlines()[0]})") from None
        return url


def child_environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment with ``extra`` added: what a chain's command runs with."""
    return {**os.environ, **extra}


def command_search_path(first: str) -> str:
    """The folders searched for a command: ``first`` (os.pathsep-separated), then PATH."""
    return os.pathsep.join(p for p in (first, os.environ.get("PATH", "")) if p)
