"""Fetching one remote file: https through httpx, s3 through obstore (endpoint and credentials from the usual
``AWS_*`` variables).

A download is retried with back-off when the connection fails, times out or the server answers 408, 429 or
5xx, and resumed where it stopped (an HTTP ``Range`` request from the bytes already written), not restarted.
Another answer (404, 403) is not retried here: the job fails, naming the file, and the queue retries the job.
The file is written under a temporary name, checked against the item's ``file:size`` and ``file:checksum``,
synced and renamed: a file under its final name is whole.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hymotep.errors import HymotepError
from hymotep.storage import internal_href

CHUNK = 1 << 20
# Multihash function codes (the multicodec table) to hashlib's names: file:checksum is a multihash in hex.
MULTIHASH: dict[int, str] = {
    0x11: "sha1", 0x12: "sha256", 0x13: "sha512", 0x14: "sha3_512", 0x15: "sha3_384", 0x16: "sha3_256",
    0x17: "sha3_224", 0x20: "sha384", 0xD5: "md5", 0x1013: "sha224", 0x1014: "sha512_224", 0x1015: "sha512_256",
}  # fmt: skip
SHA2_256 = 0x12
BLAKE2B, BLAKE2S = range(0xB201, 0xB241), range(0xB241, 0xB261)  # blake2b-8..512, blake2s-8..256
REMOTE_SCHEMES = ("http", "https", "s3")


class StagingError(HymotepError):
    """An input cannot be fetched into the input cache, or what was fetched is not what its item describes."""


class _Transient(Exception):
    """A failure worth trying again (connection lost, time-out, a busy server)."""


@dataclass(frozen=True)
class Retry:
    """How hard a download is tried: ``attempts`` in all, waiting ``backoff_s``, then twice as long, ..."""

    attempts: int = 5
    backoff_s: float = 1.0
    timeout_s: float = 60.0


@dataclass(frozen=True)
class RemoteFile:
    href: str
    label: str  # what an error names: collection/item id, asset key
    size: int | None = None  # file:size
    checksum: str | None = None  # file:checksum, a multihash in hex

    @classmethod
    def of(cls, label: str, asset: dict[str, Any]) -> RemoteFile:
        """The file of ``asset`` where a worker reads it (its internal location, ``internal_href``)."""
        size = asset.get("file:size")
        checksum = asset.get("file:checksum")
        return cls(internal_href(asset), label, size if isinstance(size, int) else None,
                   checksum if isinstance(checksum, str) else None)  # fmt: skip


def is_remote(href: str) -> bool:
    return urlsplit(href).scheme.lower() in REMOTE_SCHEMES


def fetch(remote: RemoteFile, destination: Path, retry: Retry) -> int:
    """Fetch ``remote`` to ``destination``, resuming a part left by an earlier attempt; its size in bytes."""
    part = destination.with_name(destination.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    download = _s3 if urlsplit(remote.href).scheme.lower() == "s3" else _http
    for attempt in range(1, retry.attempts + 1):
        try:
            download(remote, part, retry.timeout_s)
            break
        except _Transient as exc:
            if attempt == retry.attempts:
                raise StagingError(f"{remote.label}: {remote.href} could not be fetched after {attempt} attempts: "
                                   f"{exc}") from None  # fmt: skip
            time.sleep(retry.backoff_s * 2 ** (attempt - 1))
    try:
        check(remote, part)
    except StagingError:
        part.unlink()  # a wrong file is not resumed: the next attempt starts afresh
        raise
    with part.open("rb") as written:
        os.fsync(written.fileno())
    os.replace(part, destination)
    sync_folder(destination.parent)
    return destination.stat().st_size


def check(remote: RemoteFile, path: Path) -> None:
    """``StagingError`` unless ``path`` has the size and checksum ``remote``'s item gives."""
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        raise StagingError(f"{remote.label}: {remote.href} gave {size} bytes, its item says file:size {remote.size}")
    if remote.checksum is None:
        return
    name, new_hash, expected = decode_multihash(remote.checksum, remote.label)
    actual = file_digest(path, new_hash)[: len(expected)]
    if actual != expected:
        raise StagingError(f"{remote.label}: checksum mismatch for {remote.href}: {name} {actual.hex()}, its item "
                           f"says {expected.hex()} (file:checksum {remote.checksum})")  # fmt: skip


def file_digest(path: Path, new_hash: Callable[[], Any]) -> bytes:
    """The digest of the file at ``path`` by the hash ``new_hash`` makes, read in blocks."""
    digest = new_hash()
    with path.open("rb") as data:
        while block := data.read(CHUNK):
            digest.update(block)
    result: bytes = digest.digest()
    return result


