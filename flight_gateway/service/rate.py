"""Per-tenant request rates: a token bucket per tenant on this replica (`requests_per_minute`,
holding up to `requests_burst` tokens), taken once by every call that starts work.

The buckets live in this process: with N replicas behind a load balancer a tenant gets up to N
times its rate, unless a `SharedWindows` counts every replica's calls too (the DynamoDB job store's
`jobs/rate_windows.py`: at most requests_per_minute per clock minute, all replicas together). Which
calls count is the protocol's decision (`protocol/calls.py`); this module only counts, in the
gateway's injected clock, so tests move time by hand.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from auth.model import Tenant

log = logging.getLogger("flight_gateway.admission")


@dataclass
class TokenBucket:
    """`capacity` tokens at most, refilled at `per_second`; a call takes one whole token."""

    capacity: float
    per_second: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, per_minute: int, burst: int | None, now: float) -> TokenBucket:
        capacity = float(burst if burst is not None else per_minute)
        return cls(capacity, per_minute / 60.0, capacity, now)

    def take(self, now: float) -> float:
        """0 when a token was taken, else the seconds until one will be there (nothing is taken)."""
        # A clock that steps back (a wall clock corrected by NTP) must not mint or burn tokens.
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.per_second)
        self.updated = max(self.updated, now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.per_second


def whole_seconds(retry_after: float) -> int:
    """A retry delay as clients are told it (HTTP's Retry-After): whole seconds, rounded up, at least 1
    (less a microsecond, so that float error in a refill does not add a second)."""
    return max(1, math.ceil(retry_after - 1e-6))


class SharedWindows(Protocol):
    """Calls counted across replicas: None when `tenant` may make one more within `limit` this
    window (it is counted), else the seconds until the next window."""

    def take(self, tenant: str, limit: int, now: float) -> float | None: ...


class RequestRates:
    """The token buckets of every tenant with a `requests_per_minute`, on this replica (and the
    shared windows, when the replicas share one)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, shared: SharedWindows | None = None) -> None:
        self._clock = clock
        self._shared = shared
        self._buckets: dict[str, tuple[tuple[int, int | None], TokenBucket]] = {}
        self._lock = threading.Lock()

    def take(self, tenant: Tenant, call: str) -> float | None:
        """None when `tenant` may make the call `call` (a token was taken, or it has no rate),
        else the seconds until it may retry; each refusal is logged."""
        per_minute, burst = tenant.limits.requests_per_minute, tenant.limits.requests_burst
        if per_minute is None:
            return None
        with self._lock:
            now = self._clock()
            key = (per_minute, burst)
            known = self._buckets.get(tenant.id)
            if known is None or known[0] != key:  # new tenant, or its limits were changed
                known = (key, TokenBucket.full(per_minute, burst, now))
                self._buckets[tenant.id] = known
            bucket = known[1]
            wait = bucket.take(now)
        scope = "replica"
        if wait == 0.0 and self._shared is not None:
            # Asked outside the lock: a round trip to the shared store must not serialise all calls.
            wait, scope = self._shared.take(tenant.id, per_minute, now) or 0.0, "shared"
            if wait:
                with self._lock:  # refused all the same: the local token is given back
                    bucket.tokens = min(bucket.capacity, bucket.tokens + 1.0)
        if wait == 0.0:
            return None
        log.info(
            "admission decision=refused code=RATE_LIMITED tenant=%s call=%s requests_per_minute=%d burst=%d "
            "scope=%s retry_after_s=%d",
            tenant.id, call, per_minute, burst if burst is not None else per_minute,
            scope, whole_seconds(wait),
        )  # fmt: skip
        return wait
