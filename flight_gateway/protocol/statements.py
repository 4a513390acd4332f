"""SQL statements over Flight SQL: ad-hoc and prepared, queries and updates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.flight as fl

from flight_gateway.context import RequestContext
from flight_gateway.engines.base import IngestTarget, StatementKind, StatementShape
from flight_gateway.errors import GatewayError, invalid, unimplemented
from flight_gateway.policy import check_statement, check_statement_class
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack
from flight_gateway.protocol.offloaded import OffloadDelivery
from flight_gateway.protocol.tickets import TicketSigner, decode_batch, encode_batch
from flight_gateway.service.executor import Executor

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
    and the row and byte counts when known."""

    schema: pa.Schema
    ticket: bytes
    total_records: int = -1
    endpoints: tuple[fl.FlightEndpoint, ...] = ()
    total_bytes: int = -1


class Statements:
    def __init__(
        self, executor: Executor, signer: TicketSigner, ticket_ttl: int, offload: OffloadDelivery | None = None
    ) -> None:
        self._executor = executor
        self._signer = signer
        self._ticket_ttl = ticket_ttl
        self._offload = offload

    def ticket(self, ctx: RequestContext, fields: dict[str, Any]) -> bytes:
        handle = self._signer.sign("ticket", ctx.tenant.id, self._ticket_ttl, fields)
        return pack(pb.TicketStatementQuery(statement_handle=handle))

    def _describe(self, ctx: RequestContext, sql: str, params: pa.RecordBatch | None) -> StatementShape:
        try:
            shape = self._executor.describe(ctx, sql, params)
            check_statement(ctx.tenant, shape)
        except GatewayError as err:
            self._executor.record_failure(ctx, sql, "statement", err)
            raise
        return shape

    def plan(self, ctx: RequestContext, sql: str, params: pa.RecordBatch | None) -> Planned:
        """Queries run when their ticket is read; anything else runs now (DDL/DML via a query
        command take effect even if the client never fetches) and its ticket holds the count."""
        if not sql.strip():
            raise invalid("EMPTY_STATEMENT", "the SQL statement is empty")
        shape = self._describe(ctx, sql, params)
        # With values bound, the engine has already checked their count while describing.
        if params is None and len(shape.parameters):
            error = invalid(
                "PARAMETER_MISMATCH",
                f"the statement has {len(shape.parameters)} parameter(s) but none were bound; "
                "bind one value per parameter before executing",
            )
            self._executor.record_failure(ctx, sql, shape.kind.value, error)
            raise error
        if shape.kind is StatementKind.QUERY:
            offloaded = self._offload is not None and self._offload.wanted(ctx, sql, params, shape.schema)
            job_id = self._executor.new_job(ctx, sql, shape.kind.value)
            if offloaded and self._offload is not None:
                # Offloaded results are complete before the FlightInfo leaves: exact counts.
                endpoints, rows, nbytes = self._offload.run(ctx, job_id, sql, params, shape.schema)
                return Planned(shape.schema, b"", rows, tuple(endpoints), nbytes)
            fields: dict[str, Any] = {"k": "q", "s": sql, "j": job_id, "p": encode_batch(params)}
            return Planned(shape.schema, self.ticket(ctx, fields))
        count = self._executor.update(ctx, sql, params, shape.kind.value)
        # Whatever the engine's own reply looks like (DuckDB answers `Success: bool` to some
        # statements), a statement without rows answers one row: the count of affected rows.
        return Planned(UPDATE_RESULT_SCHEMA, self.ticket(ctx, {"k": "c", "n": count}), total_records=1)

    def schema_of(self, ctx: RequestContext, sql: str, params: pa.RecordBatch | None) -> pa.Schema:
        return self._describe(ctx, sql, params).schema

    def update(self, ctx: RequestContext, sql: str, params: pa.RecordBatch | None) -> int:
        shape = self._describe(ctx, sql, params)
        return self._executor.update(ctx, sql, params, shape.kind.value)

    # Prepared statements: the handle carries the SQL (and bound parameters), signed.

    def create_prepared(self, ctx: RequestContext, request: Any) -> bytes:
        if request.HasField("transaction_id"):
            raise unimplemented("NO_TRANSACTIONS", NO_TRANSACTIONS)
        sql = request.query
        if not sql.strip():
            raise invalid("EMPTY_STATEMENT", "the SQL statement is empty")
        shape = self._describe(ctx, sql, None)
        handle = self._signer.sign("handle", ctx.tenant.id, HANDLE_TTL_SECONDS, {"s": sql, "p": None})
        result = pb.ActionCreatePreparedStatementResult(
            prepared_statement_handle=handle,
            dataset_schema=shape.schema.serialize().to_pybytes(),
            parameter_schema=shape.parameters.serialize().to_pybytes(),
        )
        return pack(result)

    def open_handle(self, ctx: RequestContext, handle: bytes) -> tuple[str, pa.RecordBatch | None]:
        body = self._signer.verify("handle", ctx.tenant.id, handle)
        return str(body["s"]), decode_batch(body.get("p"))

    def bind(self, ctx: RequestContext, handle: bytes, params: pa.RecordBatch) -> bytes:
        """A new handle with `params` bound (clients send it back: DoPutPreparedStatementResult)."""
        sql, _ = self.open_handle(ctx, handle)
        if params.num_rows > 1:
            raise invalid(
                "TOO_MANY_PARAMETER_ROWS",
                f"a prepared query binds one parameter row per execution, got {params.num_rows}; "
                "use an update (executemany) for many rows",
            )
        expected = len(self._describe(ctx, sql, None).parameters)
        if params.num_columns != expected:
            raise invalid(
                "PARAMETER_MISMATCH",
                f"the statement has {expected} parameter(s) but {params.num_columns} were bound",
            )
        encoded = encode_batch(params)
        if encoded is not None and len(encoded) > MAX_INLINE_PARAMETER_BYTES:
            raise invalid("PARAMETERS_TOO_LARGE", "bound parameters exceed 1 MiB; bind smaller values")
        return self._signer.sign("handle", ctx.tenant.id, HANDLE_TTL_SECONDS, {"s": sql, "p": encoded})

    def update_prepared(self, ctx: RequestContext, handle: bytes, batches: list[pa.RecordBatch]) -> int:
        sql, bound = self.open_handle(ctx, handle)
        expected = len(self._describe(ctx, sql, None).parameters)
        rows = [b for b in batches if b.num_rows]
        for batch in rows:
            if batch.num_columns != expected:
                raise invalid(
                    "PARAMETER_MISMATCH",
                    f"the statement has {expected} parameter(s) but {batch.num_columns} were bound",
                )
        if not rows:
            if expected:
                raise invalid("PARAMETER_MISMATCH", f"the statement needs {expected} parameter value(s)")
            return self._executor.update(ctx, sql, bound, "dml")
        table = pa.Table.from_batches(rows).combine_chunks()
        return self._executor.update(ctx, sql, table.to_batches()[0], "dml")

    def ingest(self, ctx: RequestContext, cmd: Any, data: pa.RecordBatchReader) -> int:
        """Bulk ingestion (ADBC adbc_ingest): modes map to (if_not_exist, if_exists) options."""
        if cmd.HasField("transaction_id"):
            raise unimplemented("NO_TRANSACTIONS", NO_TRANSACTIONS)
        if cmd.temporary:
            raise unimplemented(
                "NO_TEMPORARY_INGEST", "temporary tables are not supported: each call runs on its own connection"
            )
        if not cmd.table:
            raise invalid("MISSING_TABLE", "CommandStatementIngest needs a table name")
        check_statement_class(ctx.tenant, "ingest")
        options = cmd.table_definition_options
        missing = {_NOT_EXIST.TABLE_NOT_EXIST_OPTION_CREATE: True, _NOT_EXIST.TABLE_NOT_EXIST_OPTION_FAIL: False}
        exists = {
            _EXISTS.TABLE_EXISTS_OPTION_FAIL: "fail",
            _EXISTS.TABLE_EXISTS_OPTION_APPEND: "append",
            _EXISTS.TABLE_EXISTS_OPTION_REPLACE: "replace",
        }
        if options.if_not_exist not in missing or options.if_exists not in exists:
            raise invalid("INGEST_OPTIONS", "set both if_not_exist and if_exists in table_definition_options")
        target = IngestTarget(
            table=cmd.table,
            schema=cmd.schema if cmd.HasField("schema") else None,
            catalog=cmd.catalog if cmd.HasField("catalog") else None,
            create_if_missing=missing[options.if_not_exist],
            if_exists=exists[options.if_exists],
        )
        return self._executor.ingest(ctx, target, data)
