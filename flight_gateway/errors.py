"""The gateway's error vocabulary: every failure a client sees is a GatewayError.

Engines, the job store and the protocol raise these; only `protocol/status.py` turns them into
Flight status codes. The message is written for the client (cause first, then what to do); the
stable `code` is what programs and the job store key on.
"""

from __future__ import annotations

import enum


class Status(enum.Enum):
    """The gRPC status a failure maps to (only codes Flight SQL clients understand)."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    UNAVAILABLE = "UNAVAILABLE"
    CANCELLED = "CANCELLED"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    INTERNAL = "INTERNAL"


class GatewayError(Exception):
    """A failure with a status, a stable code and a client-facing message."""

    def __init__(
        self,
        status: Status,
        code: str,
        message: str,
        *,
        sqlstate: str | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.sqlstate = sqlstate
        self.retryable = retryable

    def __repr__(self) -> str:
        return f"GatewayError({self.status.value}, {self.code!r}, {self.message!r})"


def invalid(code: str, message: str) -> GatewayError:
    return GatewayError(Status.INVALID_ARGUMENT, code, message)


def not_found(code: str, message: str) -> GatewayError:
    return GatewayError(Status.NOT_FOUND, code, message)


def denied(code: str, message: str) -> GatewayError:
    return GatewayError(Status.PERMISSION_DENIED, code, message)


def unimplemented(code: str, message: str) -> GatewayError:
    return GatewayError(Status.UNIMPLEMENTED, code, message)


def cancelled(message: str) -> GatewayError:
    return GatewayError(Status.CANCELLED, "CANCELLED", message)
