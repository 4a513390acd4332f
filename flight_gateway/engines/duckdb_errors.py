"""The one place DuckDB's exceptions become GatewayErrors (most specific first)."""

from __future__ import annotations

import duckdb

from flight_gateway.errors import GatewayError, Status

_MAP: tuple[tuple[type[BaseException], Status, str, str], ...] = (
    (duckdb.ParserException, Status.INVALID_ARGUMENT, "SQL_SYNTAX", "fix the SQL syntax and retry"),
    (duckdb.InterruptException, Status.CANCELLED, "CANCELLED", "the statement was cancelled"),
    (duckdb.PermissionException, Status.PERMISSION_DENIED, "NOT_ALLOWED", "this is not allowed here"),
    (duckdb.OutOfMemoryException, Status.RESOURCE_EXHAUSTED, "OUT_OF_MEMORY", "reduce the result size"),
    (duckdb.TransactionException, Status.UNAVAILABLE, "CONFLICT", "retry the statement"),
    (duckdb.NotImplementedException, Status.UNIMPLEMENTED, "NOT_SUPPORTED", "the engine does not support this"),
    (duckdb.IOException, Status.UNAVAILABLE, "ENGINE_IO", "retry later"),
    (duckdb.ConstraintException, Status.INVALID_ARGUMENT, "CONSTRAINT_VIOLATION", "check the data"),
    (duckdb.ConversionException, Status.INVALID_ARGUMENT, "DATA_ERROR", "check values and types"),
    (duckdb.DataError, Status.INVALID_ARGUMENT, "DATA_ERROR", "check values and types"),
    (duckdb.BinderException, Status.INVALID_ARGUMENT, "SQL_BINDING", "check column and function names"),
    (duckdb.InvalidInputException, Status.INVALID_ARGUMENT, "INVALID_INPUT", "check the statement"),
    (duckdb.ProgrammingError, Status.INVALID_ARGUMENT, "SQL_ERROR", "check the statement"),
)


def map_duckdb_error(exc: BaseException) -> GatewayError:
    """A GatewayError for a DuckDB exception; unknown tables are NOT_FOUND."""
    message = str(exc).strip()
    if isinstance(exc, duckdb.CatalogException):
        if "does not exist" in message:
            return GatewayError(Status.NOT_FOUND, "OBJECT_NOT_FOUND", message)
        if "already exists" in message:
            return GatewayError(Status.INVALID_ARGUMENT, "OBJECT_EXISTS", message)
        return GatewayError(Status.INVALID_ARGUMENT, "SQL_CATALOG", message)
    if isinstance(exc, duckdb.InvalidInputException) and "parameter" in message.lower():
        return GatewayError(Status.INVALID_ARGUMENT, "PARAMETER_MISMATCH", f"{message} (bind one value per parameter)")
    for cls, status, code, hint in _MAP:
        if isinstance(exc, cls):
            retryable = status is Status.UNAVAILABLE
            return GatewayError(status, code, f"{message} ({hint})", retryable=retryable)
    return GatewayError(Status.INTERNAL, "ENGINE_ERROR", message)


# Errors raised while a result streams arrive through Arrow's C stream as OSError carrying
# DuckDB's "<Kind> Error: ..." text; the kind picks the status.
_STREAM_KINDS: dict[str, tuple[Status, str]] = {
    "INTERRUPT": (Status.CANCELLED, "CANCELLED"),
    "Out of Memory": (Status.RESOURCE_EXHAUSTED, "OUT_OF_MEMORY"),
    "Invalid Input": (Status.INVALID_ARGUMENT, "INVALID_INPUT"),
    "Conversion": (Status.INVALID_ARGUMENT, "DATA_ERROR"),
    "Out of Range": (Status.INVALID_ARGUMENT, "DATA_ERROR"),
    "Constraint": (Status.INVALID_ARGUMENT, "CONSTRAINT_VIOLATION"),
    "Permission": (Status.PERMISSION_DENIED, "NOT_ALLOWED"),
}


def map_stream_error(exc: BaseException) -> GatewayError:
    if isinstance(exc, duckdb.Error):
        return map_duckdb_error(exc)
    message = str(exc).strip()
    kind = message.split(" Error:", 1)[0] if " Error:" in message else ""
    status, code = _STREAM_KINDS.get(kind, (Status.INTERNAL, "ENGINE_ERROR"))
    return GatewayError(status, code, message)
