"""The upstream catalogues ``hesp watch`` harvests: a YAML file (``--sources FILE`` or ``HESP_WATCH_SOURCES``),
format ``hymotep/schemas/watch-sources.schema.json``, checked whole before the watch starts: any fault is one
line naming the file and the place, and nothing runs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from hygor.grid import UnknownTile, tile
from hygor.validation import document_errors
from hymotep.errors import HymotepError
from hymotep.requests import TextDatesLoader

SCHEMA = "watch-sources.schema.json"
DEFAULT_INTERVAL = timedelta(minutes=15)
DEFAULT_SETTLE = timedelta(days=3)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_REPORTED = 3


class SourcesError(HymotepError):
    """The sources file cannot be read or is not valid."""


@dataclass(frozen=True)
class Source:
    """One upstream catalogue: ``tiles`` empty means the tiles the requests ask for at each harvest."""

    name: str
    url: str
    collection: str
    upstream_collection: str
    tiles: tuple[str, ...]
    interval: timedelta
    since: datetime
    settle: timedelta


def load_sources(path: Path, known_collections: set[str], today: date | None = None) -> list[Source]:
    """Read and check the sources file; ``SourcesError`` "<file>: <where>: <fault>" on the first faults."""
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=TextDatesLoader)  # a SafeLoader
    except (OSError, UnicodeDecodeError) as exc:
        raise SourcesError(f"{path}: cannot be read ({exc})") from None
    except yaml.YAMLError as exc:
        raise SourcesError(f"{path}: malformed YAML: {' '.join(str(exc).split())}") from None
    problems = document_errors(document, "hymotep", SCHEMA)
    if not problems:
        problems = _centre_problems(document["sources"], known_collections)
    if problems:
        more = f" (and {len(problems) - MAX_REPORTED} more)" if len(problems) > MAX_REPORTED else ""
        raise SourcesError(f"{path}: {'; '.join(problems[:MAX_REPORTED])}{more}")
    first = (today or datetime.now(UTC).date()).replace(day=1) - timedelta(days=1)
    default_since = datetime(first.year, first.month, 1, tzinfo=UTC)
    return [_source(entry, default_since) for entry in document["sources"]]


def duration(value: float | str) -> timedelta:
    """``90``, ``"90s"``, ``"15m"``, ``"1h"``, ``"3d"`` as a timedelta."""
    if isinstance(value, str):
        match = re.fullmatch(r"([0-9.]+)([smhd])", value)
        assert match is not None  # the schema's pattern
        return timedelta(seconds=float(match[1]) * UNITS[match[2]])
    return timedelta(seconds=float(value))


def _centre_problems(entries: list[dict[str, Any]], known_collections: set[str]) -> list[str]:
    problems: list[str] = []
    names = [entry["name"] for entry in entries]
    for n, entry in enumerate(entries):
        where = f"sources/{n}"
        if names.count(entry["name"]) > 1:
            problems.append(f"{where}/name: {entry['name']!r} names two sources")
        if entry["collection"] not in known_collections:
            problems.append(f"{where}/collection: unknown collection {entry['collection']!r}")
        for value in entry.get("tiles", []):
            try:
                tile(value)
            except UnknownTile as exc:
                problems.append(f"{where}/tiles: {exc}")
        if "since" in entry:
            try:
                date.fromisoformat(entry["since"])
            except ValueError:
                problems.append(f"{where}/since: {entry['since']!r} is not a day")
    return problems


def _source(entry: dict[str, Any], default_since: datetime) -> Source:
    since = default_since
    if "since" in entry:
        since = datetime.combine(date.fromisoformat(entry["since"]), datetime.min.time(), tzinfo=UTC)
    return Source(
        name=entry["name"],
        url=entry["url"].rstrip("/"),
        collection=entry["collection"],
        upstream_collection=entry.get("upstream_collection", entry["collection"]),
        tiles=tuple(tile(value).id for value in entry.get("tiles", [])),
        interval=duration(entry["interval"]) if "interval" in entry else DEFAULT_INTERVAL,
        since=since,
        settle=duration(entry["settle"]) if "settle" in entry else DEFAULT_SETTLE,
    )
