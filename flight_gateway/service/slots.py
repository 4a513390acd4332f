"""Statement slots: a tenant's `max_concurrent_statements` on this replica, and the FIFO queue of
statements waiting for one.

A statement takes a slot just before it starts executing and gives it back when its job ends
(stream end, error, client gone, cancel). With every slot taken it waits, in arrival order: only
the head of a tenant's queue may take a freed slot, so a later statement never overtakes an earlier
one. At most `max_queued_statements` wait (QUEUE_FULL beyond), each at most `queue_timeout_seconds`
(QUEUE_TIMEOUT); both carry a retry hint. A waiting statement leaves the queue at once when it is
cancelled or its client goes away.

Waiting is on one Condition, in short slices, so the injected clock (tests move it by hand) decides
the timeout, and a client that leaves is noticed within a slice.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from auth.model import TenantLimits
from flight_gateway.errors import ErrorCode, GatewayError, cancelled, error

# How often a waiting statement looks at the clock and at its client (seconds of real time).
SLICE_SECONDS = 0.05
# Starting guess of how long a statement holds its slot, before any has been released.
_HOLD_GUESS_SECONDS = 1.0


def _never() -> bool:
    return False


@dataclass
class _Waiter:
    job_id: str
    since: float
    cancelled: bool = False


@dataclass
class _Tenant:
    running: int = 0
    waiting: deque[_Waiter] = field(default_factory=deque)
    # Mean time a slot is held (exponentially weighted), for the retry hint.
    hold_seconds: float = _HOLD_GUESS_SECONDS


@dataclass(frozen=True)
class Slot:
    """A statement's place among its tenant's running statements: how it got it."""

    decision: str  # "admitted" (at once) or "queued" (after waiting)
    queued_ms: int
    taken_at: float
    counted: bool = True  # False: the tenant has no concurrency limit, nothing to give back


class StatementSlots:
    """Every tenant's slots and queue on this replica (tenants without the limit pass straight)."""

    def __init__(self, clock: Callable[[], float], *, slice_seconds: float = SLICE_SECONDS) -> None:
        self._clock = clock
        self._slice = slice_seconds
        self._tenants: dict[str, _Tenant] = {}
        self._changed = threading.Condition()
        self._closed = False

    def take(self, tenant_id: str, limits: TenantLimits, job_id: str, gone: Callable[[], bool] = _never) -> Slot:
        """One of the tenant's slots, waiting in its queue first if all are taken; give it back with
        `give_back`. Raises QUEUE_FULL, QUEUE_TIMEOUT, CANCELLED (cancelled while waiting),
        CLIENT_DISCONNECTED (status CANCELLED) or SHUTTING_DOWN."""
        limit = limits.max_concurrent_statements
        now = self._clock()
        if limit is None:
            return Slot("admitted", 0, now, counted=False)
        with self._changed:
            tenant = self._tenants.setdefault(tenant_id, _Tenant())
            if self._closed:
                raise error(ErrorCode.SHUTTING_DOWN, "the gateway is stopping; retry on another replica")
            if tenant.running < limit and not tenant.waiting:
                tenant.running += 1
                return Slot("admitted", 0, now)
            if len(tenant.waiting) >= limits.max_queued_statements:
                raise error(
                    ErrorCode.QUEUE_FULL,
                    f"tenant {tenant_id} already runs {tenant.running} statements (max_concurrent_statements "
                    f"{limit}) and {len(tenant.waiting)} wait (max_queued_statements)",  # the hint follows
                    retry_after=self._hint(tenant, limit),
                )
            waiter = _Waiter(job_id, now)
            tenant.waiting.append(waiter)
            try:
                while True:
                    waited = self._clock() - waiter.since
                    # A statement cancelled (or left) as a slot frees must not take the slot.
                    failure = self._left(waiter, gone)
                    if failure is not None:
                        raise failure
                    if tenant.running < limit and tenant.waiting[0] is waiter:
                        tenant.waiting.popleft()
                        tenant.running += 1
                        return Slot("queued", _ms(waited), self._clock())
                    if waited >= limits.queue_timeout_seconds:
                        raise error(
                            ErrorCode.QUEUE_TIMEOUT,
                            f"the statement waited {waited:.1f} s (queue_timeout_seconds) for one of tenant "
                            f"{tenant_id}'s {limit} statement slots (max_concurrent_statements); run fewer at "
                            "once or ask for more slots",
                            retry_after=self._hint(tenant, limit),
                        )
                    self._changed.wait(self._slice)
            finally:
                if waiter in tenant.waiting:
                    tenant.waiting.remove(waiter)
                    self._changed.notify_all()  # the one behind may now be the head

    def _left(self, waiter: _Waiter, gone: Callable[[], bool]) -> GatewayError | None:
        if waiter.cancelled:
            return cancelled("the statement was cancelled while it waited for a statement slot")
        if self._closed:
            return error(ErrorCode.SHUTTING_DOWN, "the gateway is stopping; retry on another replica")
        if gone():
            return error(ErrorCode.CLIENT_DISCONNECTED, "the client left while the statement waited for a slot")
        return None

    def give_back(self, tenant_id: str, slot: Slot) -> None:
        if not slot.counted:
            return
        with self._changed:
            tenant = self._tenants[tenant_id]
            tenant.running -= 1
            held = max(0.0, self._clock() - slot.taken_at)
            tenant.hold_seconds = 0.8 * tenant.hold_seconds + 0.2 * held
            if not tenant.running and not tenant.waiting:
                del self._tenants[tenant_id]
            self._changed.notify_all()

    def _hint(self, tenant: _Tenant, limit: int) -> float:
        """Seconds until a retry may find room: the queue ahead drained at the mean hold time."""
        return float(max(1, math.ceil(tenant.hold_seconds * (len(tenant.waiting) + 1) / limit)))

    def position(self, job_id: str) -> int | None:
        """The job's place in its tenant's queue (1: next to run), if it waits on this replica."""
        with self._changed:
            for tenant in self._tenants.values():
                for index, waiter in enumerate(tenant.waiting):
                    if waiter.job_id == job_id:
                        return index + 1
        return None

    def in_use(self, tenant_id: str) -> tuple[int, int]:
        """The tenant's statements running and waiting on this replica."""
        with self._changed:
            tenant = self._tenants.get(tenant_id)
            return (0, 0) if tenant is None else (tenant.running, len(tenant.waiting))

    def cancel(self, job_id: str) -> bool:
        """Take a waiting statement out of its queue (it fails CANCELLED): whether one waited here."""
        with self._changed:
            for tenant in self._tenants.values():
                for waiter in tenant.waiting:
                    if waiter.job_id == job_id:
                        waiter.cancelled = True
                        self._changed.notify_all()
                        return True
        return False

    def close(self) -> None:
        """Refuse new statements and send the waiting ones away (SHUTTING_DOWN)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))
