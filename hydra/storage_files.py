"""The storage root served read-only at ``/storage/<key>``: what the public hrefs of the products point at when
the storage is a POSIX folder (an S3 storage is served by S3 itself: nothing is mounted).

Files are answered by Starlette's ``FileResponse``: GET and HEAD, single and multiple HTTP ranges (206 with
Content-Range, 416 when unsatisfiable), ``Accept-Ranges``, ``Content-Length``, ``ETag`` and ``Last-Modified``,
so that GDAL reads a COG through ``/vsicurl/`` a few blocks at a time. This sits in front of the STAC API's own
middleware: a range of a file is never compressed (a compressed 206 would not be the bytes it says).

Nothing but a regular file under the root is answered: no listing, no hidden entries (the storage's staging
folders), no job logs (what a chain printed stays behind the dashboard's token), no ``..``, no encoded slash or
backslash, no link leading out of the root: all 404. Any other method than GET, HEAD and OPTIONS is 405.
"""

from __future__ import annotations

import mimetypes
import os
import stat
from pathlib import Path
from types import SimpleNamespace

from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hygor.api.errors import error_response
from hygor.items import MediaType
from hymotep.settings import ProductionSettings
from hymotep.storage import LOGS

PREFIX = "/storage"
ROUTE = SimpleNamespace(path_format=f"{PREFIX}/{{key:path}}")
PRIVATE = frozenset({LOGS})  # <root>/logs: the jobs' logs
MEDIA_TYPES = {
    ".tif": MediaType.COG, ".tiff": MediaType.COG, ".png": MediaType.PNG, ".jpg": MediaType.JPEG,
    ".jpeg": MediaType.JPEG, ".xml": MediaType.XML, ".json": MediaType.JSON,
}  # fmt: skip
ENCODED_SEPARATORS = (b"%2f", b"%5c", b"%00")
# Browsers' pages on other origins (portals) read the files, in ranges.
CORS = {
    "access-control-allow-origin": "*",
    "access-control-expose-headers": "Accept-Ranges, Content-Range, Content-Length, ETag, Last-Modified",
}
PREFLIGHT = {
    **CORS,
    "access-control-allow-methods": "GET, HEAD, OPTIONS",
    "access-control-allow-headers": "Range, If-Range",
    "access-control-max-age": "600",
}


def posix_root(settings: ProductionSettings) -> Path | None:
    """The storage root to serve: None for an S3 storage (``HESP_STORAGE=s3://...``)."""
    return None if settings.object_storage else settings.storage_root


def media_type(path: Path) -> str:
    suffix = path.suffix.lower()
    return MEDIA_TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


class StorageFiles:
    """ASGI middleware: ``/storage/<key>`` answers the file ``<root>/<key>``; other paths go to ``app``."""

    def __init__(self, app: ASGIApp, root: Path) -> None:
        self.app = app
        self.root = Path(os.path.realpath(root))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        scope["route"] = ROUTE  # what the request metrics label it with (hydra.metrics)
        response: Response
        if scope["method"] == "OPTIONS":
            response = Response(status_code=204, headers=PREFLIGHT)
        elif scope["method"] not in ("GET", "HEAD"):
            response = error_response(405, "the storage is read-only", {"Allow": "GET, HEAD, OPTIONS", **CORS})
        else:
            found = self.file(path.removeprefix(PREFIX + "/"), scope.get("raw_path") or path.encode())
            if found is None:
                response = error_response(404, "no such file in the storage", CORS)
            else:
                file, status = found
                response = FileResponse(file, stat_result=status, media_type=media_type(file), headers=CORS)
        await response(scope, receive, send)

    def file(self, key: str, raw_path: bytes) -> tuple[Path, os.stat_result] | None:
        """The regular file ``key`` names under the root and its status, or None when it may not be served."""
        parts = key.split("/")
        if any(separator in raw_path.lower() for separator in ENCODED_SEPARATORS) or parts[0] in PRIVATE:
            return None
        if any(not part or part.startswith(".") or "\\" in part or "\0" in part for part in parts):
            return None  # empty, ., .., hidden
        real = Path(os.path.realpath(self.root.joinpath(*parts)))
        if not real.is_relative_to(self.root):
            return None  # a link out of the root
        try:
            status = real.stat()
        except OSError:
            return None
        return (real, status) if stat.S_ISREG(status.st_mode) else None
