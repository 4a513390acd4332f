"""Retried statements over Flight (a client request id): a retried GetFlightInfo gets the first
call's answer again — a streamed query's ticket for the same job, an offloaded query's stored
parts, a DDL/DML's count. The claims, waits and their job records are `service/replay.py`.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from flight_gateway.context import RequestContext
from flight_gateway.kinds import StatementKind
from flight_gateway.protocol.job_results import JobResults
from flight_gateway.protocol.offloaded import OffloadDelivery
from flight_gateway.protocol.statements import UPDATE_RESULT_SCHEMA, Planned, Statements
from flight_gateway.protocol.tickets import CountTicket
from flight_gateway.service.caps import announcement
from flight_gateway.service.replay import Replays


class ReplayedPlans:
    def __init__(
        self, replays: Replays, statements: Statements, results: JobResults, offload: OffloadDelivery | None
    ) -> None:
        self._replays = replays
        self._statements = statements
        self._results = results
        self._offload = offload

    def plan(self, ctx: RequestContext, request_id: str, sql: str, params: pa.RecordBatch | None) -> Planned:
        claimed = self._replays.claim(ctx, request_id, "GetFlightInfo", sql, params)
        if claimed.first:
            return self._replays.first(ctx, claimed.job_id, sql, lambda c: self._statements.plan(c, sql, params))
        job = self._replays.job(ctx, claimed.job_id)
        if job.kind == StatementKind.QUERY.value:
            schema = self._statements.schema_of(ctx, sql, params)
            if job.delivery != "offload" and not (
                self._offload is not None and self._offload.wanted(ctx, sql, params, schema)
            ):
                # A streamed query runs when its ticket is read: the retry gets a ticket for the same job.
                ticket = self._statements.query_ticket(ctx, sql, job.id, params, schema)
                return Planned(schema, ticket, app_metadata=announcement(ctx.tenant.limits))
            job = self._replays.finished(ctx, job)
            result, expires_at = self._results.available(job)
            assert self._offload is not None  # noqa: S101 - an offloaded job implies offload
            paths = (path for path, _ in result.parts)
            endpoints = tuple(self._offload.part_endpoints(ctx, job.id, paths, expires_at))
            capped = announcement(ctx.tenant.limits, job.truncated)
            return Planned(result.schema, b"", result.rows, endpoints, result.bytes, capped)
        count = self._replays.count(ctx, job)
        return Planned(UPDATE_RESULT_SCHEMA, self._statements.ticket(ctx, CountTicket(count)), total_records=1)

    def update(
        self,
        ctx: RequestContext,
        request_id: str,
        sql: str,
        params: pa.RecordBatch | list[pa.RecordBatch] | None,
        run: Callable[[RequestContext], int],
    ) -> int:
        return self._replays.update(ctx, request_id, sql, params, run)
