"""The Flight service: decode the command, dispatch to its handler, encode the answer.

Every handler runs inside `calls.run_call`, which turns GatewayErrors into Flight statuses and anything
unexpected into INTERNAL with a request id (the traceback goes to the log, never the client).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.flight as fl
from google.protobuf import message

from flight_gateway.context import RequestContext
from flight_gateway.errors import ErrorCode, error
from flight_gateway.jobs.idempotency import RequestIds
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.actions import Actions
from flight_gateway.protocol.calls import (
    CallLiveness,
    Redeemed,
    charge_redeemed_again,
    command_of,
    guarded,
    run_call,
)
from flight_gateway.protocol.commands import pack, unpack
from flight_gateway.protocol.info import ServerInfo
from flight_gateway.protocol.job_results import JobResults, job_id_of
from flight_gateway.protocol.metadata import CATALOG_COMMANDS
from flight_gateway.protocol.offloaded import OffloadDelivery
from flight_gateway.protocol.replay import ReplayedPlans
from flight_gateway.protocol.statements import NO_TRANSACTIONS, UPDATE_RESULT_SCHEMA, Planned, Statements
from flight_gateway.protocol.tickets import (
    CountTicket,
    MetadataTicket,
    PartTicket,
    QueryTicket,
    TicketSigner,
    read_ticket,
)
from flight_gateway.service.admission import Admission
from flight_gateway.service.detached import DetachedJobs
from flight_gateway.service.executor import Executor
from flight_gateway.service.replay import Replays


class GatewayFlightServer(fl.FlightServerBase):  # type: ignore[misc]
    def __init__(
        self,
        location: str,
        *,
        executor: Executor,
        admission: Admission,
        signer: TicketSigner,
        info: ServerInfo,
        ticket_ttl: int,
        middleware: dict[str, fl.ServerMiddlewareFactory],
        auth_handler: fl.ServerAuthHandler | None,
        tls: Mapping[str, Any] | None = None,
        offload: OffloadDelivery | None = None,
        requests: RequestIds | None = None,
        detached: DetachedJobs | None = None,
    ) -> None:
        # `tls` holds pyarrow's tls_certificates / verify_client / root_certificates.
        super().__init__(location, auth_handler=auth_handler, middleware=middleware, **(tls or {}))
        self._executor = executor
        self._signer = signer
        self._info = info
        self._offload = offload
        self._redeemed = Redeemed()
        self._statements = Statements(executor, admission, signer, ticket_ttl, offload)
        self._results = JobResults(executor.jobs, offload)
        self._replays = (
            None
            if requests is None
            else ReplayedPlans(Replays(requests, executor, admission), self._statements, self._results, offload)
        )
        self._actions = Actions(executor, signer, self._statements, offload, results=self._results, detached=detached)

    # -- GetFlightInfo / GetSchema -----------------------------------------------------------

    def _plan(self, ctx: RequestContext, cmd: message.Message) -> Planned:
        if isinstance(cmd, pb.CommandStatementQuery):
            if cmd.HasField("transaction_id"):
                raise error(ErrorCode.NO_TRANSACTIONS, NO_TRANSACTIONS)
            return self._plan_statement(ctx, cmd.query, None)
        if isinstance(cmd, pb.CommandPreparedStatementQuery):
            prepared = self._statements.open_handle(ctx, cmd.prepared_statement_handle)
            return self._plan_statement(ctx, prepared.sql, prepared.params)
        schema = self._metadata_schema(ctx, cmd)
        return Planned(schema, self._statements.ticket(ctx, MetadataTicket(pack(cmd))))

    def _plan_statement(self, ctx: RequestContext, sql: str, params: pa.RecordBatch | None) -> Planned:
        if ctx.client_request_id is not None and self._replays is not None:
            return self._replays.plan(ctx, ctx.client_request_id, sql, params)
        return self._statements.plan(ctx, sql, params)

    def _metadata_schema(self, ctx: RequestContext, cmd: message.Message) -> pa.Schema:
        if isinstance(cmd, pb.CommandGetSqlInfo):
            return self._info.sql_info_schema
        if isinstance(cmd, pb.CommandGetXdbcTypeInfo):
            return self._info.xdbc_schema
        command = CATALOG_COMMANDS.get(type(cmd))
        if command is None:
            raise error(ErrorCode.UNSUPPORTED_COMMAND, f"{type(cmd).__name__} is not supported by this gateway")
        return command.schema(cmd)

    def get_flight_info(self, context: fl.ServerCallContext, descriptor: fl.FlightDescriptor) -> fl.FlightInfo:
        def run(ctx: RequestContext) -> fl.FlightInfo:
            if descriptor.descriptor_type == fl.DescriptorType.PATH:
                return self._results.flight_info(ctx, job_id_of(list(descriptor.path)), descriptor)
            planned = self._plan(ctx, command_of(descriptor))
            endpoints = list(planned.endpoints) or [fl.FlightEndpoint(planned.ticket, [])]
            return fl.FlightInfo(
                planned.schema, descriptor, endpoints, planned.total_records, planned.total_bytes,
                app_metadata=planned.app_metadata,
            )  # fmt: skip

        return run_call(context, "GetFlightInfo", run)

    def get_schema(self, context: fl.ServerCallContext, descriptor: fl.FlightDescriptor) -> fl.SchemaResult:
        def run(ctx: RequestContext) -> fl.SchemaResult:
            if descriptor.descriptor_type == fl.DescriptorType.PATH:
                return fl.SchemaResult(
                    self._results.flight_info(ctx, job_id_of(list(descriptor.path)), descriptor).schema
                )
            cmd = command_of(descriptor)
            if isinstance(cmd, pb.CommandStatementQuery):
                return fl.SchemaResult(self._statements.schema_of(ctx, cmd.query, None))
            if isinstance(cmd, pb.CommandPreparedStatementQuery):
                prepared = self._statements.open_handle(ctx, cmd.prepared_statement_handle)
                return fl.SchemaResult(self._statements.schema_of(ctx, prepared.sql, prepared.params))
            return fl.SchemaResult(self._metadata_schema(ctx, cmd))

        return run_call(context, "GetSchema", run)

    # -- DoGet -------------------------------------------------------------------------------

    def do_get(self, context: fl.ServerCallContext, ticket: fl.Ticket) -> fl.FlightDataStream:
        # A generator stream outlives this method: its liveness ends with the stream (`guarded`).
        liveness = CallLiveness(context)

        def run(ctx: RequestContext) -> fl.FlightDataStream:
            body = read_ticket(self._signer, ctx.tenant.id, ticket.ticket)
            if isinstance(body, QueryTicket):
                if self._redeemed.again(body.job_id):
                    charge_redeemed_again(context)
                schema, result = self._executor.stream(ctx, body.job_id, body.sql, body.params, body.schema)
                if isinstance(result, pa.Table):
                    return fl.RecordBatchStream(result)
                return fl.GeneratorStream(schema, guarded(result, ctx.request_id, liveness))
            if isinstance(body, PartTicket) and self._offload is not None:
                schema, batches = self._offload.stream(ctx, body)
                return fl.GeneratorStream(schema, guarded(batches, ctx.request_id, liveness))
            if isinstance(body, CountTicket):
                table = pa.Table.from_pydict({"Count": [body.count]}, schema=UPDATE_RESULT_SCHEMA)
                return fl.RecordBatchStream(table)
            if isinstance(body, MetadataTicket):
                return fl.RecordBatchStream(self._metadata_table(ctx, body.command))
            raise error(ErrorCode.MALFORMED_TICKET, "the ticket was not issued by this gateway")

        try:
            stream = run_call(context, "DoGet", run, liveness)
        except BaseException:
            liveness.end()
            raise
        if not isinstance(stream, fl.GeneratorStream):
            liveness.end()
        return stream

    def _metadata_table(self, ctx: RequestContext, raw: bytes) -> pa.Table:
        cmd = unpack(raw)
        if isinstance(cmd, pb.CommandGetSqlInfo):
            return self._info.sql_info(ctx, list(cmd.info))
        if isinstance(cmd, pb.CommandGetXdbcTypeInfo):
            return self._info.xdbc_types(ctx, cmd.data_type if cmd.HasField("data_type") else None)
        command = CATALOG_COMMANDS[type(cmd)]
        return self._executor.catalog(ctx, lambda catalog: command.table(catalog, cmd))

    # -- DoPut -------------------------------------------------------------------------------

    def do_put(
        self,
        context: fl.ServerCallContext,
        descriptor: fl.FlightDescriptor,
        reader: fl.MetadataRecordBatchReader,
        writer: fl.FlightMetadataWriter,
    ) -> None:
        def run(ctx: RequestContext) -> None:
            cmd = command_of(descriptor)
            if isinstance(cmd, pb.CommandStatementUpdate):
                # Clients send no IPC stream here: the reader must not be touched.
                if cmd.HasField("transaction_id"):
                    raise error(ErrorCode.NO_TRANSACTIONS, NO_TRANSACTIONS)
                sql = cmd.query
                count = self._once(ctx, sql, None, lambda c: self._statements.update(c, sql, None))
                writer.write(pa.py_buffer(pb.DoPutUpdateResult(record_count=count).SerializeToString()))
            elif isinstance(cmd, pb.CommandPreparedStatementUpdate):
                batches = [chunk.data for chunk in reader if chunk.data is not None]
                handle = cmd.prepared_statement_handle
                prepared = self._statements.open_handle(ctx, handle)
                sql = prepared.sql
                count = self._once(
                    ctx, sql, batches or prepared.params, lambda c: self._statements.update_prepared(c, handle, batches)
                )
                writer.write(pa.py_buffer(pb.DoPutUpdateResult(record_count=count).SerializeToString()))
            elif isinstance(cmd, pb.CommandPreparedStatementQuery):
                params = reader.read_all().combine_chunks()
                batch = params.to_batches()[0] if params.num_rows else pa.RecordBatch.from_pylist([], params.schema)
                handle = self._statements.bind(ctx, cmd.prepared_statement_handle, batch)
                result = pb.DoPutPreparedStatementResult(prepared_statement_handle=handle)
                writer.write(pa.py_buffer(result.SerializeToString()))
            elif isinstance(cmd, pb.CommandStatementIngest):
                count = self._statements.ingest(ctx, cmd, reader.to_reader())
                writer.write(pa.py_buffer(pb.DoPutUpdateResult(record_count=count).SerializeToString()))
            else:
                raise error(ErrorCode.UNSUPPORTED_COMMAND, f"DoPut with {type(cmd).__name__} is not supported")

        run_call(context, "DoPut", run)

    def _once(
        self,
        ctx: RequestContext,
        sql: str,
        params: pa.RecordBatch | list[pa.RecordBatch] | None,
        run: Callable[[RequestContext], int],
    ) -> int:
        """An update, run once per client request id (a retry gets the first call's count)."""
        if ctx.client_request_id is not None and self._replays is not None:
            return self._replays.update(ctx, ctx.client_request_id, sql, params, run)
        return run(ctx)

    # -- Not offered ---------------------------------------------------------------------

    def list_flights(self, context: fl.ServerCallContext, criteria: bytes) -> Iterator[fl.FlightInfo]:
        def run(ctx: RequestContext) -> Iterator[fl.FlightInfo]:
            raise error(ErrorCode.UNSUPPORTED_RPC, "ListFlights is not supported; send Flight SQL commands")

        return run_call(context, "ListFlights", run)

    def do_exchange(
        self,
        context: fl.ServerCallContext,
        descriptor: fl.FlightDescriptor,
        reader: fl.MetadataRecordBatchReader,
        writer: fl.MetadataRecordBatchWriter,
    ) -> None:
        def run(ctx: RequestContext) -> None:
            raise error(ErrorCode.UNSUPPORTED_RPC, "DoExchange is not supported; send Flight SQL commands")

        run_call(context, "DoExchange", run)

    # -- Actions -----------------------------------------------------------------------------

    def list_actions(self, context: fl.ServerCallContext) -> list[tuple[str, str]]:
        return run_call(context, "ListActions", lambda ctx: self._actions.listing())

    def do_action(self, context: fl.ServerCallContext, action: fl.Action) -> Iterator[bytes]:
        body = action.body.to_pybytes() if action.body is not None else b""
        # The action's type decides whether it counts against the tenant's requests_per_minute.
        results = run_call(
            context, "DoAction", lambda ctx: self._actions.run(ctx, action.type, body), action=action.type
        )
        return iter(results)
