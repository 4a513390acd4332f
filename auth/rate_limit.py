"""Locks out a key (peer address, username, API key id) after repeated authentication failures.

`max_failures` failures within `window_seconds` lock the key for `lockout_seconds`. A success
clears the key. Memory is bounded: keys are kept in least-recently-failed order, so entries whose
failures and lockout are over are dropped from the front as time passes, and when `max_keys` is
reached the least recently failed key is forgotten (an attacker who floods distinct keys can thus
only unlock their own oldest keys, never keep memory growing).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from auth.model import AuthError, AuthFailure


class RateLimited(AuthError):
    """Too many failed attempts; map to UNAVAILABLE and tell the client `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(AuthFailure.UNAUTHENTICATED, "rate_limited", f"too many failed attempts; retry in {seconds} s")
        self.retry_after = retry_after


@dataclass
class _Entry:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = float("-inf")
    last_failure: float = float("-inf")


class FailureLimiter:
    """Thread-safe failure counter per key; `check` before authenticating, then record the outcome."""

    def __init__(
        self,
        max_failures: int,
        window_seconds: float,
        lockout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_keys: int = 100_000,
    ) -> None:
        if max_failures < 1 or window_seconds <= 0 or lockout_seconds <= 0 or max_keys < 1:
            raise ValueError("max_failures, window_seconds, lockout_seconds and max_keys must be positive")
        self._max_failures = max_failures
        self._window = window_seconds
        self._lockout = lockout_seconds
        self._clock = clock
        self._max_keys = max_keys
        # An entry untouched for this long has no failure in its window and no lockout left.
        self._horizon = max(window_seconds, lockout_seconds)
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def check(self, key: str) -> None:
        """Raise RateLimited while `key` is locked out."""
        with self._lock:
            entry = self._entries.get(key)
            now = self._clock()
            if entry is not None and entry.locked_until > now:
                raise RateLimited(entry.locked_until - now)

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it is not locked."""
        with self._lock:
            entry = self._entries.get(key)
            return max(0.0, entry.locked_until - self._clock()) if entry else 0.0

    def record_failure(self, key: str) -> None:
        """Count a failed attempt; the `max_failures`-th one within the window starts a lockout."""
        with self._lock:
            now = self._clock()
            entry = self._entries.pop(key, None) or _Entry()
            self._evict(now)
            self._entries[key] = entry  # (re)inserted at the end: the most recently failed key
            entry.last_failure = now
            if entry.locked_until > now:
                return  # failures during a lockout neither extend it nor count towards the next one
            while entry.failures and entry.failures[0] <= now - self._window:
                entry.failures.popleft()
            entry.failures.append(now)
            if len(entry.failures) >= self._max_failures:
                entry.failures.clear()
                entry.locked_until = now + self._lockout

    def record_success(self, key: str) -> None:
        """Forget `key`'s failures (a successful login proves the caller knows the secret)."""
        with self._lock:
            self._entries.pop(key, None)

    def _evict(self, now: float) -> None:
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if oldest.last_failure > now - self._horizon and len(self._entries) < self._max_keys:
                return
            self._entries.popitem(last=False)
