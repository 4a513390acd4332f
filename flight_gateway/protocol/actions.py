"""Flight actions: prepared statement lifecycle, cancellation, and the tenant's job history."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pyarrow.flight as fl
from google.protobuf.message import DecodeError

from flight_gateway.context import RequestContext
from flight_gateway.errors import ErrorCode, GatewayError, error
from flight_gateway.jobs.history import list_page, tenant_job
from flight_gateway.jobs.requests import job_id_request, list_jobs_request, submit_job_request
from flight_gateway.jobs.views import job_json
from flight_gateway.protocol import flight_actions_pb2 as wire
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack, unpack_action
from flight_gateway.protocol.job_results import JobResults
from flight_gateway.protocol.offloaded import OffloadDelivery
from flight_gateway.protocol.statements import NO_TRANSACTIONS, Statements
from flight_gateway.protocol.tickets import PartTicket, QueryTicket, TicketSigner, read_ticket
from flight_gateway.service.detached import DetachedJobs
from flight_gateway.service.executor import Executor
from flight_gateway.service.running import CancelOutcome

log = logging.getLogger("flight_gateway.protocol")
_UNSUPPORTED = {
    "BeginTransaction": NO_TRANSACTIONS,
    "EndTransaction": NO_TRANSACTIONS,
    "BeginSavepoint": NO_TRANSACTIONS,
    "EndSavepoint": NO_TRANSACTIONS,
    "CreatePreparedSubstraitPlan": "Substrait plans are not supported; send SQL",
}
_CANCEL_STATUS = {
    CancelOutcome.CANCELLED: "CANCELLED",
    CancelOutcome.CANCELLING: "CANCELLING",
    CancelOutcome.NOT_CANCELLABLE: "NOT_CANCELLABLE",
}


class Actions:
    def __init__(
        self,
        executor: Executor,
        signer: TicketSigner,
        statements: Statements,
        offload: OffloadDelivery | None = None,
        *,
        results: JobResults | None = None,
        detached: DetachedJobs | None = None,
    ) -> None:
        self._executor = executor
        self._signer = signer
        self._statements = statements
        self._offload = offload
        self._results = results or JobResults(executor.jobs, offload)
        self._detached = detached
        self._table: dict[str, tuple[str, Callable[[RequestContext, bytes], list[bytes]]]] = {
            "CreatePreparedStatement": ("Create a prepared statement (Flight SQL)", self._create),
            "ClosePreparedStatement": ("Close a prepared statement (Flight SQL)", self._close),
            "CancelFlightInfo": ("Cancel the query behind a FlightInfo (Flight RPC)", self._cancel_flight_info),
            "CancelQuery": ("Cancel the query behind a FlightInfo (Flight SQL, deprecated)", self._cancel_query),
            "CloseSession": (
                "Close the client's session (Flight RPC); the gateway keeps no sessions, so it answers CLOSED",
                self._close_session,
            ),
            "RenewFlightEndpoint": (
                "Keep an offloaded result's endpoint readable longer (Flight RPC); answers the endpoint with a new "
                "ticket and expiration_time",
                self._renew_endpoint,
            ),
            "ListJobs": (
                "List this tenant's jobs, newest first. JSON body (all optional): state, kind, since (epoch "
                'seconds), limit (1-1000, default 50), page_token. Result: JSON {"jobs": [...], "next_page_token"}',
                self._list_jobs,
            ),
            "GetJob": (
                'One of this tenant\'s jobs. JSON body {"job_id": "..."}; result: the job as JSON',
                self._get_job,
            ),
            "CancelJob": (
                'Cancel one of this tenant\'s jobs. JSON body {"job_id": "..."}; result: JSON {"job_id", "status": '
                "CANCELLED | CANCELLING | NOT_CANCELLABLE}",
                self._cancel_job,
            ),
            "SubmitJob": (
                'Run a query as a detached job on the gateway, its result offloaded for later. JSON body {"sql": '
                '"...", "label": optional, "parameters": optional [values for ?]}; result: JSON {"job_id", '
                '"state"} at once. Follow it with GetJob, fetch the result with '
                'GetFlightInfo(FlightDescriptor.for_path("jobs", job_id)) or GetJobResult',
                self._submit_job,
            ),
            "GetJobResult": (
                'The FlightInfo of a finished job\'s offloaded result. JSON body {"job_id": "..."}; result: the '
                "serialized FlightInfo (one endpoint per Parquet part)",
                self._get_job_result,
            ),
        }

    def listing(self) -> list[tuple[str, str]]:
        return [(name, description) for name, (description, _) in self._table.items()]

    def run(self, ctx: RequestContext, name: str, body: bytes) -> list[bytes]:
        if name in _UNSUPPORTED:
            raise error(ErrorCode.UNSUPPORTED_ACTION, _UNSUPPORTED[name])
        entry = self._table.get(name)
        if entry is None:
            raise error(ErrorCode.UNKNOWN_ACTION, f"action {name!r} is not supported; see ListActions")
        return entry[1](ctx, body)

    def _create(self, ctx: RequestContext, body: bytes) -> list[bytes]:
        request = unpack_action(body, pb.ActionCreatePreparedStatementRequest)
        return [self._statements.create_prepared(ctx, request)]

    def _close(self, ctx: RequestContext, body: bytes) -> list[bytes]:
        # Handles are self-contained: nothing is held server-side, so closing only validates.
        request = unpack_action(body, pb.ActionClosePreparedStatementRequest)
        self._statements.open_handle(ctx, request.prepared_statement_handle)  # type: ignore[attr-defined]
        return []

    def _cancel(self, ctx: RequestContext, info_bytes: bytes) -> CancelOutcome:
        try:
            info = fl.FlightInfo.deserialize(info_bytes)
        except Exception as exc:
            raise error(ErrorCode.MALFORMED_FLIGHT_INFO, "the request does not hold a valid FlightInfo") from exc
        outcome = CancelOutcome.NOT_CANCELLABLE  # metadata and already-finished results
        for endpoint in info.endpoints:
            body = read_ticket(self._signer, ctx.tenant.id, endpoint.ticket.ticket, "the FlightInfo")
            if isinstance(body, QueryTicket | PartTicket):
                try:
                    outcome = min(outcome, self._executor.cancel(ctx.tenant.id, body.job_id))
                except GatewayError:
                    continue
        return outcome

    def _cancel_flight_info(self, ctx: RequestContext, body: bytes) -> list[bytes]:
        request = wire.CancelFlightInfoRequest()
        try:
            request.ParseFromString(body)
        except DecodeError:
            raise error(ErrorCode.MALFORMED_ACTION, "the body is not a CancelFlightInfoRequest") from None
        status = self._cancel(ctx, request.info)
        return [wire.CancelFlightInfoResult(status=status).SerializeToString()]

    def _close_session(self, ctx: RequestContext, body: bytes) -> list[bytes]:
        # ADBC sends this on every disconnect. No state is kept per session (handles and tickets
        # are self-contained), so there is nothing to close: routine, hence DEBUG only.
        request = wire.CloseSessionRequest()
        try:
            request.ParseFromString(body)
        except DecodeError:
            raise error(ErrorCode.MALFORMED_ACTION, "the body is not a CloseSessionRequest") from None
        log.debug("CloseSession from tenant %s (request %s): no session state, CLOSED", ctx.tenant.id, ctx.request_id)
        return [wire.CloseSessionResult(status=wire.CloseSessionResult.CLOSED).SerializeToString()]

    def _renew_endpoint(self, ctx: RequestContext, body: bytes) -> list[bytes]:
        request = wire.RenewFlightEndpointRequest()
        try:
            request.ParseFromString(body)
        except DecodeError:
            raise error(ErrorCode.MALFORMED_ACTION, "the body is not a RenewFlightEndpointRequest") from None
        if self._offload is None:
            raise error(ErrorCode.NOT_RENEWABLE, "this gateway offloads no results; nothing can be renewed")
        return [self._offload.renew(ctx, request.endpoint)]

    def _cancel_query(self, ctx: RequestContext, body: bytes) -> list[bytes]:
        request = unpack_action(body, pb.ActionCancelQueryRequest)
        status = self._cancel(ctx, request.info)  # type: ignore[attr-defined]
        return [pack(pb.ActionCancelQueryResult(result=status))]  # type: ignore[arg-type]

    # Job history: JSON in, one JSON result out (these are gateway actions, not Flight SQL ones).

    def _list_jobs(self, ctx: RequestContext, body: bytes) -> list[bytes]:
        return _json(list_page(self._executor.jobs, ctx.tenant.id, list_jobs_request(body)))

    def _get_job(self, ctx: RequestContext, body: bytes) -> list[bytes]:
        job_id = job_id_request("GetJob", body)
        view = job_json(tenant_job(self._executor.jobs, ctx.tenant.id, job_id))
        # Waiting for one of the tenant's statement slots on this replica: its place (1 = next).
        position = self._executor.slots.position(job_id)
        if position is not None:
            view["queue_position"] = position
        return _json(view)

    def _cancel_job(self, ctx: RequestContext, body: bytes) -> list[bytes]:
        job_id = job_id_request("CancelJob", body)
        outcome = self._executor.cancel(ctx.tenant.id, job_id)
        return _json({"job_id": job_id, "status": _CANCEL_STATUS[outcome]})

    def _submit_job(self, ctx: RequestContext, body: bytes) -> list[bytes]:
        request = submit_job_request(body)
        if self._detached is None:
            raise error(ErrorCode.DETACHED_JOBS_OFF, "this gateway runs no detached jobs")
        job = self._detached.submit(ctx, request.sql, request.label, request.parameters)
        return _json({"job_id": job.id, "state": job.state.value})

    def _get_job_result(self, ctx: RequestContext, body: bytes) -> list[bytes]:
        job_id = job_id_request("GetJobResult", body)
        descriptor = fl.FlightDescriptor.for_path("jobs", job_id)
        return [bytes(self._results.flight_info(ctx, job_id, descriptor).serialize())]


def _json(value: Any) -> list[bytes]:
    return [json.dumps(value, separators=(",", ":")).encode()]
