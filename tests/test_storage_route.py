"""``hesp serve`` serves a POSIX storage root read-only at ``/storage/<key>``: HTTP ranges as GDAL and browsers
use them, nothing outside the root's files, no writes; GDAL reads a window of a COG without fetching it whole."""

from __future__ import annotations

import http.client
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
import rasterio
from products import write_cog, write_picture
from rasterio.windows import Window
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hydra.storage_files import StorageFiles, posix_root
from hydra.web import create_app
from hygor import Catalog, grid
from hygor.api.server import BackgroundServer
from hymotep.settings import ProductionSettings

TILE = grid.tile("31TCJ")
COG = "maja-l2a/31TCJ/2023/PRODUCT/PRODUCT_FRE_B4.tif"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


@dataclass
class Seen:
    """What the server answered: (method, path, Range header, status, body bytes) per request."""

    requests: list[tuple[str, str, str | None, int, int]] = field(default_factory=list)


class Recorder:
    def __init__(self, app: ASGIApp, seen: Seen) -> None:
        self.app, self.seen = app, seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        answer = {"status": 0, "bytes": 0}

        async def recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                answer["bytes"] += len(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, recording)
        ranged = headers.get(b"range", b"").decode() or None
        self.seen.requests.append((scope["method"], scope["path"], ranged, answer["status"], answer["bytes"]))


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    """A storage root: a 2048 px COG (noise: it does not compress), a PNG, an XML, a log, and what may not be
    served: a hidden staging folder, a link out of the root, a file beside the root."""
    root = tmp_path / "storage"
    noise = np.random.default_rng(15).integers(0, 10000, (2048, 2048), dtype=np.int16)
    write_cog(root / COG, noise, TILE, nodata=-10000)
    product = (root / COG).parent
    write_picture(product / "PRODUCT_thumbnail.png", "PNG")
    (product / "PRODUCT_MTD_ALL.xml").write_text("<Muscate_Metadata_Document/>")
    (root / "logs" / "maja-l2a" / "31TCJ").mkdir(parents=True)
    (root / "logs" / "maja-l2a" / "31TCJ" / "job-1-1.log").write_text("a secret a chain printed\n")
    (root / "maja-l2a" / ".PRODUCT.old-1234").mkdir()
    (root / "maja-l2a" / ".PRODUCT.old-1234" / "x.xml").write_text("<old/>")
    (tmp_path / "beside.txt").write_text("not in the storage")
    (root / "out.txt").symlink_to(tmp_path / "beside.txt")
    (root / "etc").symlink_to("/etc")
    (product / "same.xml").symlink_to(product / "PRODUCT_MTD_ALL.xml")  # inside the root: served
    return root


@pytest.fixture
def server(db_url: str, storage: Path) -> Iterator[tuple[str, Seen]]:
    seen = Seen()
    app = create_app(Catalog(ProductionSettings(database_url=db_url, storage=storage)))
    app.add_middleware(Recorder, seen=seen)
    with BackgroundServer(app) as url:
        yield url, seen


