"""Who a caller is (Principal), which tenant they act as (Tenant), and why auth failed (AuthError)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

# Statement classes a tenant may be allowed to run (see flight_gateway/kinds.py, StatementClass).
SQL_STATEMENT_CLASSES = frozenset(
    {"query", "dml", "ddl", "transaction", "session", "admin", "data_movement", "procedural"}
)
STATEMENT_CLASSES = SQL_STATEMENT_CLASSES | {"ingest"}


@dataclass(frozen=True)
class TenantLimits:
    """Per-tenant limits (None: no limit), enforced by the gateway's admission control
    (flight_gateway/service/admission.py and the modules it names). Documented in
    flight_gateway/config/tenants.py (TenantLimitsConfig), which is what operators write."""

    # Statements running at once; more wait in a FIFO queue (at most max_queued_statements) for
    # up to queue_timeout_seconds.
    max_concurrent_statements: int | None = None
    max_queued_statements: int = 100
    queue_timeout_seconds: float = 30.0
    # Calls that start work, per minute (token bucket holding up to requests_burst tokens).
    requests_per_minute: int | None = None
    requests_burst: int | None = None
    statement_timeout_seconds: float | None = None
    # Result caps, and what reaching one does: "error" (the stream fails) or "truncate".
    max_result_rows: int | None = None
    max_result_bytes: int | None = None
    result_limit_mode: str = "error"
    max_statement_bytes: int | None = None
    max_offload_bytes: int | None = None
    # Fair sharing of the gateway's result readers: the tenant's weight and its cap.
    weight: float = 1.0
    max_concurrent_streams: int | None = None
    # Complexity limits read from the parse tree (PostgreSQL, Redshift and DuckDB dialects).
    max_joins: int | None = None
    max_subquery_depth: int | None = None


@dataclass(frozen=True)
class Tenant:
    """A tenant: the unit of isolation. The engine logs in as `db_user` (or opens `database`)."""

    id: str
    engine: str = "duckdb"
    database: str | None = None
    db_user: str | None = None
    db_groups: tuple[str, ...] = ()
    wlm_query_group: str | None = None
    allowed_statements: frozenset[str] = STATEMENT_CLASSES
    offload_prefix: str | None = None
    # "auto" | "always" | "never"; None: the gateway's default.
    offload: str | None = None
    limits: TenantLimits = field(default_factory=TenantLimits)

    @property
    def read_only(self) -> bool:
        return self.allowed_statements <= {"query"}


@dataclass(frozen=True)
class Principal:
    """An authenticated caller, bound to exactly one tenant."""

    subject: str
    tenant_id: str
    method: str
    roles: tuple[str, ...] = field(default=())
    # The public id of the API key used, for logs and jobs.
    key_id: str | None = None
    # When the credential behind this identity stops being valid (epoch seconds), if it does.
    valid_until: float | None = None


class AuthFailure(enum.Enum):
    UNAUTHENTICATED = "unauthenticated"
    PERMISSION_DENIED = "permission_denied"


class AuthError(Exception):
    """Authentication or tenant resolution failed; `reason` is a stable, loggable code."""

    def __init__(self, kind: AuthFailure, reason: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.reason = reason
        self.message = message


def unauthenticated(reason: str, message: str) -> AuthError:
    return AuthError(AuthFailure.UNAUTHENTICATED, reason, message)
