"""A least-recently-used map bounded by the bytes its entries hold, not by their number.

The engines' caches are keyed by statement text, and one statement may be as large as
`max_statement_bytes`: a bound of N entries is a bound of N statements' worth of memory (1,024
cached 1 MiB statements are a GiB that is never given back). A byte budget keeps each cache at
a known size whatever the statements look like.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Bookkeeping per entry (the dict slot, the tuple around the value), so that many tiny entries
# are bounded too.
ENTRY_OVERHEAD = 200


def text_bytes(*texts: str) -> int:
    """Memory the strings occupy (CPython stores 1, 2 or 4 bytes a character)."""
    return sum(sys.getsizeof(text) for text in texts)


class ByteBoundedLru(Generic[K, V]):
    """Entries weigh `weigh(key, value)` bytes plus ENTRY_OVERHEAD; the least recently used go
    first once the total passes `max_bytes`, and an entry heavier than that is not kept at all."""

    def __init__(self, max_bytes: int, weigh: Callable[[K, V], int]) -> None:
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._max_bytes = max_bytes
        self._weigh = weigh
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V) -> None:
        weight = self._weigh(key, value) + ENTRY_OVERHEAD
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if weight > self._max_bytes:
                return
            self._entries[key] = (value, weight)
            self._bytes += weight
            while self._bytes > self._max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped
