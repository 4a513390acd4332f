"""Detached jobs (the SubmitJob action): queries that run on a gateway-side worker pool, independent
of the call that submitted them, with their result offloaded as Parquet parts to fetch later.

The pool is bounded by `max_detached_jobs`: a submit beyond it is refused (RESOURCE_EXHAUSTED,
retryable) rather than queued, so every accepted job starts at once (it is RUNNING when SubmitJob
answers) and the job store never holds detached work that no live worker will pick up. A job
ends like any other: SUCCEEDED with its result recorded, FAILED, or CANCELLED (CancelJob
interrupts the engine; written parts are deleted).
CancelJob through another replica only marks the shared record, so each gateway looks at the
records of the jobs it runs every `watch_seconds` and interrupts those marked CANCELLED. A
gateway that stops cancels the detached jobs it runs; one that dies leaves them RUNNING until
restart recovery marks them FAILED.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pyarrow as pa

from flight_gateway.context import RequestContext
from flight_gateway.errors import ErrorCode, GatewayError, Status, error
from flight_gateway.jobs.idempotency import RequestIds, statement_digest
from flight_gateway.jobs.models import Job, JobState
from flight_gateway.jobs.requests import JsonScalar
from flight_gateway.kinds import StatementKind
from flight_gateway.offload import parquet_compatible
from flight_gateway.service.admission import Admission, check_parameter_count
from flight_gateway.service.executor import Executor

log = logging.getLogger("flight_gateway.detached")
KIND = StatementKind.DETACHED
UNBOUND = "the statement has {n} parameter(s) but none were sent; send one value per ? in 'parameters'"
# Runs a query to completion into offloaded parts, recording the result in its job (the offload's run).
OffloadRun = Callable[[RequestContext, str, str, pa.RecordBatch | None, pa.Schema], object]


class DetachedJobs:
    def __init__(
        self,
        executor: Executor,
        admission: Admission,
        run: OffloadRun,
        max_jobs: int,
        requests: RequestIds | None = None,
        *,
        watch_seconds: float = 1.0,
    ) -> None:
        self._executor = executor
        self._admission = admission
        self._run = run
        self._requests = requests
        self.max_jobs = max_jobs
        self._slots = threading.BoundedSemaphore(max_jobs)
        self._pool = ThreadPoolExecutor(max_workers=max_jobs, thread_name_prefix="detached-job")
        self._running: dict[str, str] = {}  # job id → tenant id
        self._lock = threading.Lock()
        self._closed = False
        self._stop = threading.Event()
        self._watch_seconds = watch_seconds
        self._watcher = threading.Thread(target=self._watch, name="detached-job-watcher", daemon=True)

    def submit(self, ctx: RequestContext, sql: str, label: str | None, parameters: Sequence[JsonScalar] = ()) -> Job:
        """Start `sql` as a detached job (or, for a retried request id, find the first call's job)."""
        if not sql.strip():
            raise error(ErrorCode.EMPTY_STATEMENT, "the SQL statement is empty")
        params = _parameter_batch(parameters)
        schema = self._checked_schema(ctx, sql, params)
        if not self._slots.acquire(blocking=False):
            raise error(
                ErrorCode.DETACHED_JOBS_BUSY,
                f"this gateway already runs {self.max_jobs} detached jobs (max_detached_jobs); submit again later",
            )
        earlier: str | None = None  # the job of an earlier call with this request id
        try:
            if ctx.client_request_id is not None and self._requests is not None:
                values = [] if params is None else [params.serialize().to_pybytes()]
                digest = statement_digest("SubmitJob", sql, values)
                claimed = self._requests.claim(ctx.tenant.id, ctx.client_request_id, digest)
                ctx = replace(ctx, job_id=claimed.job_id)
                earlier = None if claimed.first else claimed.job_id
            if earlier is None:
                job_id = self._start(ctx, sql, label, params, schema)
        except BaseException:
            self._slots.release()
            raise
        if earlier is not None and self._requests is not None:
            self._slots.release()
            return self._requests.job(ctx.tenant.id, earlier, finished=False)
        job = self._executor.jobs.get(job_id)
        assert job is not None  # noqa: S101 - written above; reads wait for queued writes
        return job

    def _start(
        self, ctx: RequestContext, sql: str, label: str | None, params: pa.RecordBatch | None, schema: pa.Schema
    ) -> str:
        """Record the job and hand it to a worker (whose slot the caller holds): its id."""
        with self._lock:
            if self._closed:
                error = GatewayError(Status.UNAVAILABLE, "SHUTTING_DOWN", "the gateway is stopping; submit again")
                # Recorded, so a retry with the same request id finds an outcome to report.
                self._admission.refuse(ctx, sql, KIND, error)
                raise error
            job_id = self._executor.new_job(ctx, sql, KIND, label)
            # RUNNING from the start (a worker is reserved for it): if this process dies from
            # now on, restart recovery finds the job and fails it, instead of a QUEUED record
            # waiting for a worker that no longer exists.
            self._executor.jobs.start(job_id, time.time())
            ctx = replace(ctx, job_id=job_id)
            self._running[job_id] = ctx.tenant.id
            if not self._watcher.is_alive():
                self._watcher.start()
            self._pool.submit(self._work, ctx, job_id, sql, params, schema)
        return job_id

    def _checked_schema(self, ctx: RequestContext, sql: str, params: pa.RecordBatch | None) -> pa.Schema:
        """The query's result schema, after the pre-flight every statement passes (refusals are jobs
        too), and what a detached job needs besides."""
        shape = self._admission.admit(ctx, sql, params, KIND)
        try:
            if shape.kind is not StatementKind.QUERY:
                raise error(
                    ErrorCode.NOT_A_QUERY,
                    f"SubmitJob runs queries, and this is a {shape.kind.value} statement; "
                    "run it as an update (DoPut, or cursor.execute) instead",
                )
            if params is None:
                check_parameter_count(len(shape.parameters), None, UNBOUND)
            if not parquet_compatible(shape.schema):
                raise error(
                    ErrorCode.NOT_OFFLOADABLE,
                    "the result has types Parquet cannot hold, so it cannot be kept for later; run it as a statement",
                )
        except GatewayError as err:
            self._admission.refuse(ctx, sql, KIND, err)
            raise
        return shape.schema

    def _work(
        self, ctx: RequestContext, job_id: str, sql: str, params: pa.RecordBatch | None, schema: pa.Schema
    ) -> None:
        try:
            self._run(ctx, job_id, sql, params, schema)
        except GatewayError as err:
            log.info("detached job %s ended: %s", job_id, err.code)  # the executor recorded the outcome
        except Exception:
            log.exception("detached job %s failed unexpectedly", job_id)
        finally:
            with self._lock:
                self._running.pop(job_id, None)
            self._slots.release()

    def _watch(self) -> None:
        while not self._stop.wait(self._watch_seconds):
            with self._lock:
                job_ids = list(self._running)
            for job_id in job_ids:
                try:
                    job = self._executor.jobs.get(job_id)
                except Exception:
                    log.exception("reading detached job %s failed; trying again", job_id)
                    continue
                if job is not None and job.state is JobState.CANCELLED and self._executor.interrupt(job_id):
                    log.info("detached job %s was cancelled through another gateway; interrupted", job_id)

    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def close(self) -> None:
        """Stop taking jobs, interrupt the running ones (they end CANCELLED), wait for the workers."""
        with self._lock:
            self._closed = True
            running = list(self._running.items())
        self._stop.set()
        for job_id, tenant in running:
            try:
                self._executor.cancel(tenant, job_id)
            except GatewayError:
                log.info("detached job %s could not be cancelled at shutdown", job_id)
            # Also when its record says it already ended (cancelled through another replica).
            self._executor.interrupt(job_id)
        self._pool.shutdown(wait=True)
        if self._watcher.is_alive():
            self._watcher.join()


def _parameter_batch(values: Sequence[JsonScalar]) -> pa.RecordBatch | None:
    """One row of bound values, typed as JSON gives them (integer, double, string, boolean, null)."""
    if not values:
        return None
    try:
        arrays = [pa.array([value]) for value in values]
    except (OverflowError, pa.ArrowException):
        raise error(
            ErrorCode.PARAMETER_OUT_OF_RANGE, "a parameter does not fit a 64-bit integer; send it as a string"
        ) from None
    return pa.RecordBatch.from_arrays(arrays, names=[f"${i}" for i in range(1, len(values) + 1)])
