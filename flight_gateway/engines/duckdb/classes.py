"""What a DuckDB statement does, for tenants' allowances, read by DuckDB's own parser.

DuckDB's parser names the statement type (`extract_statements`), and the type decides, not
whether rows come back: `INSERT … RETURNING` returns rows and is DML, `CALL f()` returns rows and
is procedural. `EXPLAIN ANALYZE` runs the statement it explains, so it is what that statement is;
in DuckDB an ANALYZE anywhere in EXPLAIN's options runs it (measured with duckdb 2.0: `EXPLAIN
(ANALYZE false) INSERT …` inserts). DuckDB's Python tokenizer and its parser disagree on some text
(the parser takes U+00A0 as a space, the tokenizer as part of a word), so an EXPLAIN whose text
mentions ANALYZE where the tokens show none is left unclassified (refused to restricted tenants).

Complexity (joins, subquery depth) is read from sqlglot's `duckdb` dialect tree, only for tenants
with complexity limits; text sqlglot cannot read has none (refused to those tenants).
"""

from __future__ import annotations

import re

import duckdb
import sqlglot
from sqlglot.errors import SqlglotError

from flight_gateway.engines.base import StatementComplexity
from flight_gateway.kinds import StatementClass
from flight_gateway.policy.sql_tree import complexity

C = StatementClass
DML_TYPES = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE_INTO"})
# DuckDB's statement types (duckdb.StatementType) and what they do. CHECKPOINT is a PRAGMA to the
# parser; `sql.check_statement_text` finds it by name (admin). RELATION, LOGICAL_PLAN, MULTI and
# INVALID never come from SQL text: not understood.
CLASSES: dict[str, StatementClass] = {
    "SELECT": C.QUERY,
    **dict.fromkeys(DML_TYPES, C.DML),
    **dict.fromkeys(("CREATE", "CREATE_FUNC", "DROP", "ALTER"), C.DDL),
    "TRANSACTION": C.TRANSACTION,
    **dict.fromkeys(("PRAGMA", "SET", "VARIABLE_SET"), C.SESSION),
    **dict.fromkeys(("VACUUM", "ANALYZE"), C.ADMIN),  # DuckDB parses ANALYZE as a VACUUM statement
    **dict.fromkeys(("ATTACH", "DETACH", "COPY", "COPY_DATABASE", "EXPORT", "EXTENSION", "LOAD"), C.DATA_MOVEMENT),
    **dict.fromkeys(("CALL", "PREPARE", "EXECUTE"), C.PROCEDURAL),
}
_ANALYZE = frozenset({"ANALYZE", "ANALYSE"})
_MENTIONS_ANALYZE = re.compile(r"analy[sz]e", re.IGNORECASE)


def statement_classes(
    con: duckdb.DuckDBPyConnection, sql: str, statement_type: str
) -> tuple[frozenset[StatementClass], str | None]:
    """What the statement does, and why it could not be classified (None when it could)."""
    if statement_type != "EXPLAIN":
        if statement_type not in CLASSES:
            return frozenset(), f"DuckDB statements of type {statement_type} are not known to the gateway"
        return frozenset({CLASSES[statement_type]}), None
    if not _MENTIONS_ANALYZE.search(sql):
        return frozenset({C.QUERY}), None  # it only plans
    explained = _analyzed_statement(sql)
    if explained is None:
        return frozenset(), "the EXPLAIN mentions ANALYZE where the gateway cannot read it"
    try:
        statements = con.extract_statements(explained)
    except duckdb.Error:
        statements = []
    if len(statements) != 1:
        return frozenset(), "the statement EXPLAIN ANALYZE runs could not be read"
    return statement_classes(con, explained, statements[0].type.name)


def statement_complexity(sql: str) -> StatementComplexity | None:
    """Joins and subquery depth from sqlglot's duckdb tree; None if it cannot read the text."""
    try:
        trees = [tree for tree in sqlglot.parse(sql, read="duckdb") if tree is not None]
    except SqlglotError:
        return None
    return complexity(trees[0]) if len(trees) == 1 else None


def _analyzed_statement(sql: str) -> str | None:
    """The text of the statement an EXPLAIN runs (None if it only plans it), from DuckDB's tokens."""
    offsets = [offset for offset, kind in duckdb.tokenize(sql) if kind != duckdb.token_type.comment]
    texts = [sql[start:end].split("--")[0].split("/*")[0].strip().upper()
             for start, end in zip(offsets, [*offsets[1:], len(sql)], strict=True)]  # fmt: skip
    if not texts or texts[0] != "EXPLAIN":
        return None
    at, analyze = 1, False
    if at < len(texts) and texts[at] == "(":
        depth = 0
        while at < len(texts):
            depth += {"(": 1, ")": -1}.get(texts[at], 0)
            analyze = analyze or texts[at] in _ANALYZE
            at += 1
            if depth == 0:
                break
    while at < len(texts) and texts[at] in (*_ANALYZE, "VERBOSE"):
        analyze = analyze or texts[at] in _ANALYZE
        at += 1
    if not analyze or at >= len(offsets):
        return None
    return sql[offsets[at] :]
