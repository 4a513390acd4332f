"""Weighted fair sharing of a pool of worker threads between tenants.

Start-time fair queueing: a task is stamped, as it is queued, with its tenant's virtual time, which
each task advances by 1/weight; a free worker takes the queued task with the least stamp whose tenant
is below its cap of tasks running at once. A tenant that floods the pool queues behind its own
earlier tasks, so another tenant's task waits for at most one free worker, and under contention
tenants are served in proportion to their weights. A tenant coming back from idle starts at the
pool's current virtual time: being quiet earns no credit to spend later.

Fairness acts when a worker frees up: a task that is already running keeps its worker (an engine
call cannot be pre-empted), which is what the per-tenant cap is for.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Item = TypeVar("Item")


@dataclass(frozen=True)
class Share:
    """Who a task is for: a tenant's key, its weight and its cap on tasks running at once."""

    key: str
    weight: float = 1.0
    cap: int | None = None


@dataclass
class _Flow(Generic[Item]):
    share: Share
    queue: deque[tuple[float, int, Item]] = field(default_factory=deque)
    finish: float = 0.0  # the virtual time its next task starts at, at the earliest
    running: int = 0


class FairQueue(Generic[Item]):
    """The scheduling decisions alone (not thread-safe: `FairPool` holds the lock)."""

    def __init__(self) -> None:
        self._flows: dict[str, _Flow[Item]] = {}
        self._now = 0.0  # virtual time: the stamp of the task dispatched last
        self._seq = 0  # first come, first served between equal stamps

    def __len__(self) -> int:
        return sum(len(flow.queue) for flow in self._flows.values())

    def push(self, share: Share, item: Item) -> None:
        flow = self._flows.get(share.key)
        if flow is None:
            flow = self._flows[share.key] = _Flow(share)
        flow.share = share  # the latest weight and cap apply
        start = max(self._now, flow.finish)
        flow.finish = start + 1.0 / share.weight
        self._seq += 1
        flow.queue.append((start, self._seq, item))

    def pop(self) -> tuple[Share, Item] | None:
        """The next task to run (counted as running for its tenant until `done`), or None when
        nothing is queued or every tenant with queued tasks is at its cap."""
        best: _Flow[Item] | None = None
        for flow in self._flows.values():
            if not flow.queue or (flow.share.cap is not None and flow.running >= flow.share.cap):
                continue
            if best is None or flow.queue[0][:2] < best.queue[0][:2]:
                best = flow
        if best is None:
            return None
        start, _, item = best.queue.popleft()
        self._now = max(self._now, start)
        best.running += 1
        return best.share, item

    def done(self, share: Share) -> None:
        flow = self._flows[share.key]
        flow.running -= 1
        if not flow.queue and flow.running == 0 and flow.finish <= self._now:
            del self._flows[share.key]  # nothing owed either way: forget the tenant

    def drain(self) -> list[Item]:
        items = [item for flow in self._flows.values() for _, _, item in flow.queue]
        for flow in self._flows.values():
            flow.queue.clear()
        return items


_Task = tuple[Future[Any], Callable[[], Any]]


class FairPool:
    """Up to `max_workers` threads running submitted calls in FairQueue order."""

    def __init__(self, max_workers: int, thread_name_prefix: str = "fair-worker") -> None:
        self._max = max_workers
        self._prefix = thread_name_prefix
        self._queue: FairQueue[_Task] = FairQueue()
        self._cond = threading.Condition()
        self._workers = 0
        self._idle = 0
        self._closed = False

    def submit(self, share: Share, fn: Callable[..., T], *args: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the pool is closed")
            self._queue.push(share, (future, lambda: fn(*args)))
            # More queued than idle workers (a woken worker may not have taken its task yet): one more
            # thread, so that a task never waits behind another's long engine call while a slot is free.
            if len(self._queue) > self._idle and self._workers < self._max:
                self._workers += 1
                name = f"{self._prefix}-{self._workers}"
                threading.Thread(target=self._work, name=name, daemon=True).start()
            else:
                self._cond.notify()
        return future

    def _next(self) -> tuple[Share, _Task] | None:
        with self._cond:
            while True:
                if self._closed:
                    self._workers -= 1
                    return None
                picked = self._queue.pop()
                if picked is not None:
                    return picked
                self._idle += 1
                self._cond.wait()
                self._idle -= 1

    def _work(self) -> None:
        while (picked := self._next()) is not None:
            share, (future, call) = picked
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(call())
                    except BaseException as exc:  # the future carries it to whoever waits
                        future.set_exception(exc)
            finally:
                with self._cond:
                    self._queue.done(share)
                    # A tenant below its cap again may have a task another worker skipped.
                    self._cond.notify()

    def close(self) -> None:
        """Cancel what has not started; running calls finish on their threads, which then exit."""
        with self._cond:
            self._closed = True
            pending = self._queue.drain()
            self._cond.notify_all()
        for future, _ in pending:
            future.cancel()
