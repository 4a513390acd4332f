"""Running work on one leased PostgreSQL connection: one cursor at a time, driver errors mapped to
gateway errors, reads retried where that is safe (a new connection when it was lost, the same one
after a serialization failure, only before any row was read), and a cancel that reaches whatever
runs. `session.py` builds the EngineSession on it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import adbc_driver_manager
import pyarrow as pa

from auth import Tenant
from flight_gateway.engines.pgwire.errors import connection_lost, sqlstate_of
from flight_gateway.engines.pgwire.sql import PlaceholderRewrites
from flight_gateway.errors import GatewayError, cancelled

if TYPE_CHECKING:
    from adbc_driver_postgresql.dbapi import Connection, Cursor

    from flight_gateway.engines.pgwire.pool import Lease

T = TypeVar("T")
DriverError = (adbc_driver_manager.Error, OSError, pa.ArrowException)
_ATTEMPTS = 3
_RETRY_STATES = ("40001", "40P01")


class SessionHost(Protocol):
    """What a session needs of its engine (the engine module builds sessions: no import back)."""

    batch_size_hint_bytes: int
    placeholders: PlaceholderRewrites

    def backend_pid(self, conn: Connection) -> int | None: ...

    def map_error(self, exc: BaseException, *, cancel_requested: bool = False) -> GatewayError: ...


class StatementRunner:
    """The cursor plumbing of a `PostgresSession` (its base class)."""

    def __init__(self, engine: SessionHost, lease: Lease[Connection], tenant: Tenant) -> None:
        self._engine = engine
        self._lease = lease
        self._tenant = tenant
        self._lock = threading.Lock()
        self._active: Cursor | None = None
        self._closer: Callable[[], None] | None = None  # ends an open result stream early
        self._cancel_requested = False

    # -- plumbing --------------------------------------------------------------------------------

    def _error(self, exc: BaseException) -> GatewayError:
        if connection_lost(exc):
            self._lease.broken = True
        return self._engine.map_error(exc, cancel_requested=self._cancel_requested)

    def _cursor(self) -> Cursor:
        if self._cancel_requested:
            raise cancelled("the statement was cancelled")
        cursor = self._lease.conn.cursor()
        with self._lock:
            self._active = cursor
        return cursor

    def _done(self, cursor: Cursor) -> None:
        with self._lock:
            if self._active is cursor:
                self._active = None
        try:
            cursor.close()
        except DriverError:
            self._lease.broken = True

    def _run(self, work: Callable[[Cursor], T], *, retry: bool, owned: bool = False) -> T:
        """Run `work` on a fresh cursor; errors mapped; reads retried where that is safe (a new
        connection if it was lost). With `owned`, a successful `work` keeps its cursor (a stream)."""
        for attempt in range(1, _ATTEMPTS + 1):
            cursor = self._cursor()
            keep = False
            try:
                result = work(cursor)
                keep = owned
                return result
            except DriverError as exc:
                again = retry and attempt < _ATTEMPTS and not self._cancel_requested
                if again and connection_lost(exc):
                    self._done(cursor)
                    self._lease.replace()
                    continue
                if again and sqlstate_of(exc) in _RETRY_STATES:
                    continue
                raise self._error(exc) from exc
            finally:
                if not keep and self._active is cursor:
                    self._done(cursor)
        raise AssertionError("unreachable")  # pragma: no cover

    def rows(self, sql: str, params: Sequence[str | None] = ()) -> list[tuple[Any, ...]]:
        """Small result as tuples; text parameters `$1`, `$2`, … (the catalog's queries)."""

        def work(cursor: Cursor) -> list[tuple[Any, ...]]:
            if params:
                names = [f"${i + 1}" for i in range(len(params))]
                cursor.execute(sql, pa.record_batch([pa.array([p], pa.string()) for p in params], names=names))
            else:
                cursor.execute(sql)
            return list(cursor.fetchall())

        return self._run(work, retry=True)

    def engine_query_id(self) -> str | None:
        """The backend's pid (pg_stat_activity.pid, `%p` in the server log)."""
        pid = self._engine.backend_pid(self._lease.conn)
        return None if pid is None else f"pid:{pid}"

    def cancel(self) -> None:
        with self._lock:
            self._cancel_requested = True
            cursor = self._active
        if cursor is not None:
            try:
                cursor.adbc_cancel()
            except DriverError:  # nothing running any more
                pass

    def close(self) -> None:
        """End whatever still runs (a stream the caller dropped) before the connection goes back."""
        with self._lock:
            cursor, closer = self._active, self._closer
        if closer is not None:
            closer()
        elif cursor is not None:
            self._done(cursor)
