"""What a Redshift statement does (sqlglot's `redshift` dialect under the lexer's guard, see
`policy/pg_statements.py`), and what the Redshift engine refuses for every tenant.

COPY and UNLOAD reach S3 with the cluster's IAM roles; transaction control, SET, PREPARE, cursors
and the like would outlive the statement in a pooled session. They are refused whoever asks,
under any spelling: any statement keyword of any reading of the text counts.
"""

from __future__ import annotations

from auth import Tenant
from flight_gateway.errors import GatewayError, Status, unimplemented
from flight_gateway.kinds import StatementClass
from flight_gateway.policy import check_statement_class
from flight_gateway.policy.pg_classify import Classified
from flight_gateway.policy.pg_keywords import TRANSACTION_CONTROL
from flight_gateway.policy.pg_statements import read_statement as read_any

_SESSION = (
    "is not allowed through the gateway: each statement runs in its own transaction, with the tenant's session settings"
)
# UNLOAD and COPY reach S3 with whatever IAM role they name, and the cluster's roles serve every
# database user: a tenant's own could write under another tenant's offload prefix.
_S3 = (
    "is not allowed through the gateway: it reaches S3 with the cluster's IAM roles. For a huge result, "
    "ask for offloaded delivery (x-flight-gateway-delivery: offload); the gateway runs its own UNLOAD"
)
# Transaction control, whatever would outlive the statement in a pooled session, and S3 access.
_REFUSED = {
    **dict.fromkeys(("BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE", "SET",
                     "RESET", "PREPARE", "EXECUTE", "DEALLOCATE", "DISCARD", "DECLARE", "FETCH", "MOVE", "CLOSE",
                     "LISTEN", "UNLISTEN", "NOTIFY"), _SESSION),
    **dict.fromkeys(("UNLOAD", "COPY"), _S3),
}  # fmt: skip


def refuse_session_and_s3_statements(classified: Classified, tenant: Tenant | None = None) -> None:
    """The refusals hold for every tenant, whatever the spelling: any statement keyword of any
    reading of the text counts, and text the gateway cannot read at all is refused too."""
    refused = next((word for word in classified.keywords if word in _REFUSED), None)
    if refused is not None and all(w in TRANSACTION_CONTROL for w in classified.keywords if w in _REFUSED):
        if tenant is not None:  # a tenant not allowed transaction statements hears it from its policy
            check_statement_class(tenant, StatementClass.TRANSACTION)
        # The same answer as on every engine: the gateway has no SQL transactions.
        raise unimplemented("NO_TRANSACTIONS", f"{refused} {_SESSION}")
    if refused is not None:
        raise GatewayError(Status.PERMISSION_DENIED, "STATEMENT_NOT_ALLOWED", f"{refused} {_REFUSED[refused]}")
    if not classified.readable:
        raise GatewayError(
            Status.PERMISSION_DENIED,
            "STATEMENT_NOT_UNDERSTOOD",
            f"the gateway cannot read this statement ({classified.problem}); on Redshift such text is "
            "refused for every tenant, since some statements (COPY, UNLOAD, SET, transactions) must never "
            "reach the cluster. Send one plain statement",
        )


def read_statement(sql: str) -> Classified:
    return read_any(sql, "redshift")
