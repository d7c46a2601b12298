"""The storage: where products are kept once their job succeeds, a POSIX folder or S3-compatible object storage
(``HESP_STORAGE``: a path, or ``s3://bucket/prefix``), behind one interface (``Storage``).

Layout, under the root (a folder, or the bucket's prefix)::

    <collection>/<tile>/<year>/<product>/...      a product (its folder, or the files a chain wrote loose)

A product's *key* is its place relative to the root, ``<collection>/<tile>/<year>/<product>``. It is deterministic:
a job run twice puts the same product under the same key, replacing the first. In a folder, a product moves from
the job's output folder into place by renames on one filesystem (a copy otherwise); in object storage its files
are uploaded (multipart for the large ones), then the objects of an earlier copy that the new one lacks removed.

A stored item's asset ``href`` is public, ``<HESP_PUBLIC_URL>/<key>/<file>``, and its internal location (what a
worker reads) is kept with the alternate-assets extension: ``alternate.local.href`` (an absolute path) or
``alternate.s3.href`` (``s3://bucket/key``); ``internal_href`` reads it back.

Names come from the chains' outputs (a MUSCATE product's id is read from its XML): each must be one plain path
component, and the folder it makes must lie under the root, or nothing is stored. Outputs may not link out of
their folder either: a symlink to another file would publish that file as the product's.
"""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from hymotep.errors import HymotepError

ALTERNATE_ASSETS = "https://stac-extensions.github.io/alternate-assets/v1.2.0/schema.json"
KEY_DEPTH = 4  # <collection>/<tile>/<year>/<product>
LOGS = "logs"  # the folder of the job logs under a POSIX root


class UnsafeOutput(HymotepError):
    """A chain's output would be stored, or would read, outside its place."""


class StorageError(HymotepError):
    """The storage is misconfigured or cannot be written."""


@dataclass(frozen=True)
class StoredProduct:
    key: str  # <collection>/<tile>/<year>/<product>, relative to the root
    items: list[dict[str, Any]]


class Storage(Protocol):
    """Where products are kept: a folder (``PosixStorage``) or a bucket's prefix (``ObjectStorage``)."""

    public_url: str
    kind: str  # the name of the internal location among an asset's alternates: local or s3

    def internal(self, key: str) -> str:
        """The internal location of what lies at ``key`` (a path, or an s3 href)."""
        ...

    def store(self, output_dir: Path, key: str, items: list[dict[str, Any]]) -> StoredProduct:
        """Put what ``output_dir`` holds under ``key`` (a lone folder named as the product brings its content,
        other content goes inside), replacing a previous copy; the items with public hrefs and their internal
        location as an alternate. The caller has checked the links (``check_links``)."""
        ...

    def discard(self, key: str) -> None:
        """Remove the product under ``key`` (one that no registered item references)."""
        ...

    def products(self, collection: str | None = None) -> dict[str, datetime]:
        """The keys of the products under the root (of ``collection``), sorted, with when each was stored."""
        ...

    def key_of(self, internal: str) -> str | None:
        """The product key an internal href lies under; None when it is not under the root."""
        ...

    def gdal_paths(self, suffix: str) -> Iterator[str]:
        """The stored files whose names end with ``suffix``, as GDAL opens them (object storage: within
        ``ProductionSettings.gdal_options``)."""
        ...


@dataclass(frozen=True)
class StorageSpec:
    """Which storage and its public URL: plain values, sent to Dask workers as they are."""

    location: str  # an absolute path, or s3://bucket/prefix
    public_url: str

    def open(self) -> Storage:
        if is_object_location(self.location):
            return ObjectStorage(self.location, self.public_url)
        return PosixStorage(Path(self.location), self.public_url)


def is_object_location(location: str) -> bool:
    return urlsplit(location).scheme.lower() == "s3"


