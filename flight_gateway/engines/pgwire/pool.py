"""A per-tenant connection pool, independent of the driver: the engine supplies how to open,
check, reset and close a connection.

Why our own and not psycopg_pool: the engine's connections are ADBC connections (Arrow-native
results), and the Redshift engine may bring yet another driver. Semantics follow PoolConfig:
at most `max_size` connections; an acquire waits `acquire_timeout_seconds`, then fails with
RESOURCE_EXHAUSTED; a connection is checked before it is handed out (`health_check`), reset
when it comes back, replaced after `max_lifetime_seconds` and closed after
`idle_timeout_seconds` unused (down to `min_size`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from flight_gateway.config import PoolConfig
from flight_gateway.errors import GatewayError, Status

log = logging.getLogger("flight_gateway.engines.pool")
C = TypeVar("C")


@dataclass
class _Entry(Generic[C]):
    conn: C
    created: float
    last_used: float


@dataclass
class Connector(Generic[C]):
    """How the pool handles one kind of connection. `check` and `reset` raise if the connection is unusable."""

    open: Callable[[], C]
    check: Callable[[C], None]
    reset: Callable[[C], None]
    close: Callable[[C], None]


@dataclass
class Lease(Generic[C]):
    """A connection lent out. Mark it `broken` when the connection failed, so it is not reused."""

    pool: ConnectionPool[C]
    entry: _Entry[C] | None
    broken: bool = field(default=False)

    @property
    def conn(self) -> C:
        if self.entry is None:
            raise GatewayError(Status.UNAVAILABLE, "ENGINE_UNAVAILABLE", "the database connection was lost; retry")
        return self.entry.conn

    def replace(self) -> None:
        """Swap a broken connection for a fresh one in the same slot (no waiting for a free one)."""
        old, self.entry = self.entry, None
        if old is not None:
            self.pool._close_quietly(old.conn)
        self.entry = self.pool._open_entry()  # on failure the slot is given back
        self.broken = False


class ConnectionPool(Generic[C]):
    def __init__(
        self,
        label: str,
        config: PoolConfig,
        connector: Connector[C],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self._config = config
        self._connector = connector
        self._clock = clock
        self._idle: list[_Entry[C]] = []  # most recently used last
        self._size = 0  # idle + lent + being opened
        self._closed = False
        self._cond = threading.Condition()

    @property
    def size(self) -> int:
        with self._cond:
            return self._size

    @property
    def idle(self) -> int:
        with self._cond:
            return len(self._idle)

    @contextmanager
    def connection(self) -> Iterator[Lease[C]]:
        lease = Lease(self, self._acquire())
        try:
            yield lease
        finally:
            self._release(lease)

    def _expired(self, entry: _Entry[C], now: float) -> bool:
        return now - entry.created >= self._config.max_lifetime_seconds

    def _acquire(self) -> _Entry[C]:
        deadline = self._clock() + self._config.acquire_timeout_seconds
        while True:
            entry: _Entry[C] | None = None
            with self._cond:
                while not self._idle and self._size >= self._config.max_size and not self._closed:
                    remaining = deadline - self._clock()
                    if remaining <= 0:
                        raise self._exhausted()
                    self._cond.wait(remaining)
                if self._closed:
                    raise GatewayError(Status.UNAVAILABLE, "ENGINE_CLOSED", "the gateway is shutting down; retry")
                if self._idle:
                    entry = self._idle.pop()
                else:
                    self._size += 1
            if entry is None:
                return self._open_entry()
            now = self._clock()
            if self._expired(entry, now) or now - entry.last_used >= self._config.idle_timeout_seconds:
                self._discard(entry)
                continue
            if self._config.health_check:
                try:
                    self._connector.check(entry.conn)
                except Exception:
                    log.info("pool %s: dropped a connection that failed its health check", self.label)
                    self._discard(entry)
                    continue
            return entry

    def _exhausted(self) -> GatewayError:
        return GatewayError(
            Status.RESOURCE_EXHAUSTED,
            "POOL_EXHAUSTED",
            f"all {self._config.max_size} database connections of {self.label} stayed busy for "
            f"{self._config.acquire_timeout_seconds:g}s; retry later, run fewer statements at once, "
            "or raise pool.max_size",
            retryable=True,
        )

    def _open_entry(self) -> _Entry[C]:
        """Open a connection for a slot already counted in `_size` (the slot is given back on failure)."""
        try:
            conn = self._connector.open()
        except BaseException:
            with self._cond:
                self._size -= 1
                self._cond.notify()
            raise
        now = self._clock()
        return _Entry(conn, now, now)

    def _discard(self, entry: _Entry[C]) -> None:
        """Close a connection and free its slot."""
        with self._cond:
            self._size -= 1
            self._cond.notify()
        self._close_quietly(entry.conn)

    def _close_quietly(self, conn: C) -> None:
        try:
            self._connector.close(conn)
        except Exception:  # noqa: S110 - a connection that will not close cleanly is gone anyway
            pass

    def _release(self, lease: Lease[C]) -> None:
        entry = lease.entry
        if entry is None:
            return  # a failed replace() already gave the slot back
        now = self._clock()
        if lease.broken or self._expired(entry, now) or self._closed:
            self._discard(entry)
            return
        try:
            self._connector.reset(entry.conn)
        except Exception:
            log.info("pool %s: dropped a connection that failed its reset", self.label)
            self._discard(entry)
            return
        entry.last_used = self._clock()
        with self._cond:
            if self._closed:
                self._size -= 1
            else:
                self._idle.append(entry)
                self._cond.notify()
                return
        self._close_quietly(entry.conn)

    def maintain(self) -> None:
        """Close connections idle too long or too old (keeping min_size), then open up to min_size."""
        now = self._clock()
        stale: list[_Entry[C]] = []
        with self._cond:
            keep: list[_Entry[C]] = []
            for entry in reversed(self._idle):  # newest first: the oldest idle ones go
                spare = self._size - len(stale) > self._config.min_size
                idle_too_long = now - entry.last_used >= self._config.idle_timeout_seconds
                if self._expired(entry, now) or (idle_too_long and spare):
                    stale.append(entry)
                else:
                    keep.append(entry)
            self._idle = list(reversed(keep))
            self._size -= len(stale)
            missing = 0 if self._closed else max(0, self._config.min_size - self._size)
            self._size += missing
            if stale:
                self._cond.notify_all()
        for entry in stale:
            self._close_quietly(entry.conn)
        for _ in range(missing):
            try:
                fresh = self._open_entry()
            except Exception as exc:
                log.warning("pool %s: cannot open a connection to keep min_size: %s", self.label, type(exc).__name__)
                return
            with self._cond:
                self._idle.insert(0, fresh)
                self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._size -= len(idle)
            self._cond.notify_all()
        for entry in idle:
            self._close_quietly(entry.conn)


class TenantPools(Generic[C]):
    """One engine's per-tenant pools, made on first use, and one background thread that closes idle
    and over-age connections (and tops pools up to min_size), so a quiet tenant does not keep
    connections forever."""

    def __init__(self, name: str, config: PoolConfig) -> None:
        self._name = name
        self._interval = max(0.5, min(30.0, config.idle_timeout_seconds / 2, config.max_lifetime_seconds / 2))
        self._pools: dict[str, ConnectionPool[C]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def get(self, tenant_id: str, make: Callable[[], ConnectionPool[C]]) -> ConnectionPool[C]:
        with self._lock:
            pool = self._pools.get(tenant_id)
            if pool is None:
                pool = self._pools[tenant_id] = make()
                if self._thread is None and not self._stop.is_set():
                    self._thread = threading.Thread(
                        target=self._loop, name=f"pool-maintainer-{self._name}", daemon=True
                    )
                    self._thread.start()
            return pool

    def _all(self) -> list[ConnectionPool[C]]:
        with self._lock:
            return list(self._pools.values())

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            for pool in self._all():
                try:
                    pool.maintain()
                except Exception:
                    log.exception("engine %s: pool maintenance failed", self._name)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
