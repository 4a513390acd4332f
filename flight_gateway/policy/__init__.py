"""Per-tenant allowances: defence in depth on top of what the database enforces."""

from flight_gateway.policy.allowances import (
    check_classes,
    check_complexity,
    check_statement,
    check_statement_class,
    check_understood,
    refuse_transaction_control,
    restricted,
    wants_complexity,
)

__all__ = [
    "check_classes",
    "check_complexity",
    "check_statement",
    "check_statement_class",
    "check_understood",
    "refuse_transaction_control",
    "restricted",
    "wants_complexity",
]
