"""Hygor, the catalogue workshop: every input and output of Hespérides as a STAC item in pgSTAC."""

from __future__ import annotations

from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from hygor.errors import HespError, HygorError
from hygor.settings import Settings

if TYPE_CHECKING:
    from hygor.catalog import Catalog

__version__ = version("hesperides")  # the one in pyproject.toml
__all__ = ["Catalog", "HespError", "HygorError", "Settings", "__version__"]


def __getattr__(name: str) -> Any:
    """``hygor.Catalog``, imported on first use: it brings ingest, harvest and every reader, which a chain that
    only needs the grid (``hygor.grid``) should not pay for at start-up."""
    if name == "Catalog":
        from hygor.catalog import Catalog

        return Catalog
    raise AttributeError(f"module 'hygor' has no attribute {name!r}")