def internal_href(asset: dict[str, Any]) -> str:
    """Where a worker reads an asset: its ``alternate`` local path or s3 href when it has one, else its href."""
    alternate = asset.get("alternate")
    for name in ("local", "s3"):
        place = alternate.get(name) if isinstance(alternate, dict) else None
        href = place.get("href") if isinstance(place, dict) else None
        if isinstance(href, str) and href:
            return href
    return str(asset["href"])


def product_key(collection: str, tile: str, acquired: datetime, name: str) -> str:
    """``<collection>/<tile>/<year>/<name>``; ``UnsafeOutput`` unless each part is one plain component."""
    parts = [collection, tile, f"{acquired.year:04d}", name]
    for part in parts:
        if not part or part.startswith(".") or any(c in part for c in "/\\\0") or part != part.strip():
            raise UnsafeOutput(f"{part!r} cannot name a folder of the storage root")
    return "/".join(parts)


def product_folder(root: Path, collection: str, tile: str, acquired: datetime, name: str) -> Path:
    """``<root>/<collection>/<tile>/<year>/<name>``; ``UnsafeOutput`` unless each part is one plain component."""
    return _folder_of(root, product_key(collection, tile, acquired, name))


def check_links(output_dir: Path) -> None:
    """``UnsafeOutput`` if anything in ``output_dir`` is a symbolic link leading out of it (or nowhere)."""
    inside = output_dir.resolve()
    for folder, dirs, files in os.walk(output_dir):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            if not path.is_symlink():
                continue
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError):  # dangling, or a loop
                raise UnsafeOutput(f"{path.relative_to(output_dir)} is a link that leads nowhere") from None
            if not target.is_relative_to(inside):
                raise UnsafeOutput(f"{path.relative_to(output_dir)} links out of the product, to {path.readlink()}")


def log_path(root: Path, collection: str, tile: str, job_id: int, attempt: int) -> Path:
    """Where the log of this attempt is kept under ``root`` (the logs folder): ``job-<id>-<attempt>.log``, or
    ``job-<id>-<attempt>.<n>.log`` when an earlier series of attempts (before ``--retry-failed`` or a
    reprocessing) kept one under that name."""
    folder = root / collection / tile
    names = itertools.chain(
        [f"job-{job_id}-{attempt}.log"], (f"job-{job_id}-{attempt}.{n}.log" for n in itertools.count(2))
    )
    return next(folder / name for name in names if not (folder / name).exists())


