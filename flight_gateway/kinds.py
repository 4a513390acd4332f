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


class StatementClass(enum.Enum):
    """What a statement may do, for tenants' allowances (`allowed_statements` names these values).

    Finer than StatementKind: the kind says how a statement runs (rows, a count), the classes say
    what it touches. A statement falls in every class of every statement it runs (a WITH holding
    an UPDATE is query and dml; EXPLAIN ANALYZE INSERT is dml)."""

    QUERY = "query"  # reads: SELECT, VALUES, TABLE, SHOW-less reads, EXPLAIN (plan only)
    DML = "dml"  # INSERT, UPDATE, DELETE, MERGE
    DDL = "ddl"  # CREATE, ALTER, DROP, TRUNCATE, COMMENT
    TRANSACTION = "transaction"  # BEGIN, COMMIT, ROLLBACK, SAVEPOINT
    SESSION = "session"  # SET, RESET, SHOW, DISCARD, PRAGMA, USE
    ADMIN = "admin"  # GRANT, REVOKE, VACUUM, ANALYZE, CHECKPOINT, REINDEX, CLUSTER, LOCK
    DATA_MOVEMENT = "data_movement"  # COPY, UNLOAD, EXPORT/IMPORT DATABASE, ATTACH/DETACH, INSTALL/LOAD
    PROCEDURAL = "procedural"  # CALL, DO, PREPARE, EXECUTE, DEALLOCATE, CREATE FUNCTION bodies run later
    INGEST = "ingest"  # ADBC bulk ingestion (never the answer to a classification)


SQL_CLASSES = frozenset(StatementClass) - {StatementClass.INGEST}
