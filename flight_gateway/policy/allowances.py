"""Which statement classes a tenant may run (`allowed_statements` / `read_only` in its config)."""

from __future__ import annotations

from auth import Tenant
from auth.model import SQL_STATEMENT_CLASSES
from flight_gateway.engines.base import StatementShape
from flight_gateway.errors import ErrorCode, error
from flight_gateway.kinds import StatementKind

# A tenant allowed all of these runs any statement: classifying its SQL changes nothing.
SQL_CLASSES = SQL_STATEMENT_CLASSES
# Interim until every engine answers StatementClass: "other" needs every class it was split into.
_OTHER = ("transaction", "session", "admin", "data_movement", "procedural")


def check_statement_class(tenant: Tenant, kind: StatementKind) -> None:
    statement_class = kind.value  # the tenant's config names classes by these values
    needed = _OTHER if statement_class == "other" else (statement_class,)
    if not all(c in tenant.allowed_statements for c in needed):
        allowed = ", ".join(sorted(tenant.allowed_statements)) or "none"
        raise error(
            ErrorCode.STATEMENT_NOT_ALLOWED,
            f"tenant {tenant.id!r} may not run {statement_class} statements (allowed: {allowed})",
        )


def restricted(tenant: Tenant) -> bool:
    return not SQL_CLASSES <= tenant.allowed_statements


def check_understood(tenant: Tenant, unclassified: str | None) -> None:
    """Text the engine could not classify (`unclassified` says why) is refused to restricted
    tenants (fail closed) and left to the database for the others. Engines call this before the
    database sees the text, so the refusal is the same whatever the database would answer."""
    if unclassified is not None and restricted(tenant):
        allowed = ", ".join(sorted(tenant.allowed_statements)) or "none"
        raise error(
            ErrorCode.STATEMENT_NOT_UNDERSTOOD,
            f"the gateway cannot tell what this statement does ({unclassified}); tenant "
            f"{tenant.id!r} may run only {allowed} statements, so it is refused. Send one plain statement",
        )


def check_statement(tenant: Tenant, shape: StatementShape) -> None:
    """Every class the statement falls in must be allowed (see check_understood for the rest)."""
    if shape.unclassified is not None:
        check_understood(tenant, shape.unclassified)
        return
    for kind in sorted(shape.statement_classes, key=lambda k: k.value):
        check_statement_class(tenant, kind)