def archive_log(log: Path, destination: Path) -> Path:
    """Keep ``log`` at ``destination``: a second link to it on the same filesystem (no copy to write; what is added
    to the log later shows in both), a copy otherwise."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(log, destination)
    except FileExistsError:
        if not os.path.samefile(log, destination):
            shutil.copyfile(log, destination)
    except OSError:  # another filesystem, or one without hard links
        shutil.copyfile(log, destination)
    return destination


class PosixStorage:
    """Products in a folder; the job logs in its ``logs`` folder."""

    kind = "local"

    def __init__(self, root: Path, public_url: str) -> None:
        self.root = root.absolute()
        self.public_url = public_url

    def store(self, output_dir: Path, key: str, items: list[dict[str, Any]]) -> StoredProduct:
        destination = _folder_of(self.root, key)
        source, entries, hidden = _source(output_dir, destination.name)
        destination.parent.mkdir(parents=True, exist_ok=True)
        staged = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:8]}")
        if source is not output_dir or not hidden:  # the output folder itself when all of it is the product
            shutil.move(source, staged)
        else:
            staged.mkdir()
            for entry in entries:
                shutil.move(entry, staged / entry.name)
        _replace(staged, destination)
        published = [_published(item, source.absolute(), key, self) for item in items]
        return StoredProduct(key, published)

    def discard(self, key: str) -> None:
        shutil.rmtree(_folder_of(self.root, key), ignore_errors=True)

    def products(self, collection: str | None = None) -> dict[str, datetime]:
        pattern = "/".join([collection or "*", *["*"] * (KEY_DEPTH - 1)])
        found = {p.relative_to(self.root).as_posix(): p for p in self.root.glob(pattern) if p.is_dir()}
        return {  # the rename into place changes the folder's ctime
            key: datetime.fromtimestamp(found[key].stat().st_ctime, UTC)
            for key in sorted(found) if not key.startswith(f"{LOGS}/") and not _hidden(key)
        }  # fmt: skip

    def key_of(self, internal: str) -> str | None:
        path = Path(internal.removeprefix("file://"))
        if not path.is_absolute() or not path.is_relative_to(self.root):
            return None
        return key_under(path.relative_to(self.root).as_posix())

    def internal(self, key: str) -> str:
        return str(self.root / key)

    def gdal_paths(self, suffix: str) -> Iterator[str]:
        for path in sorted(self.root.rglob(f"*{suffix}")):
            key = path.relative_to(self.root).as_posix()
            if not _hidden(key) and not key.startswith(f"{LOGS}/"):
                yield str(path)


class ObjectStorage:
    """Products in S3-compatible object storage under ``s3://bucket/prefix``, reached with obstore (endpoint and
    credentials from the usual ``AWS_*`` variables)."""

    kind = "s3"

    def __init__(self, location: str, public_url: str) -> None:
        url = urlsplit(location)
        if not url.netloc:
            raise StorageError(f"HESP_STORAGE {location!r} names no bucket (s3://bucket/prefix)")
        self.bucket = url.netloc
        self.prefix = "/".join(p for p in url.path.split("/") if p)
        self.public_url = public_url

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def store(self, output_dir: Path, key: str, items: list[dict[str, Any]]) -> StoredProduct:
        import obstore
        from obstore.exceptions import BaseError

        source, _, _ = _source(output_dir, key.rsplit("/", 1)[-1])
        store = self.client()
        written = set()
        try:
            for path in _files(output_dir, source):
                name = self._object(f"{key}/{path.relative_to(source).as_posix()}")
                obstore.put(store, name, path)  # multipart above obstore's chunk size
                written.add(name)
            stale = [o for o, _ in self._objects(f"{key}/") if o not in written]  # what an earlier copy had beside
            if stale:
                obstore.delete(store, stale)
        except BaseError as exc:  # what was uploaded stays: a registered copy may lie under the same key
            raise StorageError(f"{self.internal(key)}: upload failed: {str(exc).splitlines()[0]}") from None
        published = [_published(item, source.absolute(), key, self) for item in items]
        return StoredProduct(key, published)

    def discard(self, key: str) -> None:
        import obstore

        objects = [name for name, _ in self._objects(f"{key}/")]
        if objects:
            obstore.delete(self.client(), objects)

    def products(self, collection: str | None = None) -> dict[str, datetime]:
        stored: dict[str, datetime] = {}
        for name, modified in self._objects(f"{collection}/" if collection else ""):
            key = key_under(name[len(self._object("")) :])
            if key and not _hidden(key):
                stored[key] = max(stored.get(key, modified), modified)
        return dict(sorted(stored.items()))

    def key_of(self, internal: str) -> str | None:
        base = f"{self.url}/"
        return key_under(internal[len(base) :]) if internal.startswith(base) else None

    def probe(self) -> None:
        """Put then delete an object under the root: ``StorageError`` when either fails."""
        import obstore
        from obstore.exceptions import BaseError

        name = self._object(f".hesp-probe-{uuid.uuid4().hex[:8]}")
        client = self.client(quick=True)
        try:
            obstore.put(client, name, b"hesp doctor")
            obstore.delete(client, name)
        except (BaseError, OSError) as exc:
            raise StorageError(f"{self.url}: {str(exc).splitlines()[0]}") from None

    def client(self, quick: bool = False) -> Any:
        """The bucket's client (endpoint and credentials from the AWS_* variables); ``quick``: one that gives up
        after seconds rather than obstore's minutes of retries."""
        from obstore.store import S3Store

        if not quick:
            return S3Store(self.bucket)
        # Only the retries: client options given here would replace those of the AWS_* variables (AWS_ALLOW_HTTP).
        return S3Store(self.bucket, retry_config={"max_retries": 1, "retry_timeout": timedelta(seconds=10)})

    def _objects(self, start: str) -> Iterator[tuple[str, datetime]]:
        """The objects whose key starts with ``start`` under the root, with their modification times."""
        import obstore

        for batch in obstore.list(self.client(), self._object(start)):
            for meta in batch:
                yield str(meta["path"]), meta["last_modified"]

    def _object(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def internal(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._object(key)}"

    def gdal_paths(self, suffix: str) -> Iterator[str]:
        for name, _ in self._objects(""):
            if name.endswith(suffix) and not _hidden(name):
                yield f"/vsis3/{self.bucket}/{name}"


def _folder_of(root: Path, key: str) -> Path:
    folder = root.joinpath(*key.split("/"))
    if not folder.resolve().is_relative_to(root.resolve()):
        raise UnsafeOutput(f"{folder} is not under the storage root {root}")
    return folder


def _source(output_dir: Path, name: str) -> tuple[Path, list[Path], bool]:
    """What holds the product in ``output_dir``: a lone folder named as it, or ``output_dir`` itself; the entries
    of ``output_dir`` (hidden ones aside); and whether it has hidden ones."""
    every = list(output_dir.iterdir())
    entries = [e for e in every if not e.name.startswith(".")]
    lone_folder = len(entries) == 1 and entries[0].is_dir() and entries[0].name == name
    return (entries[0] if lone_folder else output_dir), entries, len(entries) < len(every)


def _files(output_dir: Path, source: Path) -> list[Path]:
    """The files of the product (links inside it followed), hidden entries of ``output_dir`` aside."""
    files = []
    for folder, _, names in os.walk(source, followlinks=True):
        for name in names:
            path = Path(folder) / name
            top = path.relative_to(output_dir).parts[0]
            if not top.startswith(".") and path.is_file():
                files.append(path)
    return sorted(files)


def _replace(staged: Path, destination: Path) -> None:
    """Put ``staged`` at ``destination``; an older copy there is renamed away first, then removed."""
    if destination.exists():
        old = destination.with_name(f".{destination.name}.old-{uuid.uuid4().hex[:8]}")
        destination.rename(old)
        staged.rename(destination)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staged.rename(destination)


def _published(item: dict[str, Any], source: Path, key: str, storage: Storage) -> dict[str, Any]:
    """``item`` with each asset that lay under ``source`` at ``<public URL>/<key>/<file>``, its internal location
    in ``storage`` as its alternate (``local`` or ``s3``)."""
    prefix = str(source)
    assets = {}
    for name, asset in item.get("assets", {}).items():
        href = str(asset["href"]).removeprefix("file://")
        if href.startswith(prefix + "/"):
            stored = f"{key}/{href[len(prefix) + 1 :]}"
            alternate = {**(asset.get("alternate") or {}), storage.kind: {"href": storage.internal(stored)}}
            asset = {**asset, "href": f"{storage.public_url.rstrip('/')}/{quote(stored)}", "alternate": alternate}
        assets[name] = asset
    extensions = list(item.get("stac_extensions", []))
    if any("alternate" in a for a in assets.values()) and ALTERNATE_ASSETS not in extensions:
        extensions.append(ALTERNATE_ASSETS)
    return {**item, "stac_extensions": extensions, "assets": assets}


def key_under(relative: str) -> str | None:
    """The product key a path relative to the root lies under (``<collection>/<tile>/<year>/<product>``)."""
    parts = relative.split("/")
    if len(parts) <= KEY_DEPTH or any(part in ("", ".", "..") for part in parts):
        return None  # not a product's file, or a path that would climb out of its place
    return "/".join(parts[:KEY_DEPTH])


def _hidden(key: str) -> bool:
    return any(part.startswith(".") for part in key.split("/"))
