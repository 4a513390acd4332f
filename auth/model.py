"""Who a caller is (Principal), which tenant they act as (Tenant), and why auth failed (AuthError)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

# Statement classes a tenant may be allowed to run (see flight_gateway policy).
STATEMENT_CLASSES = frozenset({"query", "dml", "ddl", "other", "ingest"})


@dataclass(frozen=True)
class TenantLimits:
    """Per-tenant limits; declared now, enforced by the governance work (not yet)."""

    max_concurrent_statements: int | None = None
    max_result_rows: int | None = None
    statement_timeout_seconds: float | None = None
    requests_per_minute: int | None = None


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
