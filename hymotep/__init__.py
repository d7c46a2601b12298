"""Hymotep, the production workshop: requests, expected products and gaps, the job queue and executors.

It builds on ``hygor`` (the catalogue) and knows nothing of HTTP or dashboards.
"""

from __future__ import annotations

from typing import Any

__all__ = ["gap_summary", "gaps"]


def __getattr__(name: str) -> Any:
    """``hymotep.gaps`` and ``hymotep.gap_summary`` (frames.py), imported on first use: pandas and GeoPandas
    take a second to import, which the command line should not pay."""
    if name in __all__:
        from hymotep import frames

        return getattr(frames, name)
    raise AttributeError(f"module 'hymotep' has no attribute {name!r}")
