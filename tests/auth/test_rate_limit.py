"""FailureLimiter: lockout after repeated failures, window, reset, memory bound; an injected clock, no sleeps."""

from __future__ import annotations

import threading

import pytest

from auth.model import AuthError, AuthFailure
from auth.rate_limit import FailureLimiter, RateLimited


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def limiter(clock: Clock, **overrides: float) -> FailureLimiter:
    settings: dict[str, float] = {"max_failures": 3, "window_seconds": 60, "lockout_seconds": 300}
    settings.update(overrides)
    return FailureLimiter(int(settings["max_failures"]), settings["window_seconds"], settings["lockout_seconds"], clock)


def test_locks_after_max_failures_and_unlocks_after_lockout(clock: Clock) -> None:
    limits = limiter(clock)
    for _ in range(2):
        limits.check("10.0.0.1")
        limits.record_failure("10.0.0.1")
    limits.check("10.0.0.1")
    limits.record_failure("10.0.0.1")
    with pytest.raises(RateLimited) as info:
        limits.check("10.0.0.1")
    error = info.value
    assert isinstance(error, AuthError)
    assert (error.kind, error.reason, error.retry_after) == (AuthFailure.UNAUTHENTICATED, "rate_limited", 300)
    assert error.message == "too many failed attempts; retry in 300 s"
    limits.check("10.0.0.2")  # other keys are unaffected

    clock.now += 299.5
    with pytest.raises(RateLimited, match="retry in 1 s") as info:
        limits.check("10.0.0.1")
    assert info.value.retry_after == pytest.approx(0.5)
    assert limits.retry_after("10.0.0.1") == pytest.approx(0.5)
    clock.now += 0.5
    limits.check("10.0.0.1")
    assert limits.retry_after("10.0.0.1") == 0


def test_failures_outside_the_window_do_not_count(clock: Clock) -> None:
    limits = limiter(clock)
    for _ in range(10):
        limits.record_failure("alice")
        limits.record_failure("alice")
        clock.now += 61
        limits.check("alice")


def test_success_clears_failures(clock: Clock) -> None:
    limits = limiter(clock)
    limits.record_failure("alice")
    limits.record_failure("alice")
    limits.record_success("alice")
    limits.record_failure("alice")
    limits.record_failure("alice")
    limits.check("alice")
    assert len(limits) == 1
    limits.record_success("alice")
    assert len(limits) == 0


def test_failures_during_lockout_do_not_extend_it(clock: Clock) -> None:
    limits = limiter(clock)
    for _ in range(3):
        limits.record_failure("alice")
    clock.now += 100
    for _ in range(10):
        limits.record_failure("alice")
    with pytest.raises(RateLimited) as info:
        limits.check("alice")
    assert info.value.retry_after == 200
    clock.now += 200
    limits.check("alice")
    limits.record_failure("alice")
    limits.check("alice")  # the next lockout needs a fresh run of failures


def test_stale_keys_are_evicted(clock: Clock) -> None:
    limits = limiter(clock)
    for n in range(1000):
        limits.record_failure(f"peer-{n}")
    assert len(limits) == 1000
    clock.now += 300  # past both the window and any lockout
    limits.record_failure("fresh")
    assert len(limits) == 1


def test_locked_keys_survive_until_their_lockout_ends(clock: Clock) -> None:
    limits = limiter(clock, window_seconds=10, lockout_seconds=100)
    for _ in range(3):
        limits.record_failure("attacker")
    clock.now += 50
    limits.record_failure("someone-else")
    with pytest.raises(RateLimited):
        limits.check("attacker")
    assert len(limits) == 2


def test_number_of_keys_is_capped(clock: Clock) -> None:
    limits = FailureLimiter(3, 60, 300, clock, max_keys=100)
    for n in range(1000):
        limits.record_failure(f"peer-{n}")
        assert len(limits) <= 100
    limits.record_failure("peer-999")
    limits.record_failure("peer-999")
    with pytest.raises(RateLimited):
        limits.check("peer-999")  # the most recent keys are the ones kept


def test_invalid_settings_are_refused(clock: Clock) -> None:
    with pytest.raises(ValueError, match="positive"):
        FailureLimiter(0, 60, 300, clock)
    with pytest.raises(ValueError, match="positive"):
        FailureLimiter(3, 60, 0, clock)


def test_concurrent_failures_are_all_counted(clock: Clock) -> None:
    limits = FailureLimiter(8 * 250, 60, 300, clock)
    start = threading.Barrier(8)

    def fail_many() -> None:
        start.wait()
        for _ in range(250):
            limits.record_failure("shared")

    threads = [threading.Thread(target=fail_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with pytest.raises(RateLimited):
        limits.check("shared")
