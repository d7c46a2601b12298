"""Production requests: a zone x chains x period x priority x requester, read from YAML request files.

A request file (e.g. ``hymotep/examples/pyrenees-snow.yaml``, format ``hymotep/schemas/request.schema.json``) is parsed,
validated against the schema, then checked against the centre: the chains must be produced collections, the
period must not end before it starts, the zone must not be empty and its tiles must be in the Sentinel-2 grid.
Any fault raises one ``RequestError`` line naming the file and the fault; nothing is stored here. Named regions
stay names (resolved when the request is registered); GeoJSON is reduced to one Polygon or MultiPolygon.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

import shapely
import yaml
from pydantic import BaseModel, ConfigDict, model_validator

from hygor.collections import load_collections
from hygor.grid import UnknownTile, tile
from hygor.regions import InvalidZone, geojson_geometry
from hygor.validation import document_errors
from hymotep.errors import HymotepError

REQUEST_SCHEMA = "request.schema.json"
REQUEST_SHAPE = "a request must be a YAML mapping (name, requester, zone, chains, period)"
ZONE_KINDS = ("tiles", "bbox", "region", "geojson")
DEFAULT_PRIORITY = 3
MAX_REPORTED = 3  # schema problems joined into the one-line message
MAX_MESSAGE = 200  # characters of one schema problem (they may quote a whole GeoJSON)
REQUIRED = re.compile(r'(.*): "(.*)" is a required property')
ZoneKind = Literal["tiles", "bbox", "region", "geojson"]
BBox = tuple[float, float, float, float]


class RequestError(HymotepError):
    """A production request is invalid."""


class TextDatesLoader(yaml.SafeLoader):
    """Safe YAML that keeps dates as text: the schema checks them and a bad day gets a clear message."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


