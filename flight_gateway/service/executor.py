"""Runs statements for a request: engine session + job record + cancellation, no Flight verbs."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import TypeVar

import pyarrow as pa

from flight_gateway.context import RequestContext
from flight_gateway.engines.base import Catalog, Engine, EngineSession, IngestTarget, StatementShape
from flight_gateway.errors import ErrorCode, GatewayError, Status, cancelled, error
from flight_gateway.jobs import Job, JobState, JobStore, fingerprint
from flight_gateway.jobs.history import tenant_job
from flight_gateway.kinds import StatementKind
from flight_gateway.service.caps import CappedStream, Chunk, ResultCap, complete_head
from flight_gateway.service.decisions import Decisions
from flight_gateway.service.running import CancelOutcome, Running
from flight_gateway.service.slots import StatementSlots
from flight_gateway.service.streaming import BatchPump, ClientGone
from flight_gateway.service.watchdog import Watchdog

log = logging.getLogger("flight_gateway.execution")
T = TypeVar("T")
_LITERAL = re.compile(r"'(?:[^']|'')*'")


class Executor:
    def __init__(
        self,
        engines: Mapping[str, Engine],
        jobs: JobStore,
        *,
        batch_rows: int,
        store_sql_text: bool,
        pump: BatchPump,
        instance_id: str = "",
        retention_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engines = dict(engines)
        self._pump = pump
        self.jobs = jobs
        self._batch_rows = batch_rows
        self._store_sql = store_sql_text
        self._clock = clock
        self._instance_id = instance_id
        self._retention = retention_seconds
        # A tenant's statement slots (and queue) on this replica, and its statement timeout.
        self.slots = StatementSlots(clock)
        self._decisions = Decisions(jobs, self.slots, clock)
        self.watchdog = Watchdog(clock)
        self._running = Running(self.watchdog)

    def _engine(self, ctx: RequestContext) -> Engine:
        engine = self._engines.get(ctx.tenant.engine)
        if engine is None:
            raise GatewayError(
                Status.UNAVAILABLE, "ENGINE_UNAVAILABLE", f"engine {ctx.tenant.engine!r} is not configured"
            )
        return engine

    def describe(self, ctx: RequestContext, sql: str, params: pa.RecordBatch | None = None) -> StatementShape:
        # Called by the admission pre-flight (service/admission.py), once per statement.
        with self._engine(ctx).session(ctx.tenant) as session:
            return session.describe(sql, params)

    def estimate_rows(self, ctx: RequestContext, sql: str, params: pa.RecordBatch | None) -> int | None:
        with self._engine(ctx).session(ctx.tenant) as session:
            return session.estimate_rows(sql, params)

    def catalog(self, ctx: RequestContext, read: Callable[[Catalog], T]) -> T:
        with self._engine(ctx).session(ctx.tenant) as session:
            return read(session.catalog())

    def new_job(self, ctx: RequestContext, sql: str, kind: StatementKind, label: str | None = None) -> str:
        now = self._clock()
        job = Job(
            # A call whose client request id was claimed runs as the job the claim names.
            id=ctx.job_id or uuid.uuid4().hex, tenant=ctx.tenant.id, subject=ctx.principal.subject, kind=kind.value,
            fingerprint=fingerprint(sql), state=JobState.QUEUED, created_at=now,
            sql_text=sql if self._store_sql else None, peer=ctx.peer, user_agent=ctx.user_agent,
            instance_id=self._instance_id, expires_at=None if self._retention is None else now + self._retention,
            label=label,
        )  # fmt: skip
        self.jobs.create(job)
        return job.id

    def _redact(self, message: str | None) -> str | None:
        """Error text for the job record. Engine messages quote the statement and its values
        (DuckDB's `LINE 1: ...`); unless SQL text is stored, keep only the cause, literals masked."""
        if message is None or self._store_sql:
            return message
        return _LITERAL.sub("'?'", message.split("\nLINE ", 1)[0]).strip()

    def _finish(
        self, job_id: str, state: JobState, *, rows: int | None = None, bytes_: int | None = None,
        code: str | None = None, message: str | None = None, sqlstate: str | None = None,
    ) -> None:  # fmt: skip
        engine_query_id = self._running.engine_query_id(job_id)
        log.debug("job %s %s: rows %s, bytes %s, code %s", job_id, state.value, rows, bytes_, code)
        self.jobs.finish(
            job_id, state, self._clock(), rows=rows, bytes_=bytes_, error_code=code,
            error_message=self._redact(message), sqlstate=sqlstate, engine_query_id=engine_query_id,
        )  # fmt: skip

    def _start(self, job_id: str) -> None:
        self.jobs.start(job_id, self._clock(), self._instance_id or None)

    def fail(self, job_id: str, error: GatewayError) -> None:
        state = JobState.CANCELLED if error.status is Status.CANCELLED else JobState.FAILED
        self._finish(job_id, state, code=error.code, message=error.message, sqlstate=error.sqlstate)

    def stream(
        self,
        ctx: RequestContext,
        job_id: str,
        sql: str,
        params: pa.RecordBatch | None,
        planned: pa.Schema | None = None,
    ) -> tuple[pa.Schema, Iterator[Chunk] | pa.Table]:
        """Start the query now (so errors surface before any data) and stream its batches; a
        result that is complete within the first batches comes back whole, as a table. `planned`
        is the schema admission described (carried in the ticket); without it, it is described."""
        self._running.check_not_cancelled_queued(job_id)
        stack = ExitStack()
        try:
            stack.enter_context(self._decisions.slot(ctx, job_id))  # may wait in the tenant's queue
            session = stack.enter_context(self._engine(ctx).session(ctx.tenant))
            stack.enter_context(self._running.registered(job_id, session, ctx.tenant.limits.statement_timeout_seconds))
            # Described before the query starts (the session serves one call at a time), unless
            # the ticket carries the schema described when the statement was admitted.
            schema = planned if planned is not None else session.describe(sql, params).schema
            self._start(job_id)
            opening = self._pump.open(
                lambda: session.execute(sql, params, self._batch_rows), self._batch_rows, ctx.tenant
            )
            if self._pump.settled(opening, ctx.client_gone):
                # Fast path: errors reach the client as the call's status, before any data.
                opened = opening.result()
                schema = opened.reader.schema
                # Complete (or cut at a result cap) within the first batches; over a cap: RESULT_LIMIT.
                whole = complete_head(ctx.tenant.limits, opened)
                if whole is not None:
                    opened.reader.close()
                    stack.close()
                    if whole.truncated is not None:
                        self.jobs.set_truncated(job_id, whole.truncated)
                    self._finish(job_id, JobState.SUCCEEDED, rows=whole.rows, bytes_=whole.nbytes)
                    return schema, whole.result
        except GatewayError as err:
            failure = self._running.timed_out_as(job_id, err)  # read before the stack forgets the job
            stack.close()
            self.fail(job_id, failure)
            if failure is err:
                raise
            raise failure from err
        except BaseException:
            stack.close()
            raise
        capped = CappedStream(
            ResultCap.of(ctx.tenant.limits), self._pump.batches(opening, schema, session.cancel, ctx.client_gone)
        )
        return schema, self._batches(job_id, capped, stack)

    def complete(
        self,
        ctx: RequestContext,
        job_id: str,
        sql: str,
        params: pa.RecordBatch | None,
        schema: pa.Schema,
        consume: Callable[[pa.Schema, pa.RecordBatchReader], tuple[int, int]],
        in_engine: Callable[[EngineSession, pa.Schema], tuple[int, int] | None] | None = None,
        offload_location: str | None = None,
    ) -> None:
        """Run a query to completion, handing its result to `consume` (which returns rows and
        bytes, and cleans up after itself if it fails); the job ends SUCCEEDED only if it returns.
        `schema` is the result's, as admission described it.
        `in_engine`, when given, may do the whole job with the session instead (Redshift UNLOAD)
        and return rows and bytes, or return None to have the result read and consumed. With an
        `offload_location`, a failed job is recorded as an offload that failed there."""
        self._running.check_not_cancelled_queued(job_id)
        timeout = ctx.tenant.limits.statement_timeout_seconds
        with self._failure_recorded(job_id, offload_location), self._decisions.slot(ctx, job_id):
            with self._engine(ctx).session(ctx.tenant) as session, self._running.registered(job_id, session, timeout):
                try:
                    self._start(job_id)
                    done = in_engine(session, schema) if in_engine is not None else None
                    if done is not None:
                        rows, nbytes = done
                    else:
                        reader = session.execute(sql, params, self._batch_rows)
                        try:
                            rows, nbytes = consume(schema, reader)
                        finally:
                            reader.close()
                except GatewayError as err:
                    if self._running.was_cancelled(job_id) or err.status is Status.CANCELLED:
                        raise cancelled("the query was cancelled") from err
                    raise
                if self._running.was_cancelled(job_id):
                    raise cancelled("the query was cancelled")
        self._finish(job_id, JobState.SUCCEEDED, rows=rows, bytes_=nbytes)

    @contextmanager
    def _failure_recorded(self, job_id: str, offload_location: str | None = None) -> Iterator[None]:
        """A failure ends the job (FAILED, or CANCELLED) with its code before it reaches the caller.
        A failed offload keeps its delivery: expired as it failed, since nothing was kept."""
        try:
            yield
        except Exception as exc:
            if offload_location is not None:
                self.jobs.set_offload(job_id, offload_location, self._clock())
            err = exc if isinstance(exc, GatewayError) else error(ErrorCode.ENGINE_ERROR, str(exc))
            self.fail(job_id, err)
            raise

    def _batches(self, job_id: str, capped: CappedStream, stack: ExitStack) -> Iterator[Chunk]:
        state, code, message = JobState.SUCCEEDED, None, None
        sqlstate: str | None = None
        try:
            yield from capped  # counts what it yields; stops (and the engine) at a result cap
        except (GeneratorExit, ClientGone) as exc:
            # The client went away mid-stream; the pump has stopped the engine's work.
            state, code, message = JobState.CANCELLED, "CLIENT_DISCONNECTED", "the client closed the stream"
            if isinstance(exc, ClientGone):
                raise GatewayError(Status.CANCELLED, code, message) from None
            raise
        except GatewayError as err:
            failure = self._running.timed_out_as(job_id, err)
            if failure is not err:  # the watchdog stopped it: a timeout, not a cancel
                state, code, message = JobState.FAILED, failure.code, failure.message
                raise failure from err
            if self._running.was_cancelled(job_id) or err.status is Status.CANCELLED:
                state, code, message = JobState.CANCELLED, "CANCELLED", "cancelled by request"
                raise cancelled("the query was cancelled") from err
            state, code, message, sqlstate = JobState.FAILED, err.code, err.message, err.sqlstate
            raise
        except Exception as exc:
            state, code, message = JobState.FAILED, "ENGINE_ERROR", str(exc)
            raise
        finally:
            stack.close()
            if capped.truncated is not None:
                self.jobs.set_truncated(job_id, capped.truncated)
            rows, nbytes = capped.rows, capped.nbytes
            self._finish(job_id, state, rows=rows, bytes_=nbytes, code=code, message=message, sqlstate=sqlstate)

    def update(self, ctx: RequestContext, sql: str, params: pa.RecordBatch | None, kind: StatementKind) -> int:
        return self._counted(ctx, sql, kind, lambda session: session.execute_update(sql, params))

    def ingest(self, ctx: RequestContext, target: IngestTarget, data: pa.RecordBatchReader) -> int:
        return self._counted(
            ctx, f"INGEST INTO {target.table}", StatementKind.INGEST, lambda session: session.ingest(target, data)
        )

    def _counted(self, ctx: RequestContext, sql: str, kind: StatementKind, run: Callable[[EngineSession], int]) -> int:
        """Run a statement that returns a row count, as a job from start to finish."""
        job_id = self.new_job(ctx, sql, kind)
        timeout = ctx.tenant.limits.statement_timeout_seconds
        with self._failure_recorded(job_id), self._decisions.slot(ctx, job_id):
            self._start(job_id)
            with self._engine(ctx).session(ctx.tenant) as session, self._running.registered(job_id, session, timeout):
                count = run(session)
        self._finish(job_id, JobState.SUCCEEDED, rows=count)
        return count

    def interrupt(self, job_id: str) -> bool:
        """Interrupt a statement this process runs, whatever its record says (it may have been
        cancelled through another replica): whether one was running."""
        return self._running.interrupt(job_id)

    def cancel(self, tenant_id: str, job_id: str) -> CancelOutcome:
        job = tenant_job(self.jobs, tenant_id, job_id)
        if job.state.finished:
            return CancelOutcome.NOT_CANCELLABLE
        if self._running.interrupt(job_id):
            return CancelOutcome.CANCELLING
        self._running.cancel_queued(job_id)
        self.slots.cancel(job_id)  # waiting for a statement slot: it leaves the queue now
        self._finish(job_id, JobState.CANCELLED, code="CANCELLED")
        return CancelOutcome.CANCELLED

    def refuse(self, ctx: RequestContext, sql: str, kind: StatementKind, failure: GatewayError) -> None:
        """A statement the pre-flight turned away is still a job, with its admission decision."""
        job_id = self.new_job(ctx, sql, kind)
        self._decisions.refused(ctx.tenant.id, job_id, failure)
        self.fail(job_id, failure)

    def close(self) -> None:
        """Send statements waiting for a slot away (SHUTTING_DOWN) and stop the watchdog."""
        self.slots.close()
        self.watchdog.close()
