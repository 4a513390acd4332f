"""Per-tenant allowances: defence in depth on top of what the database enforces."""

from flight_gateway.policy.allowances import check_statement_class

__all__ = ["check_statement_class"]
