"""SQL statements over Flight SQL: ad-hoc and prepared, queries and updates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.flight as fl

from flight_gateway.context import RequestContext
from flight_gateway.engines.base import IngestTarget
from flight_gateway.errors import ErrorCode, error
from flight_gateway.kinds import StatementKind
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack
from flight_gateway.protocol.offloaded import OffloadDelivery
from flight_gateway.protocol.tickets import (
    CountTicket,
    PreparedHandle,
    QueryTicket,
    Ticket,
    TicketSigner,
    read_handle,
    sign_handle,
    sign_ticket,
)
from flight_gateway.service.admission import Admission, check_parameter_count
from flight_gateway.service.caps import announcement
from flight_gateway.service.executor import Executor
from flight_gateway.service.planning import Counted, Offloaded, Planning, Streamed

_NOT_EXIST = pb.CommandStatementIngest.TableDefinitionOptions.TableNotExistOption
_EXISTS = pb.CommandStatementIngest.TableDefinitionOptions.TableExistsOption
UPDATE_RESULT_SCHEMA = pa.schema([pa.field("Count", pa.int64())])
# Prepared statements outlive single calls: BI tools keep them for a session's life.
HANDLE_TTL_SECONDS = 24 * 3600
MAX_INLINE_PARAMETER_BYTES = 1 << 20
NO_TRANSACTIONS = (
    "transactions are not supported (SqlInfo FLIGHT_SQL_SERVER_TRANSACTION is NONE); each statement commits on its own"
)


@dataclass(frozen=True)
class Planned:
    """A FlightInfo's content: result schema, one ticket (or, offloaded, one endpoint per part),
    and the row and byte counts when known; `app_metadata` says which result caps apply (and, for
    a result complete before the FlightInfo, whether one cut it: service/caps.py)."""

    schema: pa.Schema
    ticket: bytes
    total_records: int = -1
    endpoints: tuple[fl.FlightEndpoint, ...] = ()
    total_bytes: int = -1
    app_metadata: bytes = b""


class Statements:
    def __init__(
        self,
        executor: Executor,
        admission: Admission,
        signer: TicketSigner,
        ticket_ttl: int,
        offload: OffloadDelivery | None = None,
    ) -> None:
        self._executor = executor
        self._admission = admission
        self._signer = signer
        self._ticket_ttl = ticket_ttl
        self._planning = Planning(executor, admission, None if offload is None else offload.offloading)
        self._offload = offload

    def ticket(self, ctx: RequestContext, ticket: Ticket) -> bytes:
        return sign_ticket(self._signer, ctx.tenant.id, self._ticket_ttl, ticket)

    def plan(self, ctx: RequestContext, sql: str, params: pa.RecordBatch | None) -> Planned:
        """Queries run when their ticket is read; anything else runs now (DDL/DML via a query
        command take effect even if the client never fetches) and its ticket holds the count."""
        if not sql.strip():
            raise error(ErrorCode.EMPTY_STATEMENT, "the SQL statement is empty")
        plan = self._planning.plan(ctx, sql, params)
        if isinstance(plan, Streamed):
            ticket = self.query_ticket(ctx, sql, plan.job_id, params, plan.schema)
            return Planned(plan.schema, ticket, app_metadata=announcement(ctx.tenant.limits))
        if isinstance(plan, Offloaded) and self._offload is not None:
            # Offloaded results are complete before the FlightInfo leaves: exact counts.
            result = plan.result
            endpoints = self._offload.part_endpoints(
                ctx, plan.job_id, (p.path for p in result.parts), result.expires_at
            )
            capped = announcement(ctx.tenant.limits, result.truncated)
            return Planned(plan.schema, b"", result.rows, tuple(endpoints), result.bytes, capped)
        assert isinstance(plan, Counted)  # noqa: S101 - the plans are these three
        count = plan.count
        # Whatever the engine's own reply looks like (DuckDB answers `Success: bool` to some
        # statements), a statement without rows answers one row: the count of affected rows.
        return Planned(UPDATE_RESULT_SCHEMA, self.ticket(ctx, CountTicket(count)), total_records=1)

    def query_ticket(
        self, ctx: RequestContext, sql: str, job_id: str, params: pa.RecordBatch | None, schema: pa.Schema
    ) -> bytes:
        """A streamed query's ticket: it carries the schema admission described, so DoGet need not
        describe the statement again."""
        return self.ticket(ctx, QueryTicket(sql, job_id, params, schema))

    def schema_of(self, ctx: RequestContext, sql: str, params: pa.RecordBatch | None) -> pa.Schema:
        return self._admission.admit(ctx, sql, params).schema

    def update(self, ctx: RequestContext, sql: str, params: pa.RecordBatch | None) -> int:
        shape = self._admission.admit(ctx, sql, params)
        return self._executor.update(ctx, sql, params, shape.kind)

    # Prepared statements: the handle carries the SQL, its parameter count and bound values, signed.

    def create_prepared(self, ctx: RequestContext, request: Any) -> bytes:
        if request.HasField("transaction_id"):
            raise error(ErrorCode.NO_TRANSACTIONS, NO_TRANSACTIONS)
        sql = request.query
        if not sql.strip():
            raise error(ErrorCode.EMPTY_STATEMENT, "the SQL statement is empty")
        shape = self._admission.admit(ctx, sql, None)
        prepared = PreparedHandle(sql, None, len(shape.parameters))
        handle = sign_handle(self._signer, ctx.tenant.id, HANDLE_TTL_SECONDS, prepared)
        result = pb.ActionCreatePreparedStatementResult(
            prepared_statement_handle=handle,
            dataset_schema=shape.schema.serialize().to_pybytes(),
            parameter_schema=shape.parameters.serialize().to_pybytes(),
        )
        return pack(result)

    def open_handle(self, ctx: RequestContext, handle: bytes) -> PreparedHandle:
        return read_handle(self._signer, ctx.tenant.id, handle)

    def bind(self, ctx: RequestContext, handle: bytes, params: pa.RecordBatch) -> bytes:
        """A new handle with `params` bound (clients send it back: DoPutPreparedStatementResult)."""
        prepared = self.open_handle(ctx, handle)
        sql = prepared.sql
        if params.num_rows > 1:
            raise error(
                ErrorCode.TOO_MANY_PARAMETER_ROWS,
                f"a prepared query binds one parameter row per execution, got {params.num_rows}; "
                "use an update (executemany) for many rows",
            )
        # The count described when the statement was prepared (handles from before it was kept: described now).
        expected = prepared.parameter_count
        if expected is None:
            expected = len(self._admission.admit(ctx, sql, None).parameters)
        check_parameter_count(expected, params.num_columns)
        bound = PreparedHandle(sql, params, expected)
        return sign_handle(self._signer, ctx.tenant.id, HANDLE_TTL_SECONDS, bound, MAX_INLINE_PARAMETER_BYTES)

    def update_prepared(self, ctx: RequestContext, handle: bytes, batches: list[pa.RecordBatch]) -> int:
        prepared = self.open_handle(ctx, handle)
        sql, bound = prepared.sql, prepared.params
        # Described again (not taken from the handle): the tenant's allowances are checked when it runs.
        expected = len(self._admission.admit(ctx, sql, None).parameters)
        rows = [b for b in batches if b.num_rows]
        for batch in rows:
            check_parameter_count(expected, batch.num_columns)
        if not rows:
            check_parameter_count(expected, None, "the statement needs {n} parameter value(s)")
            return self._executor.update(ctx, sql, bound, StatementKind.DML)
        table = pa.Table.from_batches(rows).combine_chunks()
        return self._executor.update(ctx, sql, table.to_batches()[0], StatementKind.DML)

    def ingest(self, ctx: RequestContext, cmd: Any, data: pa.RecordBatchReader) -> int:
        """Bulk ingestion (ADBC adbc_ingest): modes map to (if_not_exist, if_exists) options."""
        if cmd.HasField("transaction_id"):
            raise error(ErrorCode.NO_TRANSACTIONS, NO_TRANSACTIONS)
        if cmd.temporary:
            raise error(
                ErrorCode.NO_TEMPORARY_INGEST,
                "temporary tables are not supported: each call runs on its own connection",
            )
        if not cmd.table:
            raise error(ErrorCode.MISSING_TABLE, "CommandStatementIngest needs a table name")
        self._admission.allow_ingest(ctx)
        options = cmd.table_definition_options
        missing = {_NOT_EXIST.TABLE_NOT_EXIST_OPTION_CREATE: True, _NOT_EXIST.TABLE_NOT_EXIST_OPTION_FAIL: False}
        exists = {
            _EXISTS.TABLE_EXISTS_OPTION_FAIL: "fail",
            _EXISTS.TABLE_EXISTS_OPTION_APPEND: "append",
            _EXISTS.TABLE_EXISTS_OPTION_REPLACE: "replace",
        }
        if options.if_not_exist not in missing or options.if_exists not in exists:
            raise error(ErrorCode.INGEST_OPTIONS, "set both if_not_exist and if_exists in table_definition_options")
        target = IngestTarget(
            table=cmd.table,
            schema=cmd.schema if cmd.HasField("schema") else None,
            catalog=cmd.catalog if cmd.HasField("catalog") else None,
            create_if_missing=missing[options.if_not_exist],
            if_exists=exists[options.if_exists],
        )
        self._admission.check_ingest_target(target)
        return self._executor.ingest(ctx, target, data)
