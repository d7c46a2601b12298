"""Settings of production, read once from the environment (prefix ``HESP_``) or a ``.env`` file: the
catalogue's (``hygor.Settings``: the database, ``HESP_HOME``, the collections) and where products, job folders
and the chains' commands are."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from hygor.settings import Settings
from hymotep.input_cache import GB, CachePolicy

# In HESP_HOME: the chain path that `hesp demo` ran its reference chains with, used while HESP_CHAIN_PATH is unset.
CHAIN_PATH_RECORD = "chain_path"


class ProductionSettings(Settings):
    """The catalogue's settings and production's own."""

    # Where products and job logs are kept (<storage>/<collection>/<tile>/<year>/...): <home>/storage by default.
    storage: Path | None = None
    # Where jobs get their private work directories: <home>/work by default.
    work_dir: Path | None = None
    # Folders searched for the chains' commands before PATH (os.pathsep-separated).
    chain_path: str = ""
    # Where remote inputs (https, s3) are fetched before their jobs run: <home>/input-cache by default.
    input_cache: Path | None = None
    # The input cache's bound in GB (10^9 bytes): the least recently used inputs go, never one a job is reading.
    input_cache_gb: float | None = Field(default=None, gt=0)
    # Files a worker process fetches at once.
    input_downloads: int = Field(default=4, ge=1)

    @classmethod
    def of(cls, settings: Settings) -> ProductionSettings:
        """``settings`` as they are when they are production's; else the catalogue's with production's own read
        from the environment."""
        if isinstance(settings, ProductionSettings):
            return settings
        return cls(**settings.model_dump())

    @property
    def storage_root(self) -> Path:
        return (self.storage or self.home / "storage").absolute()

    @property
    def work_root(self) -> Path:
        return (self.work_dir or self.home / "work").absolute()

    @property
    def input_cache_policy(self) -> CachePolicy:
        root = (self.input_cache or self.home / "input-cache").absolute()
        bound = None if self.input_cache_gb is None else int(self.input_cache_gb * GB)
        return CachePolicy(root, bound, self.input_downloads)

    @property
    def chain_search(self) -> str:
        """The folders searched first for the chains' commands (os.pathsep-separated): HESP_CHAIN_PATH, else the
        chain path recorded in ``home`` by ``hesp demo``. The one place they are looked up, for the runs and
        ``hesp doctor`` alike."""
        record = self.home / CHAIN_PATH_RECORD
        if self.chain_path or not record.is_file():
            return self.chain_path
        return record.read_text().strip()


# The centre's own secrets: a chain needs neither, and its log (shown by the dashboard) could print them.
WITHHELD_FROM_CHAINS = frozenset({"HESP_API_TOKEN", "HESP_DATABASE_URL", "PGPASSWORD"})


def child_environment(extra: dict[str, str]) -> dict[str, str]:
    """What a chain's command runs with: this process's environment less the centre's secrets, ``extra`` added."""
    return {**{k: v for k, v in os.environ.items() if k not in WITHHELD_FROM_CHAINS}, **extra}


def command_search_path(first: str) -> str:
    """The folders searched for a command: ``first`` (os.pathsep-separated), then PATH."""
    return os.pathsep.join(p for p in (first, os.environ.get("PATH", "")) if p)
