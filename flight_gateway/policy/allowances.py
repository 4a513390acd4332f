"""Which statement classes a tenant may run (`allowed_statements` / `read_only` in its config), and
how complex its statements may be (`limits.max_joins`, `limits.max_subquery_depth`)."""

from __future__ import annotations

from auth import Tenant
from auth.model import SQL_STATEMENT_CLASSES
from flight_gateway.engines.base import StatementShape
from flight_gateway.errors import ErrorCode, error, unimplemented
from flight_gateway.kinds import StatementClass

# A tenant allowed all of these runs any statement: classifying its SQL changes nothing.
SQL_CLASSES = SQL_STATEMENT_CLASSES


def check_statement_class(tenant: Tenant, statement_class: StatementClass) -> None:
    if statement_class.value not in tenant.allowed_statements:  # the config names classes by value
        allowed = ", ".join(sorted(tenant.allowed_statements)) or "none"
        raise error(
            ErrorCode.STATEMENT_NOT_ALLOWED,
            f"tenant {tenant.id!r} may not run {statement_class.value} statements (allowed: {allowed})",
        )


def refuse_transaction_control(tenant: Tenant) -> None:
    """The gateway has no SQL transactions (each statement commits on its own). A tenant not allowed
    transaction statements hears that from its policy first, as for any class it may not run."""
    check_statement_class(tenant, StatementClass.TRANSACTION)
    raise unimplemented("NO_TRANSACTIONS", "transaction control is not supported; each statement commits on its own")


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
    check_classes(tenant, shape.classes, shape.unclassified)


def check_classes(tenant: Tenant, classes: frozenset[StatementClass], unclassified: str | None) -> None:
    """check_statement before there is a shape: engines call it before the database sees the text,
    so a refused statement is refused the same whether its objects exist or not."""
    if unclassified is not None:
        check_understood(tenant, unclassified)
        return
    for statement_class in sorted(classes, key=lambda c: c.value):
        check_statement_class(tenant, statement_class)


def wants_complexity(tenant: Tenant) -> bool:
    """Whether the tenant has complexity limits (engines read them from the tree only then)."""
    return tenant.limits.max_joins is not None or tenant.limits.max_subquery_depth is not None


def check_complexity(tenant: Tenant, shape: StatementShape) -> None:
    """The tenant's complexity limits against the statement's parse tree. A statement whose tree
    could not be read is refused to a tenant with limits (fail closed), whatever its classes."""
    if not wants_complexity(tenant):
        return
    if shape.complexity is None:
        raise error(
            ErrorCode.STATEMENT_NOT_UNDERSTOOD,
            f"tenant {tenant.id!r} has complexity limits (max_joins, max_subquery_depth) and the gateway "
            "cannot read this statement's parse tree to count them; send a plain SELECT",
        )
    limits = tenant.limits
    for name, limit, count in (
        ("max_joins", limits.max_joins, shape.complexity.joins),
        ("max_subquery_depth", limits.max_subquery_depth, shape.complexity.subquery_depth),
    ):
        if limit is not None and count > limit:
            what = "joins" if name == "max_joins" else "levels of nested subqueries"
            raise error(
                ErrorCode.COMPLEXITY_LIMIT,
                f"the statement has {count} {what}, over tenant {tenant.id!r}'s limit {name} = {limit}; "
                "split it into simpler statements or ask the operator to raise the limit",
            )
