"""The input cache: where the remote inputs of a job are fetched before its chain runs.

An item whose assets are remote (https or s3, as harvested from an upstream catalogue) is one cache entry,
``<cache>/<collection>/<item id>/``, its files laid out as under the common folder of their hrefs, so that a
``.SAFE`` whose manifest and measurements are fetched is ``<entry>/<name>.SAFE/...`` as the chains expect it.
Beside the folder, ``<item id>.json`` says that the entry is whole (written last, renamed into place: its
modification time is the entry's last use) and ``<item id>.lock`` is the entry's lock:

- a job holds it shared while its chain runs, so that no entry in use is evicted;
- it is held exclusively to fill the entry (concurrent jobs staging the same item wait for one download) and to
  evict it (never waited for: an entry in use is passed over).

Entries are taken in (collection, id) order, so that two jobs never wait for each other. The cache stays under
its size bound by evicting the least recently used entries not in use, before and after each fill.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from hymotep.job_inputs import PRODUCT_FOLDERS, InputItem, JobInputs
from hymotep.staging import RemoteFile, Retry, StagingError, fetch, is_remote, list_objects, sync_folder
from hymotep.storage import internal_href, key_under

GB = 1_000_000_000
PREVIEWS = {"thumbnail", "overview"}  # not fetched: no chain reads them
Log = Callable[[str], None]
_SEMAPHORES: dict[int, threading.BoundedSemaphore] = {}
_SEMAPHORES_LOCK = threading.Lock()


@dataclass(frozen=True)
class CachePolicy:
    """Where the cache is and its bounds; plain values, sent to Dask workers as they are."""

    root: Path
    max_bytes: int | None = None  # None: unbounded
    downloads: int = 4  # files fetched at once by a worker process
    retry: Retry = field(default_factory=Retry)
    # The object storage's root (s3://bucket/prefix) when products are stored there: one of its products is staged
    # whole, every object under its key, as the chains read a product folder (MAJA NOMINAL, WASP), not its assets.
    product_root: str | None = None


@dataclass(frozen=True)
class _Asset:
    key: str
    remote: RemoteFile
    relative: PurePosixPath  # in the entry's folder


@dataclass(frozen=True)
class Entry:
    root: Path
    collection: str
    item_id: str

    @property
    def folder(self) -> Path:
        return self.root / _safe_name(self.collection) / _safe_name(self.item_id)

    @property
    def record(self) -> Path:
        return self.folder.with_name(self.folder.name + ".json")

    @property
    def lock_path(self) -> Path:
        return self.folder.with_name(self.folder.name + ".lock")

    def holds(self, assets: list[_Asset]) -> bool:
        """Whether it is whole with the files of ``assets`` (an item that gained assets since is filled again)."""
        return self.record.exists() and all((self.folder / a.relative).exists() for a in assets)

    def size(self) -> int:
        """Its bytes as its record says; 0 when it is not whole."""
        try:
            return int(json.loads(self.record.read_text())["bytes"])
        except (OSError, ValueError, KeyError):
            return 0


class InputCache:
    def __init__(self, policy: CachePolicy) -> None:
        self.policy = policy

    @contextmanager
    def staged(self, inputs: JobInputs, log: Log = lambda line: None) -> Iterator[JobInputs]:
        """``inputs`` with every remote asset replaced by its copy in the cache, fetched first when missing; the
        entries are held (not evicted) until the block ends. ``StagingError`` names the asset that failed."""
        remote = {(i.collection, i.id): i for i in inputs.all() if _remote_assets(i, None)}
        with ExitStack() as held:
            staged: dict[tuple[str, str], InputItem] = {}
            for key in sorted(remote):  # one order for every job: none waits for another holding what it needs
                staged[key] = self._stage(remote[key], held, log)
            self.evict()
            yield _replaced(inputs, staged)

    def evict(self, room: int = 0) -> list[Entry]:
        """Remove the least recently used entries not in use until the whole entries hold at most the bound less
        ``room`` bytes; the entries removed."""
        if self.policy.max_bytes is None:
            return []
        entries = sorted(self.entries(), key=_last_use)
        total = sum(e.size() for e in entries)
        removed = []
        for entry in entries:
            if total + room <= self.policy.max_bytes:
                break
            size = entry.size()
            if _remove_unless_in_use(entry):
                total -= size
                removed.append(entry)
        return removed

    def entries(self) -> list[Entry]:
        """The whole entries."""
        return [
            Entry(self.policy.root, unquote(record.parent.name), unquote(record.name.removesuffix(".json")))
            for record in self.policy.root.glob("*/*.json")
        ]

    def _stage(self, item: InputItem, held: ExitStack, log: Log) -> InputItem:
        entry = Entry(self.policy.root, item.collection, item.id)
        assets = _remote_assets(item, self.policy.product_root)
        entry.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(entry.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        held.callback(os.close, fd)  # closing it releases the lock
        while True:
            fcntl.flock(fd, fcntl.LOCK_SH)
            if entry.holds(assets):
                break
            fcntl.flock(fd, fcntl.LOCK_EX)  # not atomic: whoever got it first may have filled it meanwhile
            if not entry.holds(assets):
                self._fill(entry, assets, log)
            fcntl.flock(fd, fcntl.LOCK_SH)  # not atomic either: an eviction may come between, so look again
            if entry.holds(assets):
                break
        os.utime(entry.record)  # its last use
        hrefs = {a.key: str(entry.folder / a.relative) for a in assets}
        return _with_hrefs(item, hrefs)

    def _fill(self, entry: Entry, assets: list[_Asset], log: Log) -> None:
        """Fetch the files of ``entry`` (those missing: a file already renamed into place is whole), then write
        its record."""
        self.evict(room=sum(a.remote.size or 0 for a in assets))
        semaphore = _downloads(self.policy.downloads)

        def one(asset: _Asset) -> int:
            path = entry.folder / asset.relative
            if path.exists():
                return path.stat().st_size
            with semaphore:
                size = fetch(asset.remote, path, self.policy.retry)
            log(f"hesp: fetched {asset.remote.href} ({size} bytes) into the input cache")
            return size

        with ThreadPoolExecutor(max_workers=max(1, min(self.policy.downloads, len(assets)))) as pool:
            sizes = list(pool.map(one, assets))
        record = {"collection": entry.collection, "id": entry.item_id, "bytes": sum(sizes),
                  "files": {str(a.relative): size for a, size in zip(assets, sizes, strict=True)}}  # fmt: skip
        temporary = entry.record.with_name(entry.record.name + ".part")
        with temporary.open("w") as out:
            json.dump(record, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, entry.record)
        sync_folder(entry.record.parent)


def has_remote_assets(inputs: JobInputs) -> bool:
    """Whether staging ``inputs`` may fetch something (``InputCache.staged``)."""
    return any(_remote_assets(item, None) for item in inputs.all())


def _remote_assets(item: InputItem, product_root: str | None) -> list[_Asset]:
    """The remote assets of ``item`` to fetch (not its thumbnails), each with its place in the entry's folder:
    relative to the parent of the outermost product folder (``.SAFE``) their common folder lies in, else of
    their common folder. A product of the object storage under ``product_root`` comes whole: every object under
    its key, relative to the key's parent."""
    found = {
        key: asset for key, asset in item.item.get("assets", {}).items()
        if is_remote(internal_href(asset)) and not set(asset.get("roles") or ["data"]) <= PREVIEWS
    }  # fmt: skip
    if not found:
        return []
    paths = {key: PurePosixPath(unquote(urlsplit(internal_href(a)).path) or "/") for key, a in found.items()}
    label = f"{item.collection}/{item.id}"
    for key, path in paths.items():
        if ".." in path.parts or path.name in ("", "/"):
            raise StagingError(f"{label}: asset {key} has an href that is no file: {found[key]['href']}")
    folders = [p.parent for p in paths.values()]
    common = PurePosixPath(os.path.commonpath(folders))
    top = next((f for f in [*reversed(common.parents), common] if f.name.endswith(PRODUCT_FOLDERS)), common)
    stored = _stored_product(found, product_root)
    base = PurePosixPath(urlsplit(stored).path).parent if stored else top.parent
    assets = [
        _Asset(key, RemoteFile.of(f"{label} asset {key}", found[key]), path.relative_to(base))
        for key, path in sorted(paths.items())
    ]
    if stored:
        listed = {a.remote.href for a in assets}
        assets += [
            _Asset(f"object:{href}", RemoteFile(href, f"{label} object {href}", size),
                   PurePosixPath(urlsplit(href).path).relative_to(base))
            for href, size in list_objects(f"{stored}/") if href not in listed
        ]  # fmt: skip
    return assets


