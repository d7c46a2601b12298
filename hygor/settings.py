"""Settings of the catalogue, read once from the environment (prefix ``HESP_``) or a ``.env`` file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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

    @field_validator("database_url")
    @classmethod
    def _parsable(cls, url: str | None) -> str | None:
        if url:
            try:
                conninfo_to_dict(url)
            except psycopg.ProgrammingError as exc:
                raise ValueError(f"not a PostgreSQL URL ({str(exc).splitlines()[0]})") from None
        return url
