"""Small per-process caches of the API's worker processes."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def one(_: object) -> int:
    return 1


class TtlCache(Generic[K, V]):
    """Entries kept ``ttl`` seconds each, the least recently used dropped first beyond ``size``: a number of
    entries, or of what ``weigh`` says an entry weighs (bytes, say)."""

    def __init__(
        self, size: int, ttl: float, clock: Callable[[], float] = time.monotonic, weigh: Callable[[V], int] = one
    ) -> None:
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._size, self._ttl, self._clock, self._weigh = size, ttl, clock, weigh
        self._weight = 0

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < self._clock():
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: K, value: V) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._weight -= self._weigh(old[1])
        self._entries[key] = (self._clock() + self._ttl, value)
        self._weight += self._weigh(value)
        while self._weight > self._size and self._entries:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._weight -= self._weigh(dropped)
