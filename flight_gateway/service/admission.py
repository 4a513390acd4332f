"""THE pre-flight: every statement — streamed, prepared, update, ingest, detached, replayed —
passes here once before it runs.

In order: the statement text (no NUL, not over `max_statement_bytes`), one describe in the
tenant's engine session (result and parameter schemas, statement kind and classes), the tenant's
allowances (`policy/`), and the parameter count. A statement refused here is still a job: `refuse`
is the one place such a job is recorded (FAILED, or CANCELLED, with the refusal's code).
"""

from __future__ import annotations

import pyarrow as pa

from flight_gateway.context import RequestContext
from flight_gateway.engines.base import IngestTarget, StatementShape
from flight_gateway.errors import ErrorCode, GatewayError, error
from flight_gateway.kinds import StatementClass, StatementKind
from flight_gateway.policy import check_complexity, check_statement, check_statement_class
from flight_gateway.policy.statement_text import check_statement_text
from flight_gateway.service.executor import Executor

# What a client that sent no values for a statement with `{n}` parameters is told, by default.
UNBOUND = "the statement has {n} parameter(s) but none were bound; bind one value per parameter before executing"


def check_parameter_count(expected: int, sent: int | None, unbound: str = UNBOUND) -> None:
    """`sent` values for a statement with `expected` parameters (None: no values were sent at all,
    answered with `unbound`). The one parameter-count check: every command with values uses it."""
    if sent is None:
        if expected:
            raise error(ErrorCode.PARAMETER_MISMATCH, unbound.format(n=expected))
    elif sent != expected:
        raise error(ErrorCode.PARAMETER_MISMATCH, f"the statement has {expected} parameter(s) but {sent} were bound")


class Admission:
    def __init__(self, executor: Executor, max_statement_bytes: int = 1 << 20) -> None:
        self._executor = executor
        self._max_statement_bytes = max_statement_bytes

    def check_text(self, sql: str, tenant_max_bytes: int | None = None) -> None:
        check_statement_text(sql, self._max_statement_bytes, tenant_max_bytes=tenant_max_bytes)

    def admit(
        self,
        ctx: RequestContext,
        sql: str,
        params: pa.RecordBatch | None,
        kind: StatementKind = StatementKind.STATEMENT,
        *,
        unbound: str | None = None,
    ) -> StatementShape:
        """Text checks, describe (once), policy; with `unbound` (what to tell a client that sent
        no values, see UNBOUND), also the parameter count of a statement run without values. A
        refusal is recorded as a job of `kind`; a "statement" refused for its parameters is
        recorded as a job of its own kind (query, dml, ...), as it was understood by then."""
        try:
            self.check_text(sql, ctx.tenant.limits.max_statement_bytes)
            shape = self._executor.describe(ctx, sql, params)
            check_statement(ctx.tenant, shape)
            check_complexity(ctx.tenant, shape)
        except GatewayError as err:
            self.refuse(ctx, sql, kind, err)
            raise
        if unbound is not None and params is None:
            try:
                check_parameter_count(len(shape.parameters), None, unbound)
            except GatewayError as err:
                self.refuse(ctx, sql, shape.kind if kind is StatementKind.STATEMENT else kind, err)
                raise
        return shape

    def allow_ingest(self, ctx: RequestContext) -> None:
        check_statement_class(ctx.tenant, StatementClass.INGEST)

    def check_ingest_target(self, target: IngestTarget) -> None:
        for name in (target.table, target.schema, target.catalog):
            check_statement_text(name or "", self._max_statement_bytes, "the ingest target's name")

    def refuse(self, ctx: RequestContext, sql: str, kind: StatementKind, error: GatewayError) -> None:
        """A statement refused before it ran (bad SQL, not allowed, the gateway stopping) is still a
        job, its admission decision `refused`."""
        self._executor.refuse(ctx, sql, kind, error)
