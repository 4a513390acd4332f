"""Per-tenant allowances: defence in depth on top of what the database enforces."""

from flight_gateway.policy.allowances import check_statement, check_statement_class, check_understood, restricted

__all__ = ["check_statement", "check_statement_class", "check_understood", "restricted"]
