"""Weighted fair sharing of the result readers: the queue's decisions (no threads), then the pool and
the pump with tasks gated by events, so the order is decided by the scheduler alone, never by timing."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future

import pyarrow as pa
import pytest

from auth.model import Tenant, TenantLimits
from flight_gateway.service.fair import FairPool, FairQueue, Share
from flight_gateway.service.streaming import BatchPump, ClientGone

A, B, C = Share("a"), Share("b"), Share("c")


def _order(queue: FairQueue[str], n: int) -> list[str]:
    """Dispatch `n` tasks one at a time (each done before the next), as one worker would."""
    order = []
    for _ in range(n):
        picked = queue.pop()
        assert picked is not None
        share, item = picked
        order.append(item)
        queue.done(share)
    return order


def test_a_flood_does_not_delay_another_tenant_by_more_than_one_task() -> None:
    queue: FairQueue[str] = FairQueue()
    for i in range(64):
        queue.push(A, f"a{i}")
    assert _order(queue, 3) == ["a0", "a1", "a2"]
    queue.push(B, "b0")  # arrives behind 61 of A's
    assert _order(queue, 2) == ["b0", "a3"]  # B's task goes next, ahead of A's queue
    assert len(queue) == 60


def test_tenants_are_served_in_proportion_to_their_weights() -> None:
    queue: FairQueue[str] = FairQueue()
    heavy, light = Share("heavy", weight=3.0), Share("light", weight=1.0)
    for _ in range(30):
        queue.push(heavy, "H")
        queue.push(light, "L")
    order = _order(queue, 24)
    assert order.count("H") == 18 and order.count("L") == 6
    # Interleaved, not in runs: in every window of four, three of the heavy tenant's and one light.
    assert all(order[i : i + 4].count("L") == 1 for i in range(0, 24, 4))


def test_equal_weights_alternate() -> None:
    queue: FairQueue[str] = FairQueue()
    for i in range(5):
        queue.push(A, f"a{i}")
    for i in range(5):
        queue.push(B, f"b{i}")
    assert _order(queue, 6) == ["a0", "b0", "a1", "b1", "a2", "b2"]


def test_a_tenant_at_its_cap_waits_for_its_own_tasks() -> None:
    queue: FairQueue[str] = FairQueue()
    capped = Share("a", cap=2)
    for i in range(4):
        queue.push(capped, f"a{i}")
    first, second = queue.pop(), queue.pop()
    assert first is not None and second is not None
    assert queue.pop() is None  # a0 and a1 run: a2 waits although workers are free
    queue.push(B, "b0")
    picked = queue.pop()
    assert picked is not None and picked[1] == "b0"  # another tenant is not held up by A's cap
    queue.done(first[0])
    picked = queue.pop()
    assert picked is not None and picked[1] == "a2"


def test_being_idle_earns_no_credit() -> None:
    queue: FairQueue[str] = FairQueue()
    queue.push(B, "b0")
    assert _order(queue, 1) == ["b0"]
    for i in range(10):
        queue.push(A, f"a{i}")
    assert _order(queue, 6) == [f"a{i}" for i in range(6)]  # B is idle: A has the pool
    for i in range(3):
        queue.push(B, f"b{i + 1}")
    # B starts at the pool's virtual time, not at its old one: it alternates with A, no burst of B
    # (with credit for its idle spell it would have run b1, b2, b3 in a row).
    assert _order(queue, 6) == ["b1", "a6", "b2", "a7", "b3", "a8"]


# -- the pool, with gated tasks ------------------------------------------------------------------


class Gates:
    """Tasks that record when they start and run until the test opens their gate."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self._gates: dict[str, threading.Event] = {}
        self._cond = threading.Condition()

    def task(self, name: str) -> Callable[[], str]:
        gate = self._gates.setdefault(name, threading.Event())

        def run() -> str:
            with self._cond:
                self.started.append(name)
                self._cond.notify_all()
            assert gate.wait(60), f"{name} was never released"
            return name

        return run

    def release(self, name: str) -> None:
        self._gates.setdefault(name, threading.Event()).set()

    def release_all(self) -> None:
        for gate in self._gates.values():
            gate.set()

    def wait_started(self, count: int) -> list[str]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.started) >= count, 60), self.started
            return list(self.started)


@pytest.fixture
def pool() -> Iterator[FairPool]:
    pool = FairPool(2, thread_name_prefix="test-fair")
    yield pool
    pool.close()


def test_a_freed_worker_goes_to_the_waiting_tenant_not_the_flooding_one(pool: FairPool) -> None:
    gates = Gates()
    futures: list[Future[str]] = [pool.submit(A, gates.task(f"a{i}")) for i in range(8)]
    assert gates.wait_started(2) == ["a0", "a1"]  # A fills both workers
    futures.append(pool.submit(B, gates.task("b0")))
    gates.release("a0")
    assert gates.wait_started(3)[2] == "b0"  # not a2, queued long before
    for name in ["a1", "b0", *(f"a{i}" for i in range(2, 8))]:
        gates.release(name)
    assert sorted(f.result(timeout=60) for f in futures) == sorted([f"a{i}" for i in range(8)] + ["b0"])


