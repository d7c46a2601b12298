"""Staged inputs: Sentinel-1 GRD slices served by a real HTTP server on loopback (with Range requests, and the
faults an upstream archive has: a connection dropped mid-file, a 404, a file that is not what its item says)
fetched into the input cache, bounded by size; a whole S1Tiling job run on remote inputs through ``hesp run``."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from adapter_inputs import s1tiling_collections, write_dem_tiles, write_grd, write_tile_dem
from conftest import hesp
from run_scenario import write_request
from shapely.geometry import box

from hygor.db import Database
from hygor.loader import ItemLoader
from hymotep.input_cache import CachePolicy, InputCache
from hymotep.job_inputs import InputItem, JobInputs, Unit
from hymotep.staging import Retry, StagingError, decode_multihash
from reference_chains import launchers

TILE = "31TCJ"
DESCENDING = datetime(2023, 1, 10, 5, 50, 0, tzinfo=UTC)
ASCENDING = datetime(2023, 1, 16, 17, 45, 0, tzinfo=UTC)
QUICK = Retry(attempts=3, backoff_s=0.05, timeout_s=10)


class Upstream(ThreadingHTTPServer):
    """Serves ``root`` over HTTP/1.1 with single byte ranges (``bytes=N-``), and the faults it is told: a file
    whose first answer stops after ``cut[path]`` bytes (the connection dropped), files that are ``missing``."""

    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.cut: dict[str, int] = {}
        self.missing: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def gets(self, path: str) -> list[str | None]:
        """The Range headers of the requests for ``path`` (None: the whole file)."""
        return [r for p, r in self.requests if p == path]

    def remote(self, item: dict[str, Any]) -> dict[str, Any]:
        """``item`` with its local hrefs under ``root`` made URLs of this server."""
        assets = {}
        for key, asset in item["assets"].items():
            path = Path(str(asset["href"]).removeprefix("file://")).relative_to(self.root)
            assets[key] = {**asset, "href": f"{self.url}/{path.as_posix()}"}
        return {**item, "assets": assets}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Upstream

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = unquote(urlsplit(self.path).path).lstrip("/")
        wanted = self.headers.get("Range")
        self.server.requests.append((path, wanted))
        file = self.server.root / path
        if path in self.server.missing or not file.is_file():
            self._answer(404, b"not found")
            return
        data = file.read_bytes()
        start = int(match[1]) if wanted and (match := re.fullmatch(r"bytes=(\d+)-", wanted)) else 0
        if start >= len(data) and wanted:
            self._answer(416, b"", {"Content-Range": f"bytes */{len(data)}"})
            return
        body = data[start:]
        headers = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"} if wanted else {}
        cut = self.server.cut.pop(path, None)
        self._answer(206 if wanted else 200, body if cut is None else body[:cut], headers, length=len(body))
        if cut is not None:
            self.close_connection = True  # the rest never comes: the client sees the connection end mid-body

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None, length: int = -1) -> None:
        self.send_response(status)
        for name, value in {**(headers or {}), "Content-Length": str(length if length >= 0 else len(body))}.items():
            self.send_header(name, value)
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Upstream]:
    root = tmp_path / "upstream"
    root.mkdir()
    server = Upstream(root)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def slice_at(upstream: Upstream, start: datetime, **fields: Any) -> dict[str, Any]:
    """A descending GRD slice over 31TCJ written under the server's root, its item pointing at the server."""
    item = write_grd(upstream.root / "grd", start, relative_orbit=8, direction="DESCENDING",
                     footprint=box(0.2, 43.8, 2.2, 44.6))  # fmt: skip
    remote = upstream.remote(item)
    for key, values in fields.items():
        remote["assets"][key].update(values)
    return remote


def inputs_of(*items: dict[str, Any]) -> JobInputs:
    return JobInputs(Unit(TILE, 0, DESCENDING), tuple(InputItem("primary", item) for item in items))


def served_path(item: dict[str, Any], key: str) -> str:
    return urlsplit(item["assets"][key]["href"]).path.lstrip("/")


def multihash(algorithm: str, data: bytes) -> str:
    """file:checksum of ``data``: sha2-256 is code 0x12, md5 0xd5 (a two-byte varint: d5 01)."""
    prefix = {"sha256": "1220", "md5": "d50110"}[algorithm]
    return prefix + hashlib.new(algorithm, data).hexdigest()


