"""One Flight call's plumbing: who calls (a RequestContext from the auth middleware), errors made
Flight statuses (GatewayErrors by their code; anything unexpected as INTERNAL with a request id, the
traceback to the log, never to the client), a streamed result's errors alike, the command of a
descriptor, and whether the client is still there (`CallLiveness`)."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import pyarrow as pa
import pyarrow.flight as fl
from google.protobuf import message

from auth.flight import MIDDLEWARE_KEY, AuthMiddleware
from flight_gateway.context import RequestContext
from flight_gateway.errors import ErrorCode, GatewayError, error
from flight_gateway.jobs.idempotency import client_request_id
from flight_gateway.protocol.commands import unpack
from flight_gateway.protocol.status import to_flight_error

log = logging.getLogger("flight_gateway.protocol")
T = TypeVar("T")


class CallLiveness:
    """Whether the client of one call is gone (it cancelled the call or disconnected).

    pyarrow's ServerCallContext points into the RPC and must not be touched once the RPC is over,
    while a RequestContext may outlive it (a detached job): after `end` this answers False.
    """

    def __init__(self, call: fl.ServerCallContext) -> None:
        self._call: fl.ServerCallContext | None = call
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        with self._lock:
            return self._call is not None and bool(self._call.is_cancelled())

    def end(self) -> None:
        with self._lock:
            self._call = None


def request_context(call: fl.ServerCallContext, liveness: CallLiveness) -> RequestContext:
    mw: AuthMiddleware | None = call.get_middleware(MIDDLEWARE_KEY)
    if mw is None:  # every call gets the middleware; this would be a wiring bug
        raise error(ErrorCode.NO_CREDENTIALS, "authentication required")
    principal, tenant = mw.require(call.peer(), call.peer_identity())
    return RequestContext(
        principal=principal,
        tenant=tenant,
        request_id=uuid.uuid4().hex[:16],
        peer=call.peer(),
        user_agent=mw.user_agent,
        delivery_hint=mw.delivery_hint,
        client_request_id=client_request_id(mw.client_request_id),
        client_gone=liveness,
    )


def run_call(
    call: fl.ServerCallContext,
    what: str,
    fn: Callable[[RequestContext], T],
    liveness: CallLiveness | None = None,
) -> T:
    """Run `fn` for the call; a caller passing its own `liveness` ends it when its stream ends."""
    request_id = "-"
    live = CallLiveness(call) if liveness is None else liveness
    try:
        ctx = request_context(call, live)
        request_id = ctx.request_id
        return fn(ctx)
    except GatewayError as err:
        log.info("%s failed: %s %s", what, err.code, request_id)
        raise to_flight_error(err, request_id) from None
    except fl.FlightError:
        raise
    except Exception:
        log.exception("%s failed unexpectedly (request %s)", what, request_id)
        internal = error(ErrorCode.INTERNAL, f"internal error; report request id {request_id} to the operator")
        raise to_flight_error(internal, request_id) from None
    finally:
        if liveness is None:
            live.end()


def guarded(batches: Iterator[pa.RecordBatch], request_id: str, liveness: CallLiveness) -> Iterator[pa.RecordBatch]:
    """Errors raised mid-stream get the same treatment as errors before it."""
    try:
        yield from batches
    except GatewayError as err:
        raise to_flight_error(err, request_id) from None
    except (fl.FlightError, GeneratorExit):
        raise
    except Exception:
        log.exception("stream failed (request %s)", request_id)
        failed = error(ErrorCode.STREAM_FAILED, f"the result stream failed (request {request_id})")
        raise to_flight_error(failed, request_id) from None
    finally:
        liveness.end()


def command_of(descriptor: fl.FlightDescriptor) -> message.Message:
    if descriptor.descriptor_type != fl.DescriptorType.CMD:
        raise error(
            ErrorCode.PATH_DESCRIPTOR,
            'path descriptors name job results only (FlightDescriptor.for_path("jobs", <job id>)) and are '
            "read with GetFlightInfo or GetSchema; send statements as Flight SQL commands",
        )
    return unpack(descriptor.command)