class Requester(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    email: str | None = None
    organisation: str | None = None


class Zone(BaseModel):
    """Where to produce: tile ids, a [W, S, E, N] box, a region name, or a GeoJSON Polygon/MultiPolygon."""

    model_config = ConfigDict(frozen=True)

    kind: ZoneKind
    value: tuple[str, ...] | BBox | str | dict[str, Any]

    @model_validator(mode="after")
    def _value_fits_kind(self) -> Zone:
        expected = {"tiles": tuple, "bbox": tuple, "region": str, "geojson": dict}[self.kind]
        if not isinstance(self.value, expected) or (self.kind == "bbox" and len(self.value) != 4):
            raise ValueError(f"a {self.kind} zone cannot hold {self.value!r}")
        return self

    def describe(self) -> str:
        """A short human description: ``12 tiles``, ``bbox [-0.5, 42.3, 4.9, 45.1]``, ``region france``."""
        if self.kind == "tiles":
            return f"{len(self.value)} tile{'s' if len(self.value) != 1 else ''}"
        if self.kind == "bbox":
            return f"bbox {list(self.value)}"
        if self.kind == "region":
            return f"region {self.value}"
        return f"GeoJSON {self.value['type'] if isinstance(self.value, dict) else ''}".strip()


class ProductionRequest(BaseModel):
    """One request of the call for projects, validated."""

    model_config = ConfigDict(frozen=True)

    name: str
    title: str | None = None
    requester: Requester
    zone: Zone
    chains: tuple[str, ...]
    start: date
    end: date | None = None
    priority: int = DEFAULT_PRIORITY
    notes: str | None = None

    @property
    def open_ended(self) -> bool:
        return self.end is None


def produced_chains(collections_dir: Path) -> set[str]:
    """The chains a request may ask for: the ids of the centre's produced collections."""
    return {definition.id for definition in load_collections(collections_dir) if definition.produced}


def load_request_file(path: Path, known_chains: set[str]) -> ProductionRequest:
    """Read and check one request file; a relative GeoJSON path is taken from the file's folder."""
    return parse_request(read_file(path), source=str(path), known_chains=known_chains, base_dir=path.parent)


def read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RequestError(f"{path}: cannot be read ({exc})") from exc


def parse_request(text: str, *, source: str, known_chains: set[str], base_dir: Path | None) -> ProductionRequest:
    """YAML, then the schema, then the checks against the centre; ``RequestError`` "<source>: <fault>" if any."""
    document = load_document(text, source=source, schema=REQUEST_SCHEMA, shape=REQUEST_SHAPE)
    start, end, period_problems = parse_period(document["period"])
    _raise(source, _chain_problems(document["chains"], known_chains) + period_problems)
    zone = parse_zone(document["zone"], source=source, base_dir=base_dir)
    return ProductionRequest(
        name=document["name"],
        title=document.get("title"),
        requester=Requester(**document["requester"]),
        zone=zone,
        chains=tuple(document["chains"]),
        start=start,
        end=end,
        priority=document.get("priority", DEFAULT_PRIORITY),
        notes=document.get("notes"),
    )


def load_document(text: str, *, source: str, schema: str, shape: str) -> dict[str, Any]:
    """A YAML mapping valid against ``schema`` (of ``hymotep/schemas/``): requests, campaigns. ``shape``: the
    message when the document is not a mapping."""
    document = _load_yaml(text, source, shape)
    _raise(source, _schema_problems(document, schema))
    return document


def parse_period(period: dict[str, Any]) -> tuple[date, date | None, list[str]]:
    """A schema-valid period's start and end (None: open), and its problem if it ends before it starts."""
    start, end = date.fromisoformat(period["start"]), period.get("end")
    end = date.fromisoformat(end) if end is not None else None
    return start, end, [f"period ends ({end}) before it starts ({start})"] if end is not None and end < start else []


def parse_zone(zone: dict[str, Any], *, source: str, base_dir: Path | None) -> Zone:
    """A schema-valid zone, checked: tiles of the grid, a non-empty box, a valid GeoJSON area."""
    try:
        return _zone(zone, base_dir)
    except _ZoneProblem as exc:
        raise RequestError(f"{source}: zone: {exc}") from None


class _ZoneProblem(Exception):
    """The zone is empty or names what does not exist."""


def _raise(source: str, problems: list[str]) -> None:
    if problems:
        more = len(problems) - MAX_REPORTED
        tail = f" (and {more} more)" if more > 0 else ""
        raise RequestError(f"{source}: {'; '.join(problems[:MAX_REPORTED])}{tail}")


def _load_yaml(text: str, source: str, shape: str) -> dict[str, Any]:
    try:
        document = yaml.load(text, Loader=TextDatesLoader)  # a SafeLoader: no Python objects
    except yaml.MarkedYAMLError as exc:
        raise RequestError(f"{source}: malformed YAML: {_yaml_fault(exc)}") from None
    except yaml.YAMLError as exc:
        raise RequestError(f"{source}: malformed YAML: {exc}") from None
    if document is None:
        raise RequestError(f"{source}: the file is empty")
    if not isinstance(document, dict):
        raise RequestError(f"{source}: {shape}")
    try:
        plain = json.loads(json.dumps(document))
    except (TypeError, ValueError) as exc:
        raise RequestError(f"{source}: only plain YAML values are allowed ({exc})") from None
    return dict(plain)


def _yaml_fault(exc: yaml.MarkedYAMLError) -> str:
    mark, context_mark = exc.problem_mark, exc.context_mark
    fault = exc.problem or exc.context or "cannot be parsed"
    if mark is not None:
        fault += f" at line {mark.line + 1}, column {mark.column + 1}"
    if exc.context and context_mark is not None:
        fault += f" ({exc.context} started at line {context_mark.line + 1}, column {context_mark.column + 1})"
    return fault


def _schema_problems(document: dict[str, Any], schema: str) -> list[str]:
    problems = document_errors(document, "hymotep", schema)
    zone = document.get("zone")
    if isinstance(zone, dict) and len(zone) != 1:
        given = ", ".join(map(str, zone)) or "nothing"
        problems = [p for p in problems if not p.startswith("zone: ")]
        problems.insert(0, f"zone: give exactly one of {', '.join(ZONE_KINDS)} (found {given})")
    grouped: dict[str, list[str]] = {}  # '<where>: "x" is a required property' -> '<where>: missing x, y'
    for problem in problems:
        match = REQUIRED.fullmatch(problem)
        key = f"{match[1]}: missing" if match else problem
        grouped.setdefault(key, []).extend([match[2]] if match else [])
    merged = [f"{key} {', '.join(missing)}" if missing else key for key, missing in grouped.items()]
    return [p if len(p) <= MAX_MESSAGE else p[: MAX_MESSAGE - 1] + "…" for p in merged]


def _chain_problems(chains: list[str], known_chains: set[str]) -> list[str]:
    unknown = [chain for chain in chains if chain not in known_chains]
    if not unknown:
        return []
    known = ", ".join(sorted(known_chains)) or "none"
    plural = "s" if len(unknown) > 1 else ""
    return [f"chains: unknown chain{plural} {', '.join(unknown)} (known chains: {known})"]


def _zone(zone: dict[str, Any], base_dir: Path | None) -> Zone:
    ((kind, value),) = zone.items()
    if kind == "tiles":
        return Zone(kind="tiles", value=_tiles(value))
    if kind == "bbox":
        west, south, east, north = (float(v) for v in value)
        if west == east or south >= north:
            raise _ZoneProblem(f"bbox {value} is empty (west must differ from east, south must be below north)")
        return Zone(kind="bbox", value=(west, south, east, north))
    if kind == "region":
        return Zone(kind="region", value=value)
    return Zone(kind="geojson", value=_geometry(value, base_dir))


def _tiles(values: list[str]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for value in values:
        try:
            found[tile(value).id] = None
        except UnknownTile as exc:
            raise _ZoneProblem(str(exc)) from None
    return tuple(found)


def _geometry(value: str | dict[str, Any], base_dir: Path | None) -> dict[str, Any]:
    """One Polygon or MultiPolygon (a FeatureCollection unioned), in WGS84, non-empty and valid."""
    if isinstance(value, str):
        value = _read_geojson(value, base_dir)
    try:
        geometry = geojson_geometry(value, "the GeoJSON zone")
    except InvalidZone as exc:
        raise _ZoneProblem(str(exc)) from None
    return dict(json.loads(shapely.to_geojson(geometry)))


def _read_geojson(value: str, base_dir: Path | None) -> dict[str, Any]:
    path = Path(value) if base_dir is None else base_dir / value
    if not path.is_file():
        raise _ZoneProblem(f"GeoJSON file {path} not found")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _ZoneProblem(f"GeoJSON file {path} cannot be read ({exc})") from None
    if not isinstance(content, dict):
        raise _ZoneProblem(f"GeoJSON file {path} does not hold a GeoJSON object")
    # The file's content is checked by the request schema, as if it were written inline.
    problems = document_errors({**_GEOJSON_HOLDER, "zone": {"geojson": content}}, "hymotep", REQUEST_SCHEMA)
    for problem in problems:
        where, _, message = problem.partition(": ")
        if where.startswith("zone/geojson"):
            where = where.removeprefix("zone/geojson").lstrip("/") or "(top level)"
            raise _ZoneProblem(f"GeoJSON file {path}: {where}: {message}")
    return content


_GEOJSON_HOLDER = {
    "name": "geojson-file",
    "requester": {"name": "-"},
    "chains": ["-"],
    "period": {"start": "2000-01-01"},
}
