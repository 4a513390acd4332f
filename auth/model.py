"""Who a caller is (Principal), which tenant they act as (Tenant), and why auth failed (AuthError)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Tenant:
    """A tenant: the unit of isolation. The engine logs in as `db_user` (or opens `database`)."""

    id: str
    engine: str = "duckdb"
    database: str | None = None
    db_user: str | None = None
    read_only: bool = False


@dataclass(frozen=True)
class Principal:
    """An authenticated caller, bound to exactly one tenant."""

    subject: str
    tenant_id: str
    method: str
    roles: tuple[str, ...] = field(default=())


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
