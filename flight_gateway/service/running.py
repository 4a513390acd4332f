"""The statements this process runs, so a cancel can reach them, and what a cancel did."""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flight_gateway.engines.base import EngineSession
from flight_gateway.errors import ErrorCode, GatewayError, cancelled, error
from flight_gateway.service.watchdog import Watchdog


class CancelOutcome(enum.IntEnum):
    """What cancelling a job did: the values of Flight's CancelStatus, sent as they are; the lower,
    the more final (a FlightInfo with several jobs answers the lowest)."""

    CANCELLED = 1
    CANCELLING = 2
    NOT_CANCELLABLE = 3


class Running:
    """Running statements by job id: their sessions (so a cancel reaches them), the database's
    name for their work (until the job's record is finished), the jobs cancelled here, and those
    the watchdog stopped at their statement timeout."""

    def __init__(self, watchdog: Watchdog | None = None) -> None:
        self._watchdog = watchdog
        self._sessions: dict[str, EngineSession] = {}
        self._engine_ids: dict[str, str] = {}
        self._cancelled: set[str] = set()
        self._timed_out: dict[str, float] = {}  # job id -> the timeout it ran past (seconds)
        # Queued queries cancelled on this replica (their DoGet must not run); bounded by use.
        self._cancelled_queued: set[str] = set()
        self._lock = threading.Lock()

    @contextmanager
    def registered(self, job_id: str, session: EngineSession, timeout: float | None = None) -> Iterator[None]:
        """While a statement runs, `interrupt` can reach its session, and so can the watchdog once
        it has run `timeout` seconds; a GatewayError leaving the block after that is reported as
        STATEMENT_TIMEOUT (whatever the engine made of the interrupt)."""
        engine_query_id = session.engine_query_id()
        with self._lock:
            self._sessions[job_id] = session
            if engine_query_id is not None:
                self._engine_ids[job_id] = engine_query_id
        try:
            if self._watchdog is None or timeout is None:
                yield
            else:
                with self._watchdog.watching(job_id, timeout, lambda: self._time_out(job_id, timeout)):
                    yield
        except GatewayError as err:
            failure = self.timed_out_as(job_id, err)
            if failure is err:
                raise
            raise failure from err
        finally:
            with self._lock:
                self._sessions.pop(job_id, None)
                self._cancelled.discard(job_id)
                self._timed_out.pop(job_id, None)

    def _time_out(self, job_id: str, seconds: float) -> None:
        with self._lock:
            session = self._sessions.get(job_id)
            if session is not None:
                self._timed_out[job_id] = seconds
        if session is not None:
            session.cancel()

    def timed_out_as(self, job_id: str, failure: GatewayError) -> GatewayError:
        """`failure`, or STATEMENT_TIMEOUT if the watchdog stopped the statement (its interrupt
        surfaces as a cancel, or as whatever the engine raised when it was interrupted)."""
        with self._lock:
            seconds = self._timed_out.get(job_id)
        if seconds is None or failure.code == ErrorCode.STATEMENT_TIMEOUT.name:
            return failure
        return error(
            ErrorCode.STATEMENT_TIMEOUT,
            f"the statement ran longer than the tenant's statement timeout ({seconds:g} s) and was stopped; "
            "make it cheaper (filter, aggregate, LIMIT), offload it as a detached job, or ask for a longer limit",
        )

    def engine_query_id(self, job_id: str) -> str | None:
        """The database's name for the job's work, forgotten as the job's record is finished."""
        with self._lock:
            return self._engine_ids.pop(job_id, None)

    def was_cancelled(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._cancelled

    def check_not_cancelled_queued(self, job_id: str) -> None:
        with self._lock:
            if job_id in self._cancelled_queued:
                raise cancelled("the query was cancelled; run it again")

    def cancel_queued(self, job_id: str) -> None:
        with self._lock:
            if len(self._cancelled_queued) > 100_000:
                self._cancelled_queued.clear()
            self._cancelled_queued.add(job_id)

    def interrupt(self, job_id: str) -> bool:
        """Interrupt the statement if this process runs it: whether one was running."""
        with self._lock:
            session = self._sessions.get(job_id)
            if session is not None:
                self._cancelled.add(job_id)
        if session is not None:
            session.cancel()
        return session is not None