def sha256_multihash(path: Path) -> str:
    """The ``file:checksum`` of the file at ``path``: its SHA2-256 as a multihash in hex (``1220`` + digest)."""
    digest = file_digest(path, hashlib.sha256)
    return f"{SHA2_256:02x}{len(digest):02x}{digest.hex()}"  # both below 0x80: one-byte varints


def decode_multihash(text: str, label: str) -> tuple[str, Callable[[], Any], bytes]:
    """(function name, hashlib constructor, digest) of a multihash in hex: <varint code><varint length><digest>.
    The digest may be shorter than the function's, as multihash allows (a truncated digest)."""
    try:
        data = bytes.fromhex(text)
        code, at = _varint(data, 0)
        length, at = _varint(data, at)
    except (ValueError, IndexError):
        raise StagingError(f"{label}: file:checksum {text!r} is not a multihash in hex") from None
    digest = data[at:]
    if len(digest) != length or not length:
        raise StagingError(f"{label}: file:checksum {text!r} says {length} digest bytes and has {len(digest)}")
    for family, codes in (("blake2b", BLAKE2B), ("blake2s", BLAKE2S)):
        if code in codes:
            size = code - codes.start + 1
            return f"{family}-{size * 8}", partial(getattr(hashlib, family), digest_size=size), digest
    if code not in MULTIHASH:
        raise StagingError(f"{label}: file:checksum uses multihash function 0x{code:x}, which hesp cannot compute")
    return MULTIHASH[code], partial(hashlib.new, MULTIHASH[code]), digest


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """An unsigned LEB128 varint of ``data`` at ``at``, and the position after it."""
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _http(remote: RemoteFile, part: Path, timeout_s: float) -> None:
    offset = part.stat().st_size if part.exists() else 0
    if remote.size is not None and offset >= remote.size:
        return  # whole already (or too long: the check says so)
    # The bytes as stored (no content coding), so that a range counts what the part holds.
    headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={offset}-"} if offset else {})}
    import httpx  # here: every worker and command imports this module, few fetch over HTTP

    try:
        with httpx.stream("GET", remote.href, headers=headers, timeout=timeout_s, follow_redirects=True) as answer:
            status = answer.status_code
            if status == 416 and offset:
                return  # nothing after what was written: the part is whole
            if status in (408, 429) or status >= 500:
                raise _Transient(f"HTTP {status}")
            if status >= 400:
                raise StagingError(f"{remote.label}: {remote.href} answered HTTP {status}")
            resumed = status == 206 and answer.headers.get("content-range", "").startswith(f"bytes {offset}-")
            with part.open("ab" if resumed else "wb") as out:
                for block in answer.iter_raw():  # as it comes: what arrived before a cut is kept
                    out.write(block)
    except httpx.TransportError as exc:  # refused, reset, cut mid-body, timed out: resumed at the next attempt
        raise _Transient(f"{type(exc).__name__}: {exc}") from None


def list_objects(prefix: str) -> list[tuple[str, int]]:
    """(``s3://bucket/key``, size) of every object under ``prefix`` (``s3://bucket/folder/``)."""
    import obstore
    from obstore.exceptions import BaseError
    from obstore.store import S3Store

    url = urlsplit(prefix)
    try:
        batches = list(obstore.list(S3Store(url.netloc), url.path.lstrip("/")))
    except BaseError as exc:
        raise StagingError(f"{prefix} cannot be listed: {str(exc).splitlines()[0]}") from None
    return [(f"s3://{url.netloc}/{meta['path']}", int(meta["size"])) for batch in batches for meta in batch]


def _s3(remote: RemoteFile, part: Path, timeout_s: float) -> None:
    import obstore
    from obstore.exceptions import BaseError, NotFoundError, PermissionDeniedError, UnauthenticatedError
    from obstore.store import S3Store

    url = urlsplit(remote.href)
    offset = part.stat().st_size if part.exists() else 0
    if remote.size is not None and offset >= remote.size:
        return
    store = S3Store(url.netloc)  # its time-outs and retries of a request are obstore's own
    try:
        answer = obstore.get(store, url.path.lstrip("/"), options={"range": {"offset": offset}} if offset else {})
        with part.open("ab" if offset else "wb") as out:
            for block in answer.stream(min_chunk_size=CHUNK):
                out.write(bytes(block))
    except (FileNotFoundError, PermissionError, NotFoundError, PermissionDeniedError, UnauthenticatedError) as exc:
        raise StagingError(f"{remote.label}: {remote.href} cannot be read: {str(exc).splitlines()[0]}") from None
    except BaseError as exc:
        raise _Transient(str(exc).splitlines()[0]) from None
