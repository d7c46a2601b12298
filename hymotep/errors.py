"""Errors of the production workshop: ``HymotepError`` is the base of every error hymotep raises (each module
keeps its own subclasses); the ``hesp`` command reports them as one line, like every ``HespError``."""

from __future__ import annotations

from hygor.errors import HespError


class HymotepError(HespError):
    """Production failed."""
