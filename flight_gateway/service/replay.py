"""Statements sent with a client request id: the first call runs, a retry gets its outcome.

Covered: GetFlightInfo of a statement or prepared statement (the same job: a streamed query's
ticket again, an offloaded query's stored parts, a DDL/DML's count), DoPut updates, ad hoc or
prepared (the first call's update count), and SubmitJob. The claim is taken before the statement
runs, so of concurrent duplicates exactly one runs; the others wait for its outcome. How a
replayed outcome is answered over Flight is `protocol/replay.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TypeAlias, TypeVar

import pyarrow as pa

from flight_gateway.context import RequestContext
from flight_gateway.errors import ErrorCode, GatewayError, error
from flight_gateway.jobs.idempotency import Claimed, RequestIds, replayed_failure, statement_digest
from flight_gateway.jobs.models import Job, JobState
from flight_gateway.kinds import StatementKind
from flight_gateway.service.admission import Admission
from flight_gateway.service.executor import Executor

T = TypeVar("T")


Parameters: TypeAlias = pa.RecordBatch | list[pa.RecordBatch] | None


def _parameter_bytes(params: Parameters) -> list[bytes]:
    batches = [] if params is None else params if isinstance(params, list) else [params]
    return [batch.serialize().to_pybytes() for batch in batches]


class Replays:
    def __init__(self, requests: RequestIds, executor: Executor, admission: Admission) -> None:
        self._requests = requests
        self._executor = executor
        self._admission = admission

    def claim(
        self,
        ctx: RequestContext,
        request_id: str,
        call: str,
        sql: str,
        params: pa.RecordBatch | list[pa.RecordBatch] | None,
    ) -> Claimed:
        digest = statement_digest(call, sql, _parameter_bytes(params))
        return self._requests.claim(ctx.tenant.id, request_id, digest)

    def job(self, ctx: RequestContext, job_id: str) -> Job:
        """The job an earlier call with the request id runs (or ran)."""
        return self._requests.job(ctx.tenant.id, job_id, finished=False)

    def update(
        self,
        ctx: RequestContext,
        request_id: str,
        sql: str,
        params: pa.RecordBatch | list[pa.RecordBatch] | None,
        run: Callable[[RequestContext], int],
    ) -> int:
        """An update: `run` executes it (with the claimed job id) unless this is a retry."""
        claimed = self.claim(ctx, request_id, "DoPut", sql, params)
        if claimed.first:
            return self.first(ctx, claimed.job_id, sql, run)
        return self.count(ctx, self.job(ctx, claimed.job_id))

    def finished(self, ctx: RequestContext, job: Job) -> Job:
        """The job once it has ended; a failed one raises its failure again."""
        job = job if job.state.finished else self._requests.job(ctx.tenant.id, job.id, finished=True)
        if job.state is not JobState.SUCCEEDED:
            raise replayed_failure(job)
        return job

    def count(self, ctx: RequestContext, job: Job) -> int:
        return self.finished(ctx, job).rows or 0

    def first(self, ctx: RequestContext, job_id: str, sql: str, run: Callable[[RequestContext], T]) -> T:
        claimed = replace(ctx, job_id=job_id)
        try:
            return run(claimed)
        except Exception as exc:
            # Refused before any job was recorded (empty SQL, bad parameters): record one under the
            # claimed id, so retries get this outcome instead of waiting for a job that never comes.
            if self._executor.jobs.get(job_id) is None:
                failure = exc if isinstance(exc, GatewayError) else error(ErrorCode.INTERNAL, str(exc))
                self._admission.refuse(claimed, sql, StatementKind.STATEMENT, failure)
            raise
