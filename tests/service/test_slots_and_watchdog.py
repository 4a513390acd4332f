"""The two mechanisms alone, with a clock the test moves: the statement queue's order, bounds and
exits (service/slots.py), and the watchdog's deadlines (service/watchdog.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from job_actions_support import wait_for
from manual_clock import ManualClock

from auth.model import TenantLimits
from flight_gateway.errors import GatewayError
from flight_gateway.service.slots import Slot, StatementSlots
from flight_gateway.service.watchdog import Watchdog

LIMITS = TenantLimits(max_concurrent_statements=1, max_queued_statements=3, queue_timeout_seconds=10)


class Waiter:
    """A statement asking for a slot on a thread of its own."""

    def __init__(self, slots: StatementSlots, job_id: str, gone: Callable[[], bool] = lambda: False) -> None:
        self.slot: Slot | None = None
        self.error: GatewayError | None = None
        self._thread = threading.Thread(target=self._take, args=(slots, job_id, gone), daemon=True)
        self._thread.start()

    def _take(self, slots: StatementSlots, job_id: str, gone: Callable[[], bool]) -> None:
        try:
            self.slot = slots.take("t", LIMITS, job_id, gone)
        except GatewayError as exc:
            self.error = exc

    def done(self) -> bool:
        self._thread.join(timeout=60)
        return not self._thread.is_alive()


def test_the_queue_is_first_in_first_out() -> None:
    clock = ManualClock()
    slots = StatementSlots(clock)
    held = slots.take("t", LIMITS, "a")
    waiters = []
    for name in ("b", "c", "d"):
        waiters.append(Waiter(slots, name))
        wait_for(lambda name=name: slots.position(name) is not None, f"{name} to queue")  # type: ignore[misc]
    assert [slots.position(n) for n in "bcd"] == [1, 2, 3]
    # The queue is full: a fifth is refused at once, whatever the others do.
    with pytest.raises(GatewayError) as refused:
        slots.take("t", LIMITS, "e")
    assert refused.value.code == "QUEUE_FULL" and refused.value.retry_after is not None
    clock.advance(2)
    order = []
    for waiter in waiters:
        slots.give_back("t", held)
        assert waiter.done() and waiter.slot is not None
        order.append(waiter.slot)
        held = waiter.slot
    assert [s.decision for s in order] == ["queued"] * 3 and order[0].queued_ms == 2000
    slots.give_back("t", held)
    assert slots.in_use("t") == (0, 0)


def test_waiters_leave_on_timeout_cancel_and_client_gone() -> None:
    clock = ManualClock()
    slots = StatementSlots(clock)
    held = slots.take("t", LIMITS, "a")
    gone = threading.Event()
    timing_out, cancelled, leaving = Waiter(slots, "b"), Waiter(slots, "c"), Waiter(slots, "d", gone.is_set)
    wait_for(lambda: slots.in_use("t") == (1, 3), "three waiting")
    assert slots.cancel("c") and not slots.cancel("nobody")
    assert cancelled.done() and cancelled.error is not None and cancelled.error.code == "CANCELLED"
    gone.set()
    assert leaving.done() and leaving.error is not None and leaving.error.code == "CLIENT_DISCONNECTED"
    clock.advance(10)
    assert timing_out.done() and timing_out.error is not None and timing_out.error.code == "QUEUE_TIMEOUT"
    assert timing_out.error.retry_after is not None and timing_out.error.retry_after >= 1
    assert slots.in_use("t") == (1, 0)
    slots.give_back("t", held)
    assert slots.in_use("t") == (0, 0)
    # A tenant without the limit takes nothing and gives nothing back.
    free = slots.take("t", TenantLimits(), "z")
    assert (free.decision, free.counted) == ("admitted", False)
    slots.give_back("t", free)
    assert slots.in_use("t") == (0, 0)


def test_closing_sends_waiters_away() -> None:
    slots = StatementSlots(ManualClock())
    slots.take("t", LIMITS, "a")
    waiter = Waiter(slots, "b")
    wait_for(lambda: slots.position("b") == 1, "b to queue")
    slots.close()
    assert waiter.done() and waiter.error is not None and waiter.error.code == "SHUTTING_DOWN"


def test_the_watchdog_interrupts_at_the_deadline_and_until_the_statement_ends() -> None:
    clock = ManualClock()
    watchdog = Watchdog(clock, repeat_seconds=0)
    interrupted: list[str] = []
    try:
        with watchdog.watching("slow", 30, lambda: interrupted.append("slow")):
            with watchdog.watching("quick", 60, lambda: interrupted.append("quick")):
                pass  # ends before its deadline: never interrupted
            with watchdog.watching("unlimited", None, lambda: interrupted.append("unlimited")):
                assert watchdog.pending() == 1
            clock.advance(29)
            assert interrupted == []
            clock.advance(31)
            # Interrupted, and again while it has not ended (an interrupt may come too early).
            wait_for(lambda: interrupted.count("slow") >= 2, "the slow statement interrupted twice")
        # Ending waits for an interrupt under way, so none reaches the session after this.
        assert watchdog.pending() == 0 and set(interrupted) == {"slow"}
    finally:
        watchdog.close()