def _stored_product(assets: dict[str, dict[str, Any]], product_root: str | None) -> str | None:
    """``s3://bucket/prefix/<key>`` of the stored product whose assets these are; None unless every one lies
    under ``product_root``."""
    if product_root is None:
        return None
    hrefs = [internal_href(a) for a in assets.values()]
    root = product_root.rstrip("/") + "/"
    keys = {key_under(h[len(root) :]) for h in hrefs if h.startswith(root)}
    if len(keys) != 1 or None in keys or len(hrefs) != sum(h.startswith(root) for h in hrefs):
        return None
    return root + str(keys.pop())


def _with_hrefs(item: InputItem, hrefs: dict[str, str]) -> InputItem:
    """``item`` with the hrefs of its staged assets replaced by their copies (their ``alternate`` dropped, so that
    ``internal_href`` reads the copy)."""
    assets = {
        key: {**{k: v for k, v in asset.items() if k != "alternate"}, "href": hrefs[key]} if key in hrefs else asset
        for key, asset in item.item["assets"].items()
    }
    return InputItem(item.role, {**item.item, "assets": assets})


def _replaced(inputs: JobInputs, staged: dict[tuple[str, str], InputItem]) -> JobInputs:
    def local(item: InputItem) -> InputItem:
        copy = staged.get((item.collection, item.id))
        return InputItem(item.role, copy.item) if copy else item

    return replace(
        inputs,
        primary=tuple(map(local, inputs.primary)),
        auxiliary=tuple(map(local, inputs.auxiliary)),
        previous=local(inputs.previous) if inputs.previous else None,
        following=tuple(map(local, inputs.following)),
    )


def _remove_unless_in_use(entry: Entry) -> bool:
    """Remove ``entry`` when no job holds it (its lock free at once); whether it was removed."""
    try:
        fd = os.open(entry.lock_path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    try:
        if not entry.record.exists():
            return False  # evicted by another process meanwhile
        entry.record.unlink()  # first: an entry without its record is never taken as whole
        shutil.rmtree(entry.folder, ignore_errors=True)
        return True
    finally:
        os.close(fd)


def _last_use(entry: Entry) -> float:
    try:
        return entry.record.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _safe_name(name: str) -> str:
    """``name`` as one path component (item ids are plain names; anything else is quoted)."""
    return quote(name, safe="-_.+=,@~") if name not in ("", ".", "..") else quote(name.replace(".", "%2E"))


def _downloads(limit: int) -> threading.BoundedSemaphore:
    """The process's bound on downloads at once, shared by the jobs its threads run."""
    with _SEMAPHORES_LOCK:
        return _SEMAPHORES.setdefault(limit, threading.BoundedSemaphore(max(1, limit)))
