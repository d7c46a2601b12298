"""Hygor, the catalogue workshop: every input and output of Hespérides as a STAC item in pgSTAC."""

from __future__ import annotations

__version__ = "0.1.0"

from hygor.catalog import Catalog  # noqa: E402
from hygor.errors import HespError, HygorError  # noqa: E402
from hygor.settings import Settings  # noqa: E402

__all__ = ["Catalog", "HespError", "HygorError", "Settings", "__version__"]
