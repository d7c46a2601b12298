"""Settings of production, read once from the environment (prefix ``HESP_``) or a ``.env`` file: the
catalogue's (``hygor.Settings``: the database, ``HESP_HOME``, the collections) and where products, job folders
and the chains' commands are."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field

from hygor.settings import Settings
from hymotep.input_cache import GB, CachePolicy
from hymotep.storage import LOGS, StorageError, StorageSpec, is_object_location

# In HESP_HOME: the chain path that `hesp demo` ran its reference chains with, used while HESP_CHAIN_PATH is unset.
CHAIN_PATH_RECORD = "chain_path"
# What `hesp serve` serves a POSIX storage root at by default.
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080/storage"


class ProductionSettings(Settings):
    """The catalogue's settings and production's own."""

    # Where products are kept (<storage>/<collection>/<tile>/<year>/...): a folder (<home>/storage by default, the
    # job logs in its logs/ folder) or S3-compatible object storage, s3://bucket/prefix (endpoint and credentials
    # from the AWS_* variables; the job logs in <home>/logs).
    storage: str | Path | None = None
    # Where the stored products are published: an asset's href is <public_url>/<key under the storage>. Default
    # for a folder: what `hesp serve` serves (http://127.0.0.1:8080/storage); required for object storage.
    public_url: str | None = None
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
    # The site file: how `hesp run --jobqueue` starts its batch workers (hymotep/schemas/site.schema.json).
    site_config: Path | None = None
    # The upstream catalogues `hesp watch` harvests (hymotep/schemas/watch-sources.schema.json); --sources overrides.
    watch_sources: Path | None = None

    @classmethod
    def of(cls, settings: Settings) -> ProductionSettings:
        """``settings`` as they are when they are production's; else the catalogue's with production's own read
        from the environment."""
        if isinstance(settings, ProductionSettings):
            return settings
        return cls(**settings.model_dump())

    @property
    def storage_location(self) -> str:
        """The storage as workers open it: an absolute path, or ``s3://bucket/prefix``."""
        return str(self.storage) if self.object_storage else str(self.storage_root)

    @property
    def object_storage(self) -> bool:
        return bool(self.storage) and is_object_location(str(self.storage))

    @property
    def storage_root(self) -> Path:
        """The POSIX storage root (with object storage: none of the products, only what lies beside)."""
        if self.object_storage:
            return (self.home / "storage").absolute()
        return Path(self.storage or self.home / "storage").absolute()

    @property
    def log_root(self) -> Path:
        """Where job logs are kept: on a POSIX folder always, the dashboard reads their tails from there."""
        return (self.home / LOGS).absolute() if self.object_storage else self.storage_root / LOGS

    @property
    def gdal_options(self) -> dict[str, str]:
        """The GDAL configuration that reaches the object storage (none for a folder): GDAL's own names for the
        endpoint obstore reads from AWS_ENDPOINT_URL (AWS_ALLOW_HTTP: plain HTTP), path-style as S3-compatible
        servers answer."""
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if not self.object_storage or not endpoint:
            return {}
        url = urlsplit(endpoint)
        return {"AWS_S3_ENDPOINT": url.netloc, "AWS_HTTPS": "NO" if url.scheme == "http" else "YES",
                "AWS_VIRTUAL_HOSTING": "FALSE"}  # fmt: skip

    @property
    def storage_spec(self) -> StorageSpec:
        """The storage and its public URL; ``StorageError`` when object storage has no HESP_PUBLIC_URL."""
        public = self.public_url
        if public is None:
            if self.object_storage:
                raise StorageError(f"HESP_PUBLIC_URL is not set: the products stored in {self.storage} need the "
                                   "http(s) URL they are published at")  # fmt: skip
            public = DEFAULT_PUBLIC_URL
        if urlsplit(public).scheme.lower() not in ("http", "https") or not urlsplit(public).netloc:
            raise StorageError(f"HESP_PUBLIC_URL {public!r} is not an http(s) URL")
        return StorageSpec(self.storage_location, public.rstrip("/"))

    @property
    def work_root(self) -> Path:
        return (self.work_dir or self.home / "work").absolute()

    @property
    def input_cache_policy(self) -> CachePolicy:
        root = (self.input_cache or self.home / "input-cache").absolute()
        bound = None if self.input_cache_gb is None else int(self.input_cache_gb * GB)
        products = self.storage_location if self.object_storage else None  # staged whole when read as inputs
        return CachePolicy(root, bound, self.input_downloads, product_root=products)

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
