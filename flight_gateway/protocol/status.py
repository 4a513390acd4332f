"""The one place GatewayErrors become Flight status codes.

pyarrow's Flight server has exception classes for only some gRPC codes (UNAUTHENTICATED,
PERMISSION_DENIED, UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, INTERNAL); INVALID_ARGUMENT,
NOT_FOUND and UNIMPLEMENTED come only from Arrow exceptions, whose gRPC message pyarrow extends
with the Python traceback it formats through `traceback.format_exception`. `install_formatter`
replaces that text, for our own exception class only, with the stable error code and request id,
so a client never sees a traceback.

An error with a retry hint (`retry_after`: rate limits, queues) says it in the message ("retry after
N s") and, where pyarrow can send one, in the `grpc-status-details-bin` trailer as a google.rpc.Status
with RetryInfo and ErrorInfo (`rpc_status.py`).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.flight as fl

from flight_gateway.errors import GatewayError, Status
from flight_gateway.protocol.rpc_status import status_details
from flight_gateway.service.rate import whole_seconds


class _ClientFacing:
    """Mixin marking exceptions whose detail text is safe and deliberate."""

    detail = ""


class InvalidArgument(_ClientFacing, pa.ArrowInvalid):  # type: ignore[misc]
    pass


class NotFound(_ClientFacing, pa.ArrowKeyError):  # type: ignore[misc]
    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class Unimplemented(_ClientFacing, pa.ArrowNotImplementedError):  # type: ignore[misc]
    pass


# pyarrow (26) turns a FlightError into its status in every server callback but GetSchema's: there
# it leaves as UNKNOWN with the Python traceback formatted into the message. As client-facing
# subclasses, the formatter puts the error code there instead (the status stays UNKNOWN).
class Unauthenticated(_ClientFacing, fl.FlightUnauthenticatedError):  # type: ignore[misc]
    pass


class PermissionDenied(_ClientFacing, fl.FlightUnauthorizedError):  # type: ignore[misc]
    pass


class Unavailable(_ClientFacing, fl.FlightUnavailableError):  # type: ignore[misc]
    pass


class TimedOut(_ClientFacing, fl.FlightTimedOutError):  # type: ignore[misc]
    pass


class Cancelled(_ClientFacing, fl.FlightCancelledError):  # type: ignore[misc]
    pass


class Internal(_ClientFacing, fl.FlightInternalError):  # type: ignore[misc]
    pass


_FLIGHT: dict[Status, type[fl.FlightError]] = {
    Status.UNAUTHENTICATED: Unauthenticated,
    Status.PERMISSION_DENIED: PermissionDenied,
    Status.UNAVAILABLE: Unavailable,
    # pyarrow cannot send RESOURCE_EXHAUSTED; UNAVAILABLE is the retryable code clients handle.
    Status.RESOURCE_EXHAUSTED: Unavailable,
    Status.DEADLINE_EXCEEDED: TimedOut,
    Status.CANCELLED: Cancelled,
    Status.INTERNAL: Internal,
}
_ARROW: dict[Status, Callable[[str], Exception]] = {
    Status.INVALID_ARGUMENT: InvalidArgument,
    Status.ALREADY_EXISTS: InvalidArgument,
    Status.NOT_FOUND: NotFound,
    Status.UNIMPLEMENTED: Unimplemented,
}
# The gRPC code each Flight class goes out as: a details trailer must name the same one.
_GRPC_CODE: dict[type[fl.FlightError], int] = {
    Unauthenticated: 16, PermissionDenied: 7, Unavailable: 14, TimedOut: 4, Cancelled: 1, Internal: 13,
}  # fmt: skip


def to_flight_error(error: GatewayError, request_id: str) -> Exception:
    """The exception to raise from a Flight handler for `error`."""
    message = error.message
    exc: Exception
    detail = f"error_code={error.code} request_id={request_id}"
    if error.retry_after is not None:
        seconds = whole_seconds(error.retry_after)
        if "retry after" not in message:
            message = f"{message}; retry after {seconds} s"
        detail += f" retry_after={seconds}"
    if error.status in _FLIGHT:
        kind = _FLIGHT[error.status]
        text = f"{message} [{detail}]"
        if error.retry_after is None:
            exc = kind(text)
        else:
            trailer = status_details(_GRPC_CODE[kind], text, error.code, error.status.value, seconds)
            exc = kind(text, trailer)
    else:
        exc = _ARROW[error.status](message)
    facing = exc
    assert isinstance(facing, _ClientFacing)  # noqa: S101 - the tables above only hold those
    facing.detail = detail
    return exc


_install_lock = threading.Lock()
_installed = False


def install_formatter() -> None:
    """Make pyarrow's status detail for our exceptions the error code, never a traceback."""
    global _installed
    with _install_lock:
        if _installed:
            return
        original = traceback.format_exception

        def format_exception(exc: Any, /, value: Any = None, tb: Any = None, **kwargs: Any) -> list[str]:
            candidate = value if value is not None else exc
            if isinstance(candidate, _ClientFacing):
                return [candidate.detail]
            if value is None and tb is None:
                return original(exc, **kwargs)
            return original(exc, value, tb, **kwargs)

        traceback.format_exception = format_exception  # type: ignore[assignment]
        _installed = True
