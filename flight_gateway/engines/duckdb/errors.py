"""The one place DuckDB's exceptions become GatewayErrors (most specific first).

Whatever DuckDB raises was caused by the statement or the database, never by the gateway, so no
DuckDB exception maps to INTERNAL. Messages lose server paths (the tenant's database file, the data
directory, DuckDB's home directory) before a tenant sees them.
"""

from __future__ import annotations

import re

import duckdb

from flight_gateway.errors import ErrorCode, GatewayError, error

# An absolute path of two or more segments, not part of a URL (`s3://b/k`) or an expression (`1/0`).
_SERVER_PATH = re.compile(r"(?<![\w.:/~-])/(?:[\w.~+@-]+/)+[\w.~+@-]*")
PATH_PLACEHOLDER = "<server path>"

_MAP: tuple[tuple[type[BaseException], ErrorCode, str], ...] = (
    (duckdb.ParserException, ErrorCode.SQL_SYNTAX, "fix the SQL syntax and retry"),
    (duckdb.SyntaxException, ErrorCode.SQL_SYNTAX, "fix the SQL syntax and retry"),
    (duckdb.InterruptException, ErrorCode.CANCELLED, "the statement was cancelled"),
    (duckdb.PermissionException, ErrorCode.NOT_ALLOWED, "this is not allowed here"),
    (duckdb.OutOfMemoryException, ErrorCode.OUT_OF_MEMORY, "reduce the result size"),
    (duckdb.TransactionException, ErrorCode.CONFLICT, "retry the statement"),
    (duckdb.SerializationException, ErrorCode.CONFLICT, "retry the statement"),
    (duckdb.NotImplementedException, ErrorCode.NOT_SUPPORTED, "the engine does not support this"),
    (duckdb.ConnectionException, ErrorCode.ENGINE_UNAVAILABLE, "retry later"),
    (duckdb.IOException, ErrorCode.ENGINE_IO, "retry later"),
    (duckdb.ConstraintException, ErrorCode.CONSTRAINT_VIOLATION, "check the data"),
    (duckdb.DependencyException, ErrorCode.DEPENDENT_OBJECTS, "drop or alter the dependent objects first"),
    (duckdb.TypeMismatchException, ErrorCode.SQL_BINDING, "check the types"),
    (duckdb.ConversionException, ErrorCode.DATA_ERROR, "check values and types"),
    (duckdb.DataError, ErrorCode.DATA_ERROR, "check values and types"),
    (duckdb.SequenceException, ErrorCode.DATA_ERROR, "check the sequence"),
    (duckdb.BinderException, ErrorCode.SQL_BINDING, "check column and function names"),
    (duckdb.InvalidInputException, ErrorCode.INVALID_INPUT, "check the statement"),
    (duckdb.ProgrammingError, ErrorCode.SQL_ERROR, "check the statement"),
    (duckdb.InternalException, ErrorCode.ENGINE_INTERNAL_ERROR, "DuckDB reported an internal error"),
    (duckdb.FatalException, ErrorCode.ENGINE_INTERNAL_ERROR, "DuckDB reported a fatal error"),
)
_READ_ONLY = "read-only mode"
_DIVISION_BY_ZERO = "Division by zero"  # PostgreSQL's 22012: a data error on every engine


def redact_paths(text: str) -> str:
    """The text with every absolute server path replaced by a placeholder."""
    return _SERVER_PATH.sub(PATH_PLACEHOLDER, text)


def map_duckdb_error(exc: BaseException) -> GatewayError:
    """A GatewayError for a DuckDB exception; unknown objects are NOT_FOUND."""
    message = redact_paths(str(exc).strip())
    if isinstance(exc, duckdb.CatalogException):
        if "does not exist" in message:
            return error(ErrorCode.OBJECT_NOT_FOUND, message)
        if "already exists" in message:
            return error(ErrorCode.OBJECT_EXISTS, message)
        return error(ErrorCode.SQL_CATALOG, message)
    if _READ_ONLY in message:
        return error(ErrorCode.READ_ONLY, f"{message} (the tenant is read-only; run queries only)")
    if _DIVISION_BY_ZERO in message:
        return error(ErrorCode.DATA_ERROR, f"{message} (check values and types)")
    if isinstance(exc, duckdb.InvalidInputException) and "parameter" in message.lower():
        return error(ErrorCode.PARAMETER_MISMATCH, f"{message} (bind one value per parameter)")
    for cls, code, hint in _MAP:
        if isinstance(exc, cls):
            return error(code, f"{message} ({hint})")
    if isinstance(exc, duckdb.Error):
        return error(ErrorCode.DATABASE_ERROR, message)
    return error(ErrorCode.ENGINE_ERROR, message)


# Errors raised while a result streams arrive through Arrow's C stream as OSError carrying
# DuckDB's "<Kind> Error: ..." text; the kind picks the code.
_STREAM_KINDS: dict[str, ErrorCode] = {
    "INTERRUPT": ErrorCode.CANCELLED,
    "Out of Memory": ErrorCode.OUT_OF_MEMORY,
    "Invalid Input": ErrorCode.INVALID_INPUT,
    "Conversion": ErrorCode.DATA_ERROR,
    "Out of Range": ErrorCode.DATA_ERROR,
    "Sequence": ErrorCode.DATA_ERROR,
    "Constraint": ErrorCode.CONSTRAINT_VIOLATION,
    "Permission": ErrorCode.NOT_ALLOWED,
    "Binder": ErrorCode.SQL_BINDING,
    "Type Mismatch": ErrorCode.SQL_BINDING,
    "Catalog": ErrorCode.SQL_CATALOG,
    "Parser": ErrorCode.SQL_SYNTAX,
    "Not implemented": ErrorCode.NOT_SUPPORTED,
    "IO": ErrorCode.ENGINE_IO,
    "HTTP": ErrorCode.ENGINE_IO,
    "TransactionContext": ErrorCode.CONFLICT,
    "Dependency": ErrorCode.DEPENDENT_OBJECTS,
    "INTERNAL": ErrorCode.ENGINE_INTERNAL_ERROR,
    "FATAL": ErrorCode.ENGINE_INTERNAL_ERROR,
}
_DUCKDB_KIND = re.compile(r"^[A-Za-z][A-Za-z ]{0,40} Error: ")


def map_stream_error(exc: BaseException) -> GatewayError:
    if isinstance(exc, duckdb.Error):
        return map_duckdb_error(exc)
    message = redact_paths(str(exc).strip())
    if not _DUCKDB_KIND.match(message):
        return error(ErrorCode.ENGINE_ERROR, message)  # not DuckDB's words: a gateway-side failure
    if _READ_ONLY in message:
        return error(ErrorCode.READ_ONLY, message)
    if _DIVISION_BY_ZERO in message:
        return error(ErrorCode.DATA_ERROR, message)
    kind = message.split(" Error:", 1)[0]
    return error(_STREAM_KINDS.get(kind, ErrorCode.DATABASE_ERROR), message)