def raw_status(base: str, path: str, method: str = "GET") -> tuple[int, bytes]:
    """The status and body for ``path`` sent as it is (httpx would resolve dot segments first)."""
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=30)
    try:
        connection.request(method, path)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def test_files_are_served_whole_in_ranges_and_by_head(server: tuple[str, Seen], storage: Path) -> None:
    base, _ = server
    data = (storage / COG).read_bytes()
    with httpx.Client(base_url=f"{base}/storage", timeout=30) as client:
        whole = client.get(COG)
        assert whole.status_code == 200 and whole.content == data
        headers = whole.headers
        assert headers["content-type"] == COG_TYPE and headers["accept-ranges"] == "bytes"
        assert int(headers["content-length"]) == len(data) and headers["etag"] and headers["last-modified"]
        assert "content-encoding" not in headers  # never compressed, even when the client accepts it

        head = client.head(COG)
        assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(data))
        assert head.headers["etag"] == headers["etag"]

        part = client.get(COG, headers={"Range": "bytes=100-1123", "Accept-Encoding": "br, gzip"})
        assert part.status_code == 206 and part.content == data[100:1124]
        assert part.headers["content-range"] == f"bytes 100-1123/{len(data)}"
        assert part.headers["content-length"] == "1024" and "content-encoding" not in part.headers
        tail = client.get(COG, headers={"Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.content == data[-10:]
        beyond = client.get(COG, headers={"Range": f"bytes={len(data)}-"})
        assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(data)}"

        product = Path(COG).parent
        assert client.get(f"{product}/PRODUCT_thumbnail.png").headers["content-type"] == "image/png"
        xml = client.get(f"{product}/PRODUCT_MTD_ALL.xml")
        assert xml.headers["content-type"] == "application/xml" and xml.text == "<Muscate_Metadata_Document/>"
        assert client.get(f"{product}/same.xml").text == xml.text  # a link that stays in the root
        cross_origin = client.get(COG, headers={"Origin": "http://portal.example", "Range": "bytes=0-9"})
        assert cross_origin.headers["access-control-allow-origin"] == "*"
        assert "Content-Range" in cross_origin.headers["access-control-expose-headers"]
    assert 'route="/storage/{key:path}",status="206"' in httpx.get(f"{base}/metrics", timeout=30).text


UNSERVED = [
    "/storage/",
    "/storage",
    "/storage/maja-l2a",
    "/storage/maja-l2a/31TCJ/2023/PRODUCT/",
    "/storage/../../etc/passwd",
    "/storage/maja-l2a/../../beside.txt",
    "/storage/..%2f..%2fetc%2fpasswd",
    "/storage/%2e%2e/beside.txt",
    "/storage/maja-l2a%2F31TCJ%2F2023%2FPRODUCT%2FPRODUCT_MTD_ALL.xml",
    "/storage/maja-l2a%5C31TCJ",
    "/storage/out.txt",
    "/storage/etc/passwd",
    "/storage/maja-l2a/.PRODUCT.old-1234/x.xml",
    "/storage/logs/maja-l2a/31TCJ/job-1-1.log",
    "/storage/maja-l2a/31TCJ/2023/PRODUCT/missing.tif",
    "/storage/maja-l2a/31TCJ/2023/PRODUCT//PRODUCT_MTD_ALL.xml",
]


def test_nothing_but_the_roots_files_is_served(server: tuple[str, Seen]) -> None:
    """No listing, no escape (dot segments, encoded separators, links out), no hidden folder, no job log."""
    for path in UNSERVED:
        for method in ("GET", "HEAD"):
            status, body = raw_status(server[0], path, method)
            assert status == 404, (method, path, body[:200])
            assert b"secret" not in body and b"root:" not in body and b"not in the storage" not in body


def test_the_storage_is_read_only(server: tuple[str, Seen], storage: Path) -> None:
    before = (storage / COG).read_bytes()
    with httpx.Client(base_url=f"{server[0]}/storage", timeout=30) as client:
        for method in ("PUT", "POST", "DELETE", "PATCH"):
            answer = client.request(method, COG, content=b"overwritten")
            assert answer.status_code in (401, 405), method  # writes need the token first, then are refused
        assert client.request("PROPFIND", "maja-l2a").status_code == 405
        preflight = client.options(COG, headers={"Origin": "http://portal.example",
                                                 "Access-Control-Request-Headers": "range"})  # fmt: skip
        assert preflight.status_code == 204 and "Range" in preflight.headers["access-control-allow-headers"]
    assert (storage / COG).read_bytes() == before


def test_gdal_reads_a_window_of_a_cog_through_vsicurl_in_ranges(server: tuple[str, Seen], storage: Path) -> None:
    base, seen = server
    window = Window(1024, 512, 256, 256)
    with rasterio.open(storage / COG) as local:
        expected = local.read(1, window=window)
    url = f"/vsicurl/{base}/storage/{COG}"
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", GDAL_HTTP_MAX_RETRY="0"):
        with rasterio.open(url) as remote:
            assert remote.shape == (2048, 2048) and remote.overviews(1)
            assert (remote.read(1, window=window) == expected).all()
    reads = [r for r in seen.requests if r[1] == f"/storage/{COG}" and r[0] == "GET"]
    assert reads and all(ranged and status == 206 for _, _, ranged, status, _ in reads), reads
    size = os.path.getsize(storage / COG)
    assert sum(sent for *_, sent in reads) < size / 4, (size, reads)


def test_an_s3_storage_is_not_served(tmp_path: Path) -> None:
    s3 = ProductionSettings(database_url="postgresql://nowhere/hesp", storage="s3://bucket/prefix")  # type: ignore[arg-type]
    assert posix_root(s3) is None
    assert StorageFiles not in [middleware.cls for middleware in create_app(Catalog(s3)).user_middleware]
    assert posix_root(ProductionSettings(storage=tmp_path)) == tmp_path
    assert posix_root(ProductionSettings(home=tmp_path)) == tmp_path / "storage"


def test_hesp_serve_serves_the_storage_root_of_its_settings(db_url: str, storage: Path, serve) -> None:  # type: ignore[no-untyped-def]
    server = serve({"HESP_DATABASE_URL": db_url, "HESP_STORAGE": str(storage)})
    answer = httpx.get(f"{server.url}/storage/{COG}", headers={"Range": "bytes=0-3"}, timeout=30)
    assert answer.status_code == 206 and answer.content == (storage / COG).read_bytes()[:4]
    assert f"{storage} at {server.url}/storage/" in server.output()
