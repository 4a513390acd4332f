"""What a statement does: the one vocabulary for statement kinds.

Engines answer a describe with one (how the statement runs) and the classes it falls in; a
tenant's `allowed_statements` (config) names the classes it may run; a job record's `kind` is one,
stored and shown (`ListJobs`, `GetJob`, `flight-gateway jobs`) as its value. The values are those
strings: changing one changes the config files, the stored jobs and the wire.
"""

from __future__ import annotations

import enum


class StatementKind(enum.Enum):
    QUERY = "query"  # returns rows; runs when the result is read
    DML = "dml"  # changes rows; runs once, returns a count
    DDL = "ddl"
    OTHER = "other"  # session/utility statements (SET, PRAGMA, ...)
    INGEST = "ingest"  # ADBC bulk ingestion: never the answer to a describe
    # Job kinds only, never a class a tenant is allowed:
    STATEMENT = "statement"  # refused before the gateway could tell what it does
    DETACHED = "detached"  # a detached job (SubmitJob)


# What SQL text can be (a describe's answers): a tenant allowed all of them runs any statement.
SQL_KINDS = frozenset({StatementKind.QUERY, StatementKind.DML, StatementKind.DDL, StatementKind.OTHER})
# What a tenant may be allowed (`allowed_statements`): SQL, and bulk ingestion.
STATEMENT_CLASSES = SQL_KINDS | {StatementKind.INGEST}
