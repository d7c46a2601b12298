"""Run ``stac-api-validator`` with no internet: the JSON schemas it fetches are the ones hygor ships.

    python tests/stac_api_validator_offline.py --root-url http://127.0.0.1:8080/ <stac-api-validator options>

The validator and the libraries under it (stac-validator, stac-check, pystac, pystac-client) reach the network
through three transports: requests, urllib.request and urllib3. Each is patched: a URL on a schema host is read
from ``hygor/stac_schemas/<host>/<path>``, loopback and the ``--root-url`` host go to the network (the API under
test), and any other URL, or a schema that is not shipped, raises an error naming it. ``socket.getaddrinfo``
refuses every other host name, for a client outside the three transports. The run fails if a schema was missing,
even when the validator caught the error; refused links to outside pages (licences, documentation) only end as the
validator's warnings.
"""

from __future__ import annotations

import email.message
import io
import socket
import sys
import urllib.error
import urllib.request
import urllib.response
from typing import Any, NoReturn
from urllib.parse import unquote, urlsplit

import requests
import requests.adapters
import urllib3

from hygor.validation import SCHEMA_ROOT

SCHEMA_HOSTS = {"schemas.stacspec.org", "stac-extensions.github.io", "geojson.org", "json-schema.org", "proj.org"}
NETWORK_SCHEMES = {"http", "https", "ftp"}
allowed_hosts = {"localhost", "127.0.0.1", "::1"}
refused: set[str] = set()
missing: set[str] = set()


class Offline(requests.exceptions.RequestException, urllib.error.URLError):
    """Raised instead of a network access: a requests and a urllib error, so the callers' own handling applies."""

    def __str__(self) -> str:
        return str(self.reason)


def refuse(message: str, found: set[str]) -> NoReturn:
    if message not in found:
        found.add(message)
        print(f"stac-offline: {message}", file=sys.stderr)
    raise Offline(message)


def served(url: str) -> bytes | None:
    """The shipped schema at ``url``, or None when ``url`` may go to the network; raises for any other URL."""
    parts = urlsplit(url)
    if parts.scheme not in NETWORK_SCHEMES or not parts.netloc:
        return None
    host = (parts.hostname or "").lower()
    if host in SCHEMA_HOSTS:
        segments = unquote(parts.path).strip("/").split("/")
        schema = SCHEMA_ROOT.joinpath(host, *segments)
        if ".." in segments or not schema.is_file():
            refuse(f"{url} is not among the schemas hygor ships (no file {host}/{'/'.join(segments)})", missing)
        return schema.read_bytes()
    if host not in allowed_hosts:
        refuse(f"refused {url}: only loopback and the API under test are reachable", refused)
    return None


send_by_requests = requests.adapters.HTTPAdapter.send
open_by_urllib = urllib.request.OpenerDirector.open
open_by_urllib3 = urllib3.PoolManager.urlopen
resolve_host = socket.getaddrinfo


def requests_send(self: requests.adapters.HTTPAdapter, request: requests.PreparedRequest, **kw: Any) -> Any:
    body = served(str(request.url))
    if body is None:
        return send_by_requests(self, request, **kw)
    response = requests.Response()
    response.status_code, response.url, response.request = 200, str(request.url), request
    response.headers["Content-Type"] = "application/json"
    response.raw, response.encoding = io.BytesIO(body), "utf-8"
    response._content, response._content_consumed = body, True
    return response


def urllib_open(self: urllib.request.OpenerDirector, url: str | urllib.request.Request, *args: Any, **kw: Any) -> Any:
    full_url = url.full_url if isinstance(url, urllib.request.Request) else url
    body = served(full_url)
    if body is None:
        return open_by_urllib(self, url, *args, **kw)
    headers = email.message.Message()
    headers["Content-Type"] = "application/json"
    return urllib.response.addinfourl(io.BytesIO(body), headers, full_url, 200)


def urllib3_open(self: urllib3.PoolManager, method: str, url: str, redirect: bool = True, **kw: Any) -> Any:
    body = served(url)
    if body is None:
        return open_by_urllib3(self, method, url, redirect, **kw)
    return urllib3.HTTPResponse(
        body=io.BytesIO(body),
        headers={"Content-Type": "application/json"},
        status=200,
        preload_content=kw.get("preload_content", True),
        request_method=method,
        request_url=url,
    )


def getaddrinfo(host: bytes | str | None, *args: Any, **kw: Any) -> Any:
    name = (host.decode() if isinstance(host, bytes) else host or "").lower().strip("[]")
    if name and name not in allowed_hosts:
        refuse(f"refused to resolve {name!r}: only loopback and the API under test are reachable", refused)
    return resolve_host(host, *args, **kw)


def install(root_url: str | None) -> None:
    if root_url:
        allowed_hosts.add((urlsplit(root_url).hostname or "").lower())
    requests.adapters.HTTPAdapter.send = requests_send  # type: ignore[method-assign,assignment]
    urllib.request.OpenerDirector.open = urllib_open  # type: ignore[method-assign,assignment]
    urllib3.PoolManager.urlopen = urllib3_open  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo


def option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def main(argv: list[str]) -> int:
    install(option(argv, "--root-url"))
    from stac_api_validator.__main__ import main as validator

    try:
        validator.main(args=argv, prog_name="stac-api-validator")
        code: object = 0
    except SystemExit as exit_:
        code = exit_.code
    print(f"stac-offline: {len(refused)} outside URL(s) refused, {len(missing)} schema(s) missing", file=sys.stderr)
    if missing:
        return 1
    return code if isinstance(code, int) else int(code is not None)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
