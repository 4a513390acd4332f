"""A clock the test moves by hand: expiries, sweeps and heartbeats happen when the test says, not
when a loaded machine gets round to them."""

from __future__ import annotations

import threading
import time


class ManualClock:
    """Seconds since the epoch, standing still until `advance` (it starts at the real time, so
    records it stamps still read sensibly)."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            return self._now
