"""The gateway's error vocabulary: every failure a client sees is a GatewayError.

Engines, the job store and the protocol raise these; only `protocol/status.py` turns them into
Flight status codes. The message is written for the client (cause first, then what to do); the
stable `code` is what programs and the job store key on.
"""

from __future__ import annotations

import enum
from typing import NamedTuple


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
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.sqlstate = sqlstate
        self.retryable = retryable
        # Seconds after which a retry may succeed (rate limits, queues): sent to the client.
        self.retry_after = retry_after

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
    return error(ErrorCode.CANCELLED, message)


class CodeFacts(NamedTuple):
    status: Status
    meaning: str
    retryable: bool = False


_I, _N, _E = Status.INVALID_ARGUMENT, Status.NOT_FOUND, Status.ALREADY_EXISTS
_A, _D, _R = Status.UNAUTHENTICATED, Status.PERMISSION_DENIED, Status.RESOURCE_EXHAUSTED
_T, _U, _C, _X = Status.DEADLINE_EXCEEDED, Status.UNAVAILABLE, Status.CANCELLED, Status.UNIMPLEMENTED


class ErrorCode(enum.Enum):
    """Every stable error code a client can receive: its status, whether a retry may help, what it means.

    One situation, one code, on every engine. `docs/errors.md` is rendered from this table
    (`render_error_docs`); a test checks that every code raised in the package is listed here
    with the status it is raised with. INTERNAL is reserved for gateway bugs.
    """

    # -- the statement and its data
    SQL_SYNTAX = CodeFacts(_I, "the statement does not parse; fix the SQL")
    SQL_BINDING = CodeFacts(_I, "a column or expression does not bind (unknown column, wrong argument types)")
    SQL_CATALOG = CodeFacts(_I, "the database's catalog refused the statement (e.g. a wrong kind of object)")
    SQL_ERROR = CodeFacts(_I, "the database refused the statement; the message says why")
    OBJECT_NOT_FOUND = CodeFacts(_N, "a table, schema, function or other named object does not exist")
    OBJECT_EXISTS = CodeFacts(_E, "an object of that name already exists")
    TABLE_EXISTS = CodeFacts(_E, "bulk ingest in create mode found the table already there; append or replace")
    MISSING_TABLE = CodeFacts(_I, "a bulk ingest names no target table")
    DATA_ERROR = CodeFacts(_I, "a value is invalid for its type or operation (division by zero, bad cast, overflow)")
    INVALID_INPUT = CodeFacts(_I, "the engine refused an input value or argument")
    CONSTRAINT_VIOLATION = CodeFacts(_I, "a row breaks a constraint (unique, not null, foreign key, check)")
    DEPENDENT_OBJECTS = CodeFacts(_I, "other objects depend on the one being changed; change them first")
    ROUTINE_ERROR = CodeFacts(_I, "a function, procedure, trigger or extension (dblink, FDW) failed")
    DATABASE_ERROR = CodeFacts(_I, "the database reported an error class without a more specific code (see SQLSTATE)")
    ENGINE_INTERNAL_ERROR = CodeFacts(
        _I, "the database reported an internal error (class XX, e.g. raised by a function); not a gateway fault"
    )
    EMPTY_STATEMENT = CodeFacts(_I, "the statement text is empty")
    MULTIPLE_STATEMENTS = CodeFacts(_I, "the text holds more than one statement; send them one at a time")
    NUL_IN_STATEMENT = CodeFacts(_I, "the statement text (or an ingest table name) contains a NUL character")
    STATEMENT_TOO_LARGE = CodeFacts(_I, "the statement text exceeds max_statement_bytes; send a smaller statement")
    NO_RESULT = CodeFacts(_I, "the statement returns no result set; run it as an update")
    NOT_A_QUERY = CodeFacts(_I, "only queries can run as detached jobs")
    NOT_OFFLOADABLE = CodeFacts(_I, "the statement cannot be offloaded")
    PARAMETER_MISMATCH = CodeFacts(_I, "the bound parameters do not match the statement's placeholders")
    PARAMETER_OUT_OF_RANGE = CodeFacts(_I, "a parameter value is outside the accepted range")
    PARAMETERS_TOO_LARGE = CodeFacts(_I, "the bound parameters exceed the size limit")
    TOO_MANY_PARAMETER_ROWS = CodeFacts(_I, "a query takes exactly one row of parameters")
    TRANSACTION_STATE = CodeFacts(_I, "the statement is invalid in the current transaction state")
    INGEST_OPTIONS = CodeFacts(_I, "the bulk-ingest options are invalid or contradictory")
    BAD_DELIVERY_HINT = CodeFacts(_I, "the delivery hint is not one the gateway understands")
    BAD_REQUEST_ID = CodeFacts(_I, "the request id is malformed")
    REQUEST_ID_REUSED = CodeFacts(_I, "the request id was already used for a different statement")
    REQUEST_FAILED = CodeFacts(_I, "an earlier call with this request id failed; send a new request id to run it again")
    # -- permissions and policy
    NO_CREDENTIALS = CodeFacts(_A, "the call carries no credentials; authenticate first")
    DB_LOGIN_FAILED = CodeFacts(_A, "the database refused the gateway's password for the tenant's db_user")
    DB_LOGIN_DENIED = CodeFacts(_D, "the tenant's db_user may not log in to the database")
    NOT_ALLOWED = CodeFacts(_D, "the tenant's database user lacks the privilege for this")
    READ_ONLY = CodeFacts(_D, "the tenant is read-only and the statement would write")
    STATEMENT_NOT_ALLOWED = CodeFacts(_D, "the gateway refuses this kind of statement for this tenant")
    STATEMENT_NOT_UNDERSTOOD = CodeFacts(_D, "the statement cannot be classified; restricted tenants may not run it")
    WRONG_TENANT = CodeFacts(_D, "the ticket or handle was issued to another tenant")
    REDSHIFT_CREDENTIALS_DENIED = CodeFacts(_D, "AWS refused the Redshift credentials for the tenant")
    # -- engine and dependencies
    ENGINE_UNAVAILABLE = CodeFacts(_U, "the database cannot be reached or is restarting; retry", True)
    ENGINE_CLOSED = CodeFacts(_U, "the engine is shutting down", True)
    ENGINE_IO = CodeFacts(_U, "the database hit an I/O error; retry later", True)
    ENGINE_RESOURCES = CodeFacts(_R, "the database ran out of resources (memory, disk, locks); reduce the work")
    OUT_OF_MEMORY = CodeFacts(_R, "the engine ran out of memory; reduce the result size")
    STATEMENT_TOO_COMPLEX = CodeFacts(_R, "the statement exceeds a program limit; simplify it")
    COMPLEXITY_LIMIT = CodeFacts(_R, "the statement has more joins or deeper subqueries than the tenant's limits")
    RATE_LIMITED = CodeFacts(_R, "the tenant's requests_per_minute is used up; retry after the hinted delay", True)
    QUEUE_FULL = CodeFacts(_R, "the tenant's statement queue is full; retry after the hinted delay", True)
    QUEUE_TIMEOUT = CodeFacts(
        _R, "the statement waited queue_timeout_seconds for one of the tenant's statement slots; retry later", True
    )
    RESULT_LIMIT = CodeFacts(
        _R, "the result exceeds the tenant's max_result_rows or max_result_bytes; add a LIMIT or offload it"
    )
    POOL_EXHAUSTED = CodeFacts(_R, "no database connection became free in time; retry", True)
    TOO_MANY_CONNECTIONS = CodeFacts(_U, "the database has no free connections; retry", True)
    OBJECT_BUSY = CodeFacts(_U, "the object is locked or in use; retry later", True)
    CONFLICT = CodeFacts(_U, "a concurrent transaction conflicted; retry", True)
    SERIALIZATION_FAILURE = CodeFacts(_U, "a concurrent transaction conflicted (SQLSTATE 40001); retry", True)
    DEADLOCK = CodeFacts(_U, "the statement was chosen as a deadlock victim; retry", True)
    TRANSACTION_ROLLBACK = CodeFacts(_U, "the database rolled the transaction back; retry", True)
    CREDENTIALS_UNAVAILABLE = CodeFacts(_U, "the database credentials could not be fetched; retry", True)
    REDSHIFT_CREDENTIALS_UNAVAILABLE = CodeFacts(_U, "Redshift credentials could not be fetched; retry", True)
    JOB_STORE_UNAVAILABLE = CodeFacts(_U, "the job store cannot be reached; retry", True)
    OFFLOAD_FAILED = CodeFacts(_U, "writing or reading offloaded results failed; retry", True)
    OFFLOAD_UNAVAILABLE = CodeFacts(_U, "the offload store cannot be reached; retry", True)
    UNLOAD_ROLE = CodeFacts(_U, "the Redshift UNLOAD has no usable IAM role configured")
    SHUTTING_DOWN = CodeFacts(_U, "the gateway is shutting down; retry on another replica", True)
    DETACHED_JOBS_OFF = CodeFacts(_U, "detached jobs are not enabled on this gateway")
    JOB_NOT_FINISHED = CodeFacts(_U, "the job has not finished yet; poll again", True)
    REQUEST_IN_PROGRESS = CodeFacts(_U, "a statement with this request id is still running; retry later", True)
    DETACHED_JOBS_BUSY = CodeFacts(_R, "too many detached jobs are running for the tenant; retry later", True)
    OFFLOAD_TOO_LARGE = CodeFacts(_R, "the result exceeds the offload size limit")
    NO_DATABASE = CodeFacts(_N, "no database is configured for the tenant")
    # -- time and cancellation
    STATEMENT_TIMEOUT = CodeFacts(_T, "the statement ran longer than the tenant's timeout")
    TICKET_EXPIRED = CodeFacts(_T, "the ticket has expired; ask for a new FlightInfo")
    CANCELLED = CodeFacts(_C, "the statement was cancelled")
    CLIENT_DISCONNECTED = CodeFacts(_C, "the client went away (disconnected or cancelled the call) before the end")
    # -- jobs, tickets and results
    JOB_NOT_FOUND = CodeFacts(_N, "no such job for this tenant")
    JOB_FAILED = CodeFacts(_N, "the job failed, so it has no result; submit the statement again")
    JOB_CANCELLED = CodeFacts(_N, "the job was cancelled, so it has no result; submit the statement again")
    NO_STORED_RESULT = CodeFacts(_N, "the job kept no result to read")
    RESULT_EXPIRED = CodeFacts(_N, "the job's stored result has expired")
    OFFLOAD_GONE = CodeFacts(_N, "the offloaded result no longer exists")
    NOT_RENEWABLE = CodeFacts(_I, "this endpoint cannot be renewed")
    FORGED_TICKET = CodeFacts(_I, "the ticket's signature does not verify")
    MALFORMED_TICKET = CodeFacts(_I, "the ticket cannot be decoded")
    MALFORMED_ENDPOINT = CodeFacts(_I, "the endpoint cannot be decoded")
    MALFORMED_FLIGHT_INFO = CodeFacts(_I, "the FlightInfo cannot be decoded")
    BAD_MANIFEST = CodeFacts(_I, "the offload manifest is malformed")
    BAD_JOB_ID = CodeFacts(_I, "an offloaded result was asked for by something that is not a job id")
    # -- protocol
    MALFORMED_COMMAND = CodeFacts(_I, "the Flight SQL command cannot be decoded")
    MALFORMED_ACTION = CodeFacts(_I, "the action body cannot be decoded")
    INVALID_ACTION_BODY = CodeFacts(_I, "the action body has invalid values")
    PATH_DESCRIPTOR = CodeFacts(_I, "path descriptors are not supported; send a Flight SQL command")
    BAD_PATH_DESCRIPTOR = CodeFacts(_I, "the path descriptor names no readable job result")
    UNKNOWN_COMMAND = CodeFacts(_X, "the command type is not a Flight SQL command the gateway knows")
    UNSUPPORTED_COMMAND = CodeFacts(_X, "the Flight SQL command is not supported here")
    UNKNOWN_ACTION = CodeFacts(_X, "the action type is not one the gateway offers")
    UNSUPPORTED_ACTION = CodeFacts(_X, "the action is not supported here")
    UNSUPPORTED_RPC = CodeFacts(_X, "the Flight RPC method is not offered by the gateway")
    NO_TRANSACTIONS = CodeFacts(_X, "transactions are not supported; each statement commits on its own")
    NO_TEMPORARY_INGEST = CodeFacts(_X, "bulk ingest into temporary tables is not supported")
    INGEST_NOT_SUPPORTED = CodeFacts(_X, "the engine does not support bulk ingest")
    NOT_SUPPORTED = CodeFacts(_X, "the database does not support this feature")
    # -- gateway bugs (and nothing else)
    INTERNAL = CodeFacts(Status.INTERNAL, "a gateway bug; report it with the request id")
    ENGINE_ERROR = CodeFacts(Status.INTERNAL, "the engine failed in a way the gateway does not recognise (a bug)")
    STREAM_FAILED = CodeFacts(Status.INTERNAL, "the result stream failed unexpectedly (a bug)")
    RESULT_UNREADABLE = CodeFacts(Status.INTERNAL, "a stored result could not be read back (a bug)")
    UNLOAD_TARGET = CodeFacts(Status.INTERNAL, "the UNLOAD target was not prepared as expected (a bug)")

    @property
    def status(self) -> Status:
        return self.value.status

    @property
    def retryable(self) -> bool:
        return self.value.retryable

    @property
    def meaning(self) -> str:
        return self.value.meaning


