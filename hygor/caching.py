"""A cache that threads share: what it keeps is built once, by the first thread that asks.

``functools.cache`` lets every thread that asks before the first answer is kept build its own: a worker's batch of
sixteen job threads read the tiling grid sixteen times (a fifth of a second each) in every fresh worker process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache, wraps
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def shared_cache(function: Callable[P, R]) -> Callable[P, R]:
    """``functools.cache`` of ``function``, its values built under a lock (re-entrant: a cached function may call
    itself)."""
    cached = cache(function)
    lock = threading.RLock()

    @wraps(function)
    def shared(*args: P.args, **kwargs: P.kwargs) -> R:
        with lock:
            return cached(*args, **kwargs)  # type: ignore[arg-type]  # hashable, as functools.cache requires

    return shared
