"""The one place PostgreSQL failures become GatewayErrors: SQLSTATE → status, stable code, retryability.

ADBC raises its DB-API errors with `sqlstate` and libpq's diagnostic fields while a statement
starts; an error while a result streams arrives through Arrow's C stream as an OSError that
carries only libpq's text, so the SQLSTATE and message are recovered from it. The client sees
PostgreSQL's primary message (cause), then what to do; never the driver's wrapping or a repr.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flight_gateway.errors import GatewayError, Status

_SQLSTATE_IN_TEXT = re.compile(r"SQLSTATE: ([0-9A-Z]{5})")
_ERROR_IN_TEXT = re.compile(r"(?:ERROR|FATAL|PANIC):\s+(.+)")
# libpq's words for a connection that is gone (no SQLSTATE reaches the client then).
_CONNECTION_LOST = (
    "server closed the connection",
    "terminating connection",
    "no connection to the server",
    "connection to server",
    "could not receive data from server",
    "could not send data to server",
    "SSL SYSCALL error",
    "connection is bad",
)
_STATEMENT_TIMEOUT = "statement timeout"


@dataclass(frozen=True)
class _Rule:
    status: Status
    code: str
    hint: str
    retryable: bool = False


# Exact SQLSTATEs first, then two-character classes (PostgreSQL Appendix A).
_EXACT: dict[str, _Rule] = {
    "40001": _Rule(Status.UNAVAILABLE, "SERIALIZATION_FAILURE", "a concurrent transaction conflicted; retry", True),
    "40P01": _Rule(Status.UNAVAILABLE, "DEADLOCK", "the statement was chosen as a deadlock victim; retry", True),
    "42501": _Rule(Status.PERMISSION_DENIED, "NOT_ALLOWED", "the tenant's database user lacks this privilege"),
    "42P01": _Rule(Status.NOT_FOUND, "OBJECT_NOT_FOUND", "check the table name and the tenant's search_path"),
    "3F000": _Rule(Status.NOT_FOUND, "OBJECT_NOT_FOUND", "check the schema name"),
    "42P07": _Rule(Status.ALREADY_EXISTS, "OBJECT_EXISTS", "drop it first or use another name"),
    "42710": _Rule(Status.ALREADY_EXISTS, "OBJECT_EXISTS", "drop it first or use another name"),
    "42P06": _Rule(Status.ALREADY_EXISTS, "OBJECT_EXISTS", "drop it first or use another name"),
    "42601": _Rule(Status.INVALID_ARGUMENT, "SQL_SYNTAX", "fix the SQL syntax and retry"),
    "42703": _Rule(Status.INVALID_ARGUMENT, "SQL_BINDING", "check column names"),
    "42883": _Rule(Status.NOT_FOUND, "OBJECT_NOT_FOUND", "check the function name and argument types"),
    "42704": _Rule(Status.NOT_FOUND, "OBJECT_NOT_FOUND", "check the object's name"),
    "2F003": _Rule(Status.PERMISSION_DENIED, "NOT_ALLOWED", "the tenant's database user may not do this here"),
    "42P02": _Rule(Status.INVALID_ARGUMENT, "PARAMETER_MISMATCH", "bind one value per parameter"),
    "08P01": _Rule(Status.INVALID_ARGUMENT, "PARAMETER_MISMATCH", "bind one value per parameter, of a matching type"),
    "25006": _Rule(Status.PERMISSION_DENIED, "READ_ONLY", "the tenant is read-only; run queries only"),
    "28P01": _Rule(
        Status.UNAUTHENTICATED,
        "DB_LOGIN_FAILED",
        "the gateway's password for the tenant's db_user is wrong; "
        "an operator must fix the tenant's db_password* setting",
    ),  # fmt: skip
    "53300": _Rule(Status.UNAVAILABLE, "TOO_MANY_CONNECTIONS", "the database has no free connections; retry", True),
    "57P01": _Rule(Status.UNAVAILABLE, "ENGINE_UNAVAILABLE", "the database is restarting; retry", True),
    "57P02": _Rule(Status.UNAVAILABLE, "ENGINE_UNAVAILABLE", "the database is restarting; retry", True),
    "57P03": _Rule(Status.UNAVAILABLE, "ENGINE_UNAVAILABLE", "the database is starting up; retry", True),
}
# Every class of PostgreSQL's Appendix A. A tenant can raise any SQLSTATE (PL/pgSQL's RAISE ...
# USING ERRCODE, dblink, postgres_fdw), so none of them is a gateway bug: none maps to INTERNAL.
_CLASSES: dict[str, _Rule] = {
    "03": _Rule(Status.INVALID_ARGUMENT, "SQL_ERROR", "the statement is incomplete"),
    "08": _Rule(Status.UNAVAILABLE, "ENGINE_UNAVAILABLE", "the database connection failed; retry", True),
    "09": _Rule(Status.INVALID_ARGUMENT, "ROUTINE_ERROR", "a trigger failed"),
    "0A": _Rule(Status.UNIMPLEMENTED, "NOT_SUPPORTED", "the database does not support this"),
    "0B": _Rule(Status.INVALID_ARGUMENT, "TRANSACTION_STATE", "each statement runs in its own transaction"),
    "0F": _Rule(Status.INVALID_ARGUMENT, "DATA_ERROR", "check the locator"),
    "0L": _Rule(Status.PERMISSION_DENIED, "NOT_ALLOWED", "the grantor is invalid"),
    "0P": _Rule(Status.PERMISSION_DENIED, "NOT_ALLOWED", "the role specification is invalid"),
    "0Z": _Rule(Status.INVALID_ARGUMENT, "SQL_ERROR", "check the statement"),
    "20": _Rule(Status.INVALID_ARGUMENT, "ROUTINE_ERROR", "a CASE in a function matched nothing"),
    "21": _Rule(Status.INVALID_ARGUMENT, "DATA_ERROR", "check the statement"),
    "22": _Rule(Status.INVALID_ARGUMENT, "DATA_ERROR", "check values and types"),
    "23": _Rule(Status.INVALID_ARGUMENT, "CONSTRAINT_VIOLATION", "check the data against the table's constraints"),
    "24": _Rule(Status.INVALID_ARGUMENT, "SQL_ERROR", "the cursor is in the wrong state"),
    "25": _Rule(Status.INVALID_ARGUMENT, "TRANSACTION_STATE", "each statement runs in its own transaction"),
    "26": _Rule(Status.NOT_FOUND, "OBJECT_NOT_FOUND", "check the prepared statement's name"),
    "27": _Rule(Status.INVALID_ARGUMENT, "CONSTRAINT_VIOLATION", "a trigger's data change was refused"),
    "28": _Rule(Status.PERMISSION_DENIED, "DB_LOGIN_DENIED", "the tenant's db_user may not log in; ask an operator"),
    "2B": _Rule(Status.INVALID_ARGUMENT, "DEPENDENT_OBJECTS", "drop or alter the dependent objects first"),
    "2D": _Rule(Status.INVALID_ARGUMENT, "TRANSACTION_STATE", "each statement runs in its own transaction"),
    "2F": _Rule(Status.INVALID_ARGUMENT, "ROUTINE_ERROR", "a SQL function failed"),
    "34": _Rule(Status.NOT_FOUND, "OBJECT_NOT_FOUND", "check the cursor's name"),
    "38": _Rule(Status.INVALID_ARGUMENT, "ROUTINE_ERROR", "an external function failed"),
    "39": _Rule(Status.INVALID_ARGUMENT, "ROUTINE_ERROR", "an external function was invoked wrongly"),
    "3B": _Rule(Status.INVALID_ARGUMENT, "TRANSACTION_STATE", "each statement runs in its own transaction"),
    "3D": _Rule(Status.NOT_FOUND, "OBJECT_NOT_FOUND", "check the database name"),
    "3F": _Rule(Status.NOT_FOUND, "OBJECT_NOT_FOUND", "check the schema name"),
    "40": _Rule(Status.UNAVAILABLE, "TRANSACTION_ROLLBACK", "the transaction was rolled back; retry", True),
    "42": _Rule(Status.INVALID_ARGUMENT, "SQL_ERROR", "check the statement"),
    "44": _Rule(Status.PERMISSION_DENIED, "NOT_ALLOWED", "the row violates the view's check option"),
    "53": _Rule(Status.RESOURCE_EXHAUSTED, "ENGINE_RESOURCES", "the database ran out of resources; reduce the work"),
    "54": _Rule(Status.RESOURCE_EXHAUSTED, "STATEMENT_TOO_COMPLEX", "simplify the statement"),
    "55": _Rule(Status.UNAVAILABLE, "OBJECT_BUSY", "the object is in use; retry later", True),
    "57": _Rule(Status.UNAVAILABLE, "ENGINE_UNAVAILABLE", "the database intervened; retry", True),
    "58": _Rule(Status.UNAVAILABLE, "ENGINE_IO", "the database hit a system or I/O error; retry later", True),
    "72": _Rule(Status.UNAVAILABLE, "TRANSACTION_ROLLBACK", "the snapshot is too old; retry", True),
    "F0": _Rule(Status.INVALID_ARGUMENT, "DATABASE_ERROR", "the database's configuration file has an error"),
    "HV": _Rule(Status.INVALID_ARGUMENT, "ROUTINE_ERROR", "a foreign data wrapper failed"),
    "P0": _Rule(Status.INVALID_ARGUMENT, "SQL_ERROR", "a PL/pgSQL function raised an error"),
    "XX": _Rule(Status.INVALID_ARGUMENT, "ENGINE_INTERNAL_ERROR", "the database reported an internal error"),
}
# The server's words when Parse gets more than one statement (a syntax error to PostgreSQL).
_MULTIPLE_COMMANDS = "cannot insert multiple commands"
_MULTIPLE = _Rule(Status.INVALID_ARGUMENT, "MULTIPLE_STATEMENTS", "send statements one at a time")
# A SQLSTATE outside Appendix A (a function may RAISE any five-character code).
_UNLISTED = _Rule(Status.INVALID_ARGUMENT, "DATABASE_ERROR", "the database reported this error")


# libpq reports failed logins as text only; these are the server's words for them.
_LOGIN_FAILURES = (
    ("password authentication failed", "28P01"),
    ("no pg_hba.conf entry", "28000"),
    ('role "', "28000"),  # role "x" does not exist
    ('database "', "3D000"),  # database "x" does not exist
)


# Some driver errors (e.g. bulk ingest's CREATE TABLE) carry no SQLSTATE, only ADBC's status.
_BY_DRIVER_STATUS: dict[str, _Rule] = {
    "UNAUTHORIZED": _EXACT["42501"],
    "NOT_FOUND": _EXACT["42P01"],
    "ALREADY_EXISTS": _EXACT["42P07"],
    "INVALID_ARGUMENT": _CLASSES["42"],
    "INVALID_DATA": _CLASSES["22"],
    "INTEGRITY": _CLASSES["23"],
    "IO": _CLASSES["08"],
}


def _status_name(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    return str(getattr(status, "name", ""))


def sqlstate_of(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None)
    if isinstance(state, str) and len(state) == 5:
        return state
    text = str(exc)
    match = _SQLSTATE_IN_TEXT.search(text)
    if match:
        return match.group(1)
    return next((code for marker, code in _LOGIN_FAILURES if marker in text and "FATAL" in text), None)


def primary_message(exc: BaseException) -> str:
    """PostgreSQL's own sentence, without libpq/ADBC wrapping or the echoed query."""
    for key, value in getattr(exc, "details", None) or ():
        if key == b"PG_DIAG_MESSAGE_PRIMARY" and isinstance(value, bytes):
            return value.decode(errors="replace")
    text = str(exc)
    match = _ERROR_IN_TEXT.search(text)
    if match:
        return match.group(1).strip()
    return text.split("\n", 1)[0].split("] ", 1)[-1].strip()


