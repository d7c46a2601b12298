"""The catalogue's SQL: named queries (``queries.sql``) and versioned migrations (``migrations/``); the way
every workshop keeps its own.

A query block starts with ``-- name: <name>`` and uses ``%(param)s`` placeholders, never formatted values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_NAME = re.compile(r"^-- name: (\S+)\s*$", re.MULTILINE)


def load_queries(text: str) -> dict[str, str]:
    """Split a file of named blocks into ``{name: sql}``."""
    parts = _NAME.split(text)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


@cache
def named_queries(package: str, file: str = "queries.sql") -> dict[str, str]:
    """The named queries of ``<package>/<file>`` (each workshop keeps its own)."""
    return load_queries(resources.files(package).joinpath(file).read_text())


def query(name: str) -> str:
    return named_queries(__package__)[name]


@dataclass(frozen=True)
class Migration:
    """One numbered file of a workshop's ``migrations/``, e.g. ``0001_hesp_schema.sql``."""

    version: int
    name: str
    sql: str


@cache
def migrations(package: str) -> tuple[Migration, ...]:
    """The numbered files of ``<package>/migrations/``, in order."""
    folder = resources.files(package).joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    return tuple(sorted(found, key=lambda m: m.version))