def error(
    code: ErrorCode, message: str, *, sqlstate: str | None = None, retry_after: float | None = None
) -> GatewayError:
    """A GatewayError whose status and retryability come from the catalog."""
    return GatewayError(
        code.status, code.name, message, sqlstate=sqlstate, retryable=code.retryable, retry_after=retry_after
    )


def render_error_docs() -> str:
    """`docs/errors.md`, rendered from `ErrorCode` (regenerate: `python -m flight_gateway.errors`)."""
    lines = [
        "# Error codes",
        "",
        "<!-- Generated from flight_gateway/errors.py (ErrorCode) by `python -m flight_gateway.errors"
        " > docs/errors.md`; do not edit by hand. -->",
        "",
        "Every failure reaches the client as a gRPC status plus a stable code in the message",
        "(`error_code=CODE`); programs and the job store key on the code. The same situation has the",
        "same code and status on every engine. `INTERNAL` means a gateway bug and nothing else:",
        "report it with the request id. pyarrow's Flight server cannot send RESOURCE_EXHAUSTED or",
        "ALREADY_EXISTS: those codes reach clients as UNAVAILABLE and INVALID_ARGUMENT respectively,",
        "so clients should key on the error code.",
        "",
        "| code | status | retryable | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for code in sorted(ErrorCode, key=lambda c: (c.status.value, c.name)):
        retry = "yes" if code.retryable else "no"
        lines.append(f"| `{code.name}` | {code.status.value} | {retry} | {code.meaning} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_error_docs(), end="")
