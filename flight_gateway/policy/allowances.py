"""Which statement classes a tenant may run (`allowed_statements` / `read_only` in its config)."""

from __future__ import annotations

from auth import Tenant
from flight_gateway.errors import denied


def check_statement_class(tenant: Tenant, statement_class: str) -> None:
    if statement_class not in tenant.allowed_statements:
        allowed = ", ".join(sorted(tenant.allowed_statements)) or "none"
        raise denied(
            "STATEMENT_NOT_ALLOWED",
            f"tenant {tenant.id!r} may not run {statement_class} statements (allowed: {allowed})",
        )
