"""One Flight call's plumbing: who calls (a RequestContext from the auth middleware), errors made
Flight statuses (GatewayErrors by their code; anything unexpected as INTERNAL with a request id, the
traceback to the log, never to the client), a streamed result's errors alike, the command of a
descriptor, whether the client is still there (`CallLiveness`), and which calls count against a tenant's
requests_per_minute (`rate_gate`, asked by the auth middleware as each call starts)."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import pyarrow.flight as fl
from google.protobuf import message

from auth.flight import MIDDLEWARE_KEY, AuthMiddleware, CallGate, CallRefusal
from auth.model import Principal, Tenant
from flight_gateway.bounded_cache import ByteBoundedLru, text_bytes
from flight_gateway.context import RequestContext
from flight_gateway.errors import ErrorCode, GatewayError, error
from flight_gateway.jobs.idempotency import client_request_id
from flight_gateway.protocol.commands import unpack
from flight_gateway.protocol.status import to_flight_error
from flight_gateway.service.rate import RequestRates, whole_seconds

log = logging.getLogger("flight_gateway.protocol")
T = TypeVar("T")

# Calls that start work take one of the tenant's requests_per_minute. Not Handshake (a login), not
# DoGet (it redeems a ticket whose GetFlightInfo was counted), not ListActions (no work), and no
# action that closes or cancels: those free resources, and a throttled client must still stop its work.
# A DoGet redeeming a query ticket already redeemed on this replica runs the statement again: that
# one counts (`charge_redeemed_again`), or one GetFlightInfo would buy unlimited executions.
REDEEMED_AGAIN = "DO_GET_AGAIN"
_COUNTED = frozenset(
    {"LIST_FLIGHTS", "GET_FLIGHT_INFO", "POLL_FLIGHT_INFO", "GET_SCHEMA", "DO_PUT", "DO_EXCHANGE", REDEEMED_AGAIN}
)
# DoAction is decided by its type, which only the handler knows: `run_call(..., action=type)`.
_ACTION = "DO_ACTION:"
_FREEING_ACTIONS = ("Close", "Cancel", "End")


def counts_against_rate(call: str) -> bool:
    """Whether the call (a FlightMethod name, or DO_ACTION:<type>) takes a requests_per_minute token."""
    if call.startswith(_ACTION):
        return not call.removeprefix(_ACTION).startswith(_FREEING_ACTIONS)
    return call in _COUNTED


def rate_gate(rates: RequestRates) -> CallGate:
    """The auth middleware's call gate: refuses a counted call when its tenant's bucket is empty."""

    def gate(principal: Principal, tenant: Tenant, call: str) -> CallRefusal | None:
        if not counts_against_rate(call):
            return None
        wait = rates.take(tenant, call)
        if wait is None:
            return None
        limits = tenant.limits
        burst = limits.requests_burst or limits.requests_per_minute
        seconds = whole_seconds(wait)  # rounded once, so the header, message and trailer agree
        message = (
            f"tenant {tenant.id} made more calls than its limit of {limits.requests_per_minute} per minute "
            f"(burst {burst}); retry after {seconds} s"
        )
        return CallRefusal(ErrorCode.RATE_LIMITED.name, message, float(seconds))

    return gate


class Redeemed:
    """Query tickets redeemed on this replica (by job id), to tell a ticket redeemed again; bounded
    by bytes, so a ticket redeemed long ago and forgotten is redeemed again for free (rare and harmless)."""

    def __init__(self, max_bytes: int = 4 << 20) -> None:
        self._jobs: ByteBoundedLru[str, bool] = ByteBoundedLru(max_bytes, lambda job_id, _: text_bytes(job_id))

    def again(self, job_id: str) -> bool:
        """Whether the job's ticket was redeemed here before (and remember that it now was)."""
        if self._jobs.get(job_id):
            return True
        self._jobs.put(job_id, True)
        return False


def charge_redeemed_again(call: fl.ServerCallContext) -> None:
    """Take a token for a ticket redeemed again (it re-runs its statement); RATE_LIMITED if none is left.
    Too late for a retry-after header (the call's headers went before its ticket was read): the
    hint is in the message and the status details."""
    mw: AuthMiddleware | None = call.get_middleware(MIDDLEWARE_KEY)
    refusal = None if mw is None else mw.gate(REDEEMED_AGAIN)
    if refusal is not None:
        raise error(ErrorCode[refusal.code], refusal.message, retry_after=refusal.retry_after)


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


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


def request_context(
    call: fl.ServerCallContext, liveness: CallLiveness, action: str | None = None, request_id: str | None = None
) -> RequestContext:
    """The caller's context; a call its gate refused (a rate limit) fails here, with its retry hint."""
    mw: AuthMiddleware | None = call.get_middleware(MIDDLEWARE_KEY)
    if mw is None:  # every call gets the middleware; this would be a wiring bug
        raise error(ErrorCode.NO_CREDENTIALS, "authentication required")
    principal, tenant = mw.require(call.peer(), call.peer_identity())
    refusal = mw.refusal if action is None else mw.refusal or mw.gate(_ACTION + action)
    if refusal is not None:
        raise error(ErrorCode[refusal.code], refusal.message, retry_after=refusal.retry_after)
    return RequestContext(
        principal=principal,
        tenant=tenant,
        request_id=request_id or new_request_id(),
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
    *,
    action: str | None = None,
) -> T:
    """Run `fn` for the call; a caller passing its own `liveness` ends it when its stream ends.
    A DoAction names its `action` type, which decides whether it counts against the tenant's rate."""
    # Made first, so that a call refused before its context exists (a rate limit) has one too.
    request_id = new_request_id()
    live = CallLiveness(call) if liveness is None else liveness
    try:
        ctx = request_context(call, live, action, request_id)
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


def guarded(batches: Iterator[T], request_id: str, liveness: CallLiveness) -> Iterator[T]:
    """Errors raised mid-stream get the same treatment as errors before it (`batches`: record
    batches, or (batch, app_metadata) pairs)."""
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
