"""Errors of the catalogue workshop.

``HespError`` is the base of every error the ``hesp`` command reports as one clear line. A subclass's
docstring is its default message; the CLI prints the chain of causes, the traceback only with ``--debug``.
"""

from __future__ import annotations


class HespError(Exception):
    """Hespérides failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class HygorError(HespError):
    """The catalogue failed."""


class PostgresNotInstalled(HygorError):
    """PostgreSQL with PostGIS is not installed."""


class ClusterError(HygorError):
    """The embedded PostgreSQL cluster could not be managed."""


class DatabaseUnreachable(HygorError):
    """The database cannot be reached."""


class DatabaseError(HygorError):
    """A database operation failed."""


class MigrationError(HygorError):
    """A database migration failed."""


class CollectionError(HygorError):
    """A collection definition is invalid."""