def test_a_capped_tenant_leaves_workers_to_others(pool: FairPool) -> None:
    gates = Gates()
    capped = Share("a", cap=1)
    flood = [pool.submit(capped, gates.task(f"a{i}")) for i in range(4)]
    assert gates.wait_started(1) == ["a0"]
    other = pool.submit(B, gates.task("b0"))  # the second worker is A's to take, but A is at its cap
    assert gates.wait_started(2) == ["a0", "b0"]
    gates.release("b0")
    assert other.result(timeout=60) == "b0"
    assert gates.started == ["a0", "b0"]  # a1 still waits for a0: a cap of one
    for i in range(4):
        gates.release(f"a{i}")
    assert [f.result(timeout=60) for f in flood] == ["a0", "a1", "a2", "a3"]


def test_closing_cancels_what_has_not_started() -> None:
    pool = FairPool(1)
    gates = Gates()
    running = pool.submit(A, gates.task("a0"))
    queued = pool.submit(B, gates.task("b0"))
    gates.wait_started(1)
    pool.close()
    assert queued.cancelled()
    gates.release("a0")
    assert running.result(timeout=60) == "a0"
    with pytest.raises(RuntimeError):
        pool.submit(A, gates.task("a1"))


# -- the pump: a tenant's streams are queued under its share ------------------------------------


class _Reader:
    """A RecordBatchReader stand-in whose every batch waits for its gate."""

    def __init__(self, gates: Gates, name: str, batches: int) -> None:
        self._gates, self._name, self._left, self._n = gates, name, batches, 0
        self.schema = pa.schema([("x", pa.int64())])
        self.closed = False

    def read_next_batch(self) -> pa.RecordBatch:
        if self._left == 0:
            raise StopIteration
        self._left -= 1
        self._n += 1
        self._gates.task(f"{self._name}.{self._n}")()
        return pa.record_batch({"x": list(range(10))}, schema=self.schema)

    def close(self) -> None:
        self.closed = True


def _starter(reader: _Reader) -> Callable[[], pa.RecordBatchReader]:
    return lambda: reader  # type: ignore[return-value]  # a stand-in for the engine's reader


def _tenant(name: str, **limits: float | int | None) -> Tenant:
    return Tenant(name, limits=TenantLimits(**limits))  # type: ignore[arg-type]


def test_the_pump_queues_each_read_under_its_tenant() -> None:
    pump = BatchPump(1, heartbeat_seconds=3600)
    gates = Gates()
    flooder, other = _tenant("flooder", max_concurrent_streams=1), _tenant("other")
    readers = [_Reader(gates, f"a{i}", 2) for i in range(3)]
    try:
        openings = [pump.open(_starter(r), 10, flooder) for r in readers]
        assert gates.wait_started(1) == ["a0.1"]
        lone = _Reader(gates, "b", 1)
        opening = pump.open(lambda: lone, 10, other)
        gates.release("a0.1")
        assert gates.wait_started(2) == ["a0.1", "b.1"]  # the other tenant's query goes next
        gates.release("b.1")
        assert opening.result(timeout=60).exhausted is False
        gates.release("a1.1")
        gates.release("a2.1")
        assert [len(o.result(timeout=60).head) for o in openings] == [1, 1, 1]
        assert gates.started == ["a0.1", "b.1", "a1.1", "a2.1"]
    finally:
        gates.release_all()
        pump.close()


def test_a_stream_stopped_while_its_read_is_queued_drops_it_without_interrupting() -> None:
    pump = BatchPump(1, heartbeat_seconds=3600)
    gates = Gates()
    interrupted: list[str] = []
    busy = _Reader(gates, "busy", 1)
    try:
        pump.open(lambda: busy, 10, _tenant("a"))
        gates.wait_started(1)
        waiting = _Reader(gates, "w", 1)
        opening = pump.open(lambda: waiting, 10, _tenant("b"))  # queued behind the busy one
        stream = pump.batches(opening, waiting.schema, lambda: interrupted.append("w"), lambda: True)
        with pytest.raises(ClientGone):
            next(stream)
        assert opening.cancelled() and interrupted == []
    finally:
        gates.release_all()
        pump.close()
    assert gates.started == ["busy.1"]  # the dropped query never started


def test_an_interrupt_that_lands_before_the_engine_call_starts_is_repeated() -> None:
    """A worker has taken the stream's task but not yet reached the engine when the client leaves:
    the first interrupt finds nothing to stop, so the pump interrupts again until the call ends."""
    pump = BatchPump(1, heartbeat_seconds=3600)
    interrupts: list[int] = []
    cond = threading.Condition()
    started = threading.Event()
    schema = pa.schema([("x", pa.int64())])

    def interrupt() -> None:
        with cond:
            interrupts.append(1)
            cond.notify_all()

    def start() -> pa.RecordBatchReader:
        started.set()
        with cond:  # the engine call starts only after the first interrupt was already spent
            assert cond.wait_for(lambda: len(interrupts) >= 2, 60), "the lost interrupt was never repeated"
        raise RuntimeError("interrupted")

    try:
        opening = pump.open(start, 10, _tenant("a"))
        assert started.wait(60)
        with pytest.raises(ClientGone):
            next(pump.batches(opening, schema, interrupt, lambda: True))
        assert len(interrupts) >= 2 and opening.done()
    finally:
        pump.close()