def connection_lost(exc: BaseException) -> bool:
    """True if the error means the connection is unusable (discard it, never reuse it)."""
    state = sqlstate_of(exc) or ""
    if state.startswith("08") or state in ("57P01", "57P02", "57P03"):
        return True
    text = str(exc)
    return any(marker in text for marker in _CONNECTION_LOST)


def map_postgres_error(exc: BaseException, *, cancel_requested: bool = False) -> GatewayError:
    """A GatewayError for a driver failure; the SQLSTATE rides along for the job record."""
    state = sqlstate_of(exc)
    message = primary_message(exc)
    if state == "57014" or "canceling statement" in message:
        if _STATEMENT_TIMEOUT in message:
            return GatewayError(
                Status.DEADLINE_EXCEEDED,
                "STATEMENT_TIMEOUT",
                f"{message} (the tenant's statement timeout; make the statement cheaper or ask for a longer limit)",
                sqlstate="57014",
            )
        return GatewayError(Status.CANCELLED, "CANCELLED", "the statement was cancelled", sqlstate="57014")
    if cancel_requested:
        return GatewayError(Status.CANCELLED, "CANCELLED", "the statement was cancelled", sqlstate=state)
    if state == "42601" and _MULTIPLE_COMMANDS in message:
        rule: _Rule | None = _MULTIPLE
    else:
        rule = _EXACT.get(state or "") or _CLASSES.get((state or "")[:2])
    if rule is None and connection_lost(exc):
        rule = _CLASSES["08"]
    if rule is None and state is None:
        rule = _BY_DRIVER_STATUS.get(_status_name(exc))
    if rule is None and state is not None:
        rule = _UNLISTED
    if rule is None:
        return GatewayError(Status.INTERNAL, "ENGINE_ERROR", f"{message} (unexpected database error)", sqlstate=state)
    return GatewayError(rule.status, rule.code, f"{message} ({rule.hint})", sqlstate=state, retryable=rule.retryable)
