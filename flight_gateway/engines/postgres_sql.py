"""What the PostgreSQL engine needs to know about a statement's text (never how to rewrite it)."""

from __future__ import annotations

import re

from flight_gateway.engines.base import StatementKind

_LEADING = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*", re.DOTALL)
_DML = {"INSERT", "UPDATE", "DELETE", "MERGE"}
_DDL = {"CREATE", "DROP", "ALTER", "TRUNCATE", "COMMENT", "GRANT", "REVOKE", "REINDEX", "CLUSTER", "REFRESH",
        "SECURITY", "IMPORT", "SELECT"}  # fmt: skip
TRANSACTION_CONTROL = {"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE"}


def first_keyword(sql: str) -> str:
    leading = _LEADING.match(sql)
    rest = sql[leading.end() :] if leading else sql
    match = re.match(r"[A-Za-z]+", rest)
    return match.group(0).upper() if match else ""


def statement_kind(sql: str, returns_rows: bool) -> StatementKind:
    if returns_rows:
        return StatementKind.QUERY
    keyword = first_keyword(sql)
    if keyword == "WITH":  # a data-modifying CTE without RETURNING
        return StatementKind.DML
    if keyword in _DML:
        return StatementKind.DML
    if keyword in _DDL:  # SELECT without columns here is SELECT INTO
        return StatementKind.DDL
    return StatementKind.OTHER


def copyable(sql: str) -> str:
    """The driver runs a query as `COPY (<sql>) TO STDOUT`: a trailing `-- comment` would swallow
    the closing parenthesis and a trailing semicolon would end the COPY early."""
    return sql.rstrip().rstrip(";").rstrip() + "\n"