def test_a_safe_is_fetched_in_its_layout_and_a_dropped_connection_is_resumed(
    upstream: Upstream, tmp_path: Path
) -> None:
    item = slice_at(upstream, DESCENDING)
    vv = served_path(item, "vv")
    whole = (upstream.root / vv).read_bytes()
    upstream.cut[vv] = len(whole) // 2
    item["assets"]["vv"]["file:checksum"] = multihash("sha256", whole)
    item["assets"]["vh"]["file:checksum"] = multihash("md5", (upstream.root / served_path(item, "vh")).read_bytes())
    cache = InputCache(CachePolicy(tmp_path / "cache", retry=QUICK))
    log: list[str] = []
    with cache.staged(inputs_of(item), log.append) as staged:
        product = staged.primary[0].product_path()
        assert product == tmp_path / "cache" / "sentinel-1-grd" / item["id"] / f"{item['id']}.SAFE"
        assert (product / "manifest.safe").is_file() and (product / "measurement" / Path(vv).name).read_bytes() == whole
    # The first answer stopped half-way; the second asked for the rest only.
    assert upstream.gets(vv) == [None, f"bytes={len(whole) // 2}-"]
    assert not list((tmp_path / "cache").rglob("*.part")) and len(log) == 3
    # Staged again: nothing is fetched, the copy is used.
    with cache.staged(inputs_of(item)) as again:
        assert again.primary[0].product_path() == product
    assert len(upstream.gets(vv)) == 2


def test_a_checksum_or_size_mismatch_is_a_clear_failure_and_nothing_is_kept(upstream: Upstream, tmp_path: Path) -> None:
    wrong = slice_at(upstream, DESCENDING, vv={"file:checksum": multihash("sha256", b"another file")})
    cache = InputCache(CachePolicy(tmp_path / "cache", retry=QUICK))
    with pytest.raises(StagingError, match=rf"sentinel-1-grd/{wrong['id']} asset vv: checksum mismatch .* sha256"):
        with cache.staged(inputs_of(wrong)):
            pass
    entry = tmp_path / "cache" / "sentinel-1-grd" / wrong["id"]
    assert not (entry / f"{wrong['id']}.SAFE" / "measurement" / Path(served_path(wrong, "vv")).name).exists()
    assert not list(entry.rglob("*.part")) and not entry.with_name(f"{wrong['id']}.json").exists()

    short = slice_at(upstream, DESCENDING + timedelta(seconds=25), vh={"file:size": 10**6})
    with pytest.raises(StagingError, match=r"asset vh: .* gave \d+ bytes, its item says file:size 1000000"):
        with cache.staged(inputs_of(short)):
            pass


def test_a_404_fails_at_once_naming_the_file(upstream: Upstream, tmp_path: Path) -> None:
    item = slice_at(upstream, DESCENDING)
    upstream.missing.add(served_path(item, "vh"))
    cache = InputCache(CachePolicy(tmp_path / "cache", retry=QUICK))
    with pytest.raises(StagingError, match=rf"{item['id']} asset vh: http://\S+ answered HTTP 404"):
        with cache.staged(inputs_of(item)):
            pass
    assert len(upstream.gets(served_path(item, "vh"))) == 1  # not retried here: the job is, by the queue


def test_a_server_that_keeps_failing_is_retried_then_given_up(tmp_path: Path) -> None:
    item = {"collection": "sentinel-1-grd", "id": "S1A_X", "assets": {
        "vv": {"href": "http://127.0.0.1:9/S1A_X.SAFE/measurement/vv.tiff", "roles": ["data"]}}}  # fmt: skip
    cache = InputCache(CachePolicy(tmp_path / "cache", retry=QUICK))
    with pytest.raises(StagingError, match=r"S1A_X asset vv: .* could not be fetched after 3 attempts: ConnectError"):
        with cache.staged(inputs_of(item)):
            pass


