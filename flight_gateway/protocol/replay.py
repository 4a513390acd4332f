"""Statements sent with a client request id: the first call runs, a retry gets its outcome.

Covered: GetFlightInfo of a statement or prepared statement (the same job: a streamed query's
ticket again, an offloaded query's stored parts, a DDL/DML's count) and DoPut updates, ad hoc or
prepared (the first call's update count). The claim is taken before the statement runs, so of
concurrent duplicates exactly one runs; the others wait for its outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

import pyarrow as pa

from flight_gateway.context import RequestContext
from flight_gateway.errors import GatewayError, Status
from flight_gateway.jobs.idempotency import RequestIds, replayed_failure, statement_digest
from flight_gateway.jobs.models import Job, JobState
from flight_gateway.protocol.job_results import JobResults
from flight_gateway.protocol.offloaded import OffloadDelivery
from flight_gateway.protocol.statements import UPDATE_RESULT_SCHEMA, Planned, Statements
from flight_gateway.protocol.tickets import encode_batch
from flight_gateway.service.executor import Executor

T = TypeVar("T")


def _parameter_bytes(params: pa.RecordBatch | list[pa.RecordBatch] | None) -> list[bytes]:
    batches = [] if params is None else params if isinstance(params, list) else [params]
    return [batch.serialize().to_pybytes() for batch in batches]


class Replays:
    def __init__(
        self,
        requests: RequestIds,
        executor: Executor,
        statements: Statements,
        results: JobResults,
        offload: OffloadDelivery | None,
    ) -> None:
        self._requests = requests
        self._executor = executor
        self._statements = statements
        self._results = results
        self._offload = offload

    def plan(self, ctx: RequestContext, request_id: str, sql: str, params: pa.RecordBatch | None) -> Planned:
        digest = statement_digest("GetFlightInfo", sql, _parameter_bytes(params))
        claimed = self._requests.claim(ctx.tenant.id, request_id, digest)
        if claimed.first:
            return self._first(ctx, claimed.job_id, sql, lambda c: self._statements.plan(c, sql, params))
        job = self._requests.job(ctx.tenant.id, claimed.job_id, finished=False)
        if job.kind == "query":
            schema = self._statements.schema_of(ctx, sql, params)
            if job.delivery != "offload" and not (
                self._offload is not None and self._offload.wanted(ctx, sql, params, schema)
            ):
                # A streamed query runs when its ticket is read: the retry gets a ticket for the same job.
                fields = {"k": "q", "s": sql, "j": job.id, "p": encode_batch(params)}
                return Planned(schema, self._statements.ticket(ctx, fields))
            job = self._finished(ctx, job)
            if job.state is not JobState.SUCCEEDED:
                raise replayed_failure(job)
            result, expires_at = self._results.available(job)
            assert self._offload is not None  # noqa: S101 - an offloaded job implies offload
            paths = (path for path, _ in result.parts)
            endpoints = tuple(self._offload.part_endpoints(ctx, job.id, paths, expires_at))
            return Planned(result.schema, b"", result.rows, endpoints, result.bytes)
        count = self._count(ctx, job)
        return Planned(UPDATE_RESULT_SCHEMA, self._statements.ticket(ctx, {"k": "c", "n": count}), total_records=1)

    def update(
        self,
        ctx: RequestContext,
        request_id: str,
        sql: str,
        params: pa.RecordBatch | list[pa.RecordBatch] | None,
        run: Callable[[RequestContext], int],
    ) -> int:
        """A DoPut update: `run` executes it (with the claimed job id) unless this is a retry."""
        claimed = self._requests.claim(
            ctx.tenant.id, request_id, statement_digest("DoPut", sql, _parameter_bytes(params))
        )
        if claimed.first:
            return self._first(ctx, claimed.job_id, sql, run)
        return self._count(ctx, self._requests.job(ctx.tenant.id, claimed.job_id, finished=False))

    def _finished(self, ctx: RequestContext, job: Job) -> Job:
        return job if job.state.finished else self._requests.job(ctx.tenant.id, job.id, finished=True)

    def _count(self, ctx: RequestContext, job: Job) -> int:
        job = self._finished(ctx, job)
        if job.state is not JobState.SUCCEEDED:
            raise replayed_failure(job)
        return job.rows or 0

    def _first(self, ctx: RequestContext, job_id: str, sql: str, run: Callable[[RequestContext], T]) -> T:
        claimed = replace(ctx, job_id=job_id)
        try:
            return run(claimed)
        except Exception as exc:
            # Refused before any job was recorded (empty SQL, bad parameters): record one under the
            # claimed id, so retries get this outcome instead of waiting for a job that never comes.
            if self._executor.jobs.get(job_id) is None:
                error = exc if isinstance(exc, GatewayError) else GatewayError(Status.INTERNAL, "INTERNAL", str(exc))
                self._executor.record_failure(claimed, sql, "statement", error)
            raise
