"""Planning a statement (GetFlightInfo): after the pre-flight, a query is recorded as a job and
either left to stream when its ticket is read, or run now into offloaded parts; anything else
runs now and answers its count. Protocol only encodes the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from flight_gateway.context import RequestContext
from flight_gateway.kinds import StatementKind
from flight_gateway.offload import OffloadedResult
from flight_gateway.service.admission import UNBOUND, Admission
from flight_gateway.service.executor import Executor
from flight_gateway.service.offloading import Offloading


@dataclass(frozen=True)
class Streamed:
    """A query recorded QUEUED, to run when its ticket is read."""

    job_id: str
    schema: pa.Schema


@dataclass(frozen=True)
class Offloaded:
    """A query run to completion into Parquet parts."""

    job_id: str
    schema: pa.Schema
    result: OffloadedResult


@dataclass(frozen=True)
class Counted:
    """A statement without rows (DDL/DML) that ran: its count of affected rows."""

    count: int


Plan = Streamed | Offloaded | Counted


class Planning:
    def __init__(self, executor: Executor, admission: Admission, offloading: Offloading | None = None) -> None:
        self._executor = executor
        self._admission = admission
        self._offloading = offloading

    def plan(self, ctx: RequestContext, sql: str, params: pa.RecordBatch | None) -> Plan:
        """Queries run when their ticket is read; anything else runs now (DDL/DML via a query
        command take effect even if the client never fetches)."""
        # With values bound, the engine has already checked their count while describing.
        shape = self._admission.admit(ctx, sql, params, unbound=UNBOUND)
        if shape.kind is StatementKind.QUERY:
            offloaded = self._offloading is not None and self._offloading.wanted(ctx, sql, params, shape.schema)
            job_id = self._executor.new_job(ctx, sql, shape.kind)
            if offloaded and self._offloading is not None:
                # Offloaded results are complete before the FlightInfo leaves: exact counts.
                result = self._offloading.run(ctx, job_id, sql, params, shape.schema)
                return Offloaded(job_id, shape.schema, result)
            return Streamed(job_id, shape.schema)
        return Counted(self._executor.update(ctx, sql, params, shape.kind))
