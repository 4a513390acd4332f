"""The statement-timeout watchdog: one thread and a heap of deadlines for every running statement
of every engine, DuckDB included (which has no statement timeout of its own).

At its deadline a statement is interrupted through its session (`EngineSession.cancel`); the
executor then reports the failure as STATEMENT_TIMEOUT rather than a cancel. An interrupt can
reach a statement before the engine has started it (DuckDB forgets an interrupt that arrives
before its query begins), so an expired statement is interrupted again every `repeat_seconds`
until it ends. The deadline is read from the injected clock, in slices, so tests move time by
hand instead of waiting.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

log = logging.getLogger("flight_gateway.execution")
SLICE_SECONDS = 0.05


@dataclass
class _Watch:
    job_id: str
    deadline: float
    interrupt: Callable[[], None]
    active: bool = True
    fired_at: float | None = None  # real (monotonic) time of the last interrupt
    # Held while interrupting, so a statement that ends waits for an interrupt in progress
    # before its session is given back (the interrupt cannot reach the session's next user).
    lock: threading.Lock = field(default_factory=threading.Lock)


class Watchdog:
    def __init__(
        self, clock: Callable[[], float], *, slice_seconds: float = SLICE_SECONDS, repeat_seconds: float = 1.0
    ) -> None:
        self._clock = clock
        self._slice = slice_seconds
        self._repeat = repeat_seconds
        self._heap: list[tuple[float, int, _Watch]] = []
        self._expired: list[_Watch] = []
        self._order = itertools.count()
        self._ended = 0  # watches in the heap whose statement has ended
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    @contextmanager
    def watching(self, job_id: str, seconds: float | None, interrupt: Callable[[], None]) -> Iterator[None]:
        """Call `interrupt` if the block is still running `seconds` from now (None: no limit)."""
        if seconds is None:
            yield
            return
        watch = _Watch(job_id, self._clock() + seconds, interrupt)
        with self._changed:
            heapq.heappush(self._heap, (watch.deadline, next(self._order), watch))
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="statement-watchdog", daemon=True)
                self._thread.start()
            self._changed.notify_all()
        try:
            yield
        finally:
            with watch.lock:
                watch.active = False
            with self._changed:
                # Ended watches stay in the heap until their deadline, or until they are most of it.
                self._ended += 1
                if self._ended > 1024 and self._ended * 2 > len(self._heap):
                    self._heap = [entry for entry in self._heap if entry[2].active]
                    heapq.heapify(self._heap)
                    self._ended = 0

    def _due(self) -> list[_Watch]:
        """Watches to interrupt now: newly expired, and expired ones due for another interrupt."""
        now, real = self._clock(), time.monotonic()
        due = []
        while self._heap and self._heap[0][0] <= now:
            watch = heapq.heappop(self._heap)[2]
            if watch.active:
                self._expired.append(watch)
            else:
                self._ended = max(0, self._ended - 1)
        self._expired = [w for w in self._expired if w.active]
        for watch in self._expired:
            if watch.fired_at is None or real - watch.fired_at >= self._repeat:
                watch.fired_at = real
                due.append(watch)
        return due

    def _run(self) -> None:
        while True:
            with self._changed:
                if self._closed:
                    return
                due = self._due()
                if not due:
                    self._changed.wait(self._slice)
                    continue
            for watch in due:
                with watch.lock:
                    if not watch.active:
                        continue
                    try:
                        watch.interrupt()
                    except Exception:
                        log.exception("interrupting job %s at its statement timeout failed", watch.job_id)

    def pending(self) -> int:
        """Statements being watched (for tests and metrics)."""
        with self._changed:
            return sum(1 for _, _, w in self._heap if w.active) + sum(1 for w in self._expired if w.active)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            thread, self._thread = self._thread, None
            self._changed.notify_all()
        if thread is not None:
            thread.join()