def test_the_least_recently_used_entries_go_never_one_in_use(upstream: Upstream, tmp_path: Path) -> None:
    items = [slice_at(upstream, DESCENDING + timedelta(minutes=n)) for n in range(4)]
    size = sum(a["file:size"] for a in items[0]["assets"].values())
    cache = InputCache(CachePolicy(tmp_path / "cache", max_bytes=2 * size + size // 2, retry=QUICK))

    def cached() -> set[str]:
        return {entry.item_id for entry in cache.entries()}

    for item in items[:2]:
        with cache.staged(inputs_of(item)):
            pass
    os.utime(tmp_path / "cache" / "sentinel-1-grd" / f"{items[1]['id']}.json", (1, 1))  # 1 used long ago
    with cache.staged(inputs_of(items[2])):
        pass
    assert cached() == {items[0]["id"], items[2]["id"]}  # two fit: the least recently used went
    with cache.staged(inputs_of(items[0])):  # 0 is the oldest, but in use: 2 goes instead
        os.utime(tmp_path / "cache" / "sentinel-1-grd" / f"{items[0]['id']}.json", (1, 1))
        with cache.staged(inputs_of(items[3])):
            assert cached() == {items[0]["id"], items[3]["id"]}
    assert sum(entry.size() for entry in cache.entries()) <= cache.policy.max_bytes


def test_jobs_staging_the_same_item_at_once_fetch_it_once(upstream: Upstream, tmp_path: Path) -> None:
    item = slice_at(upstream, DESCENDING)
    products: list[Path] = []

    def job() -> None:
        with InputCache(CachePolicy(tmp_path / "cache", retry=QUICK)).staged(inputs_of(item)) as staged:
            products.append(staged.primary[0].product_path())

    threads = [threading.Thread(target=job) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(products) == 4 and len(set(products)) == 1
    assert all(len(upstream.gets(served_path(item, key))) == 1 for key in item["assets"])


def test_multihash_codes_and_lengths() -> None:
    data = b"abc"
    assert decode_multihash(multihash("sha256", data), "x")[0] == "sha256"
    name, new_hash, digest = decode_multihash(multihash("md5", data), "x")
    assert name == "md5" and new_hash().name == "md5" and digest == hashlib.md5(data).digest()
    blake = "c0e40240" + hashlib.blake2b(data).hexdigest()  # blake2b-512: code 0xb240, varint c0 e4 02
    assert decode_multihash(blake, "x")[0] == "blake2b-512"
    with pytest.raises(StagingError, match="says 32 digest bytes and has 3"):
        decode_multihash("1220abcdef", "x")
    with pytest.raises(StagingError, match="multihash function 0x1e"):  # blake3: not in hashlib
        decode_multihash("1e20" + "00" * 32, "x")


def test_a_job_whose_inputs_are_remote_runs_after_staging(db_url: str, upstream: Upstream, tmp_path: Path) -> None:
    """Two slices of a pass, one of them cut mid-file by the server: one S1Tiling unit, run on the cached
    copies. A pass whose file answers 404 fails with that error after its attempts; a pass whose slice the
    upstream archive only offers to order is blocked in the gaps, and queued for no job."""
    srtm = write_dem_tiles(tmp_path / "srtm", west=0, south=43, east=2, north=45)
    collections = s1tiling_collections(tmp_path, srtm)
    grd = upstream.root / "grd"
    descending = [
        write_grd(grd, DESCENDING, relative_orbit=8, direction="DESCENDING", footprint=box(0.2, 43.8, 2.2, 44.6)),
        write_grd(grd, DESCENDING + timedelta(seconds=25), relative_orbit=8, direction="DESCENDING",
                  footprint=box(0.1, 43.0, 2.1, 43.9)),
    ]  # fmt: skip
    ascending = write_grd(grd, ASCENDING, relative_orbit=132, direction="ASCENDING",
                          footprint=box(0.0, 43.1, 1.4, 44.6))  # fmt: skip
    offline = write_grd(grd, ASCENDING + timedelta(days=6), relative_orbit=132, direction="ASCENDING",
                        footprint=box(0.0, 43.1, 1.4, 44.6))  # fmt: skip
    remote = [upstream.remote(item) for item in [*descending, ascending, offline]]
    remote[3]["properties"]["order:status"] = "orderable"  # listed by the archive, its files not online
    cut = served_path(remote[1], "vv")
    upstream.cut[cut] = 300
    upstream.missing.add(served_path(remote[2], "vh"))
    dem = write_tile_dem(tmp_path / "dem-tiles", TILE)
    with ItemLoader(Database(db_url)) as loader:
        loader.load([*remote, dem])
    cache = tmp_path / "input-cache"
    env = {
        "HESP_DATABASE_URL": db_url,
        "HESP_COLLECTIONS_DIR": str(collections),
        "HESP_STORAGE": str(tmp_path / "storage"),
        "HESP_WORK_DIR": str(tmp_path / "work"),
        "HESP_CHAIN_PATH": str(launchers.install(tmp_path / "bin")),
        "HESP_INPUT_CACHE": str(cache),
    }
    added = hesp("request", "add", str(write_request(tmp_path, "s1", "s1tiling-backscatter", "2023-01-01",
                                                     "2023-01-31")), env=env)  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    gaps = hesp("gaps", "-c", "s1tiling-backscatter", "--list", "--format", "json", env=env)
    units = {u["acquired"]: (u["state"], u["reason"]) for u in json.loads(gaps.stdout)}
    assert units == {
        "2023-01-10T05:50:00Z": ("runnable", None),
        "2023-01-16T17:45:00Z": ("runnable", None),
        "2023-01-22T17:45:00Z": ("blocked", f"sentinel-1-grd {offline['id']} is catalogued but not fetchable yet"),
    }

    result = hesp("run", "--collection", "s1tiling-backscatter", "--workers", "1", "--backoff", "0", env=env)
    assert result.returncode == 1, result.stdout + result.stderr  # the 404 pass failed
    with Database(db_url).connect() as conn:
        jobs = {(r["state"], r["attempts"]): r["last_error"] for r in conn.execute("SELECT * FROM hesp.jobs")}
        made = conn.execute("SELECT id FROM hesp.inventory WHERE collection = 's1tiling-backscatter'").fetchall()
    assert set(jobs) == {("succeeded", 1), ("failed", 3)}
    assert re.fullmatch(rf"sentinel-1-grd/{ascending['id']} asset vh: http://\S+ answered HTTP 404",
                        jobs["failed", 3])  # fmt: skip
    assert [r["id"] for r in made] == ["s1a_31TCJ_DES_008_20230110txxxxxx"]
    assert upstream.gets(cut) == [None, "bytes=300-"]  # resumed, not restarted
    for item in descending:
        safe = cache / "sentinel-1-grd" / item["id"] / f"{item['id']}.SAFE"
        local = Path(item["assets"]["vv"]["href"].removeprefix("file://"))
        assert (safe / "measurement" / local.name).read_bytes() == local.read_bytes()
    assert not list(cache.rglob("*.part"))

    after = hesp("gaps", "-c", "s1tiling-backscatter", "--list", "--format", "json", env=env)
    assert {u["acquired"]: u["state"] for u in json.loads(after.stdout)} == {
        "2023-01-16T17:45:00Z": "failed", "2023-01-22T17:45:00Z": "blocked",
    }  # fmt: skip


def test_an_s3_input_is_fetched_with_the_aws_settings(s3_endpoint: str, upstream: Upstream, tmp_path: Path) -> None:
    import obstore
    from obstore.store import S3Store

    assert httpx.put(f"{s3_endpoint}/archive").status_code == 200  # the bucket
    item = slice_at(upstream, DESCENDING)
    store = S3Store("archive")
    for asset in item["assets"].values():
        key = urlsplit(asset["href"]).path.lstrip("/")
        data = (upstream.root / key).read_bytes()
        obstore.put(store, key, data)
        asset["href"] = f"s3://archive/{key}"
        asset["file:checksum"] = multihash("sha256", data)
    item["assets"]["vv"]["file:checksum"] = multihash("md5", b"not the file")
    cache = InputCache(CachePolicy(tmp_path / "cache", retry=QUICK))
    with pytest.raises(StagingError, match="asset vv: checksum mismatch for s3://archive/"):
        with cache.staged(inputs_of(item)):
            pass
    item["assets"]["vv"]["file:checksum"] = multihash("sha256", (upstream.root / served_path(item, "vv")).read_bytes())
    with cache.staged(inputs_of(item)) as staged:
        product = staged.primary[0].product_path()
        assert product.name == f"{item['id']}.SAFE" and (product / "manifest.safe").is_file()
    item["assets"]["vh"]["href"] += ".missing"
    with pytest.raises(StagingError, match=r"asset vh: s3://archive/\S+ cannot be read"):
        with InputCache(CachePolicy(tmp_path / "other", retry=QUICK)).staged(inputs_of(item)):
            pass
