"""What a DuckDB statement does, for tenants' allowances, where its result shape does not say it.

DuckDB's own parser names the statement type, and the type decides, not whether rows come back:
`INSERT … RETURNING` returns rows and is DML. `EXPLAIN ANALYZE` runs the statement it explains,
so it is what that statement is; in DuckDB an ANALYZE anywhere in EXPLAIN's options runs it
(measured with duckdb 2.0: `EXPLAIN (ANALYZE false) INSERT …` inserts). DuckDB's Python
tokenizer and its parser disagree on some text (the parser takes U+00A0 as a space, the
tokenizer as part of a word), so an EXPLAIN whose text mentions ANALYZE where the tokens show
none is left unclassified (refused to restricted tenants).
"""

from __future__ import annotations

import re

import duckdb

from flight_gateway.kinds import StatementKind

DML_TYPES = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE_INTO"})
_QUERY_TYPES = frozenset({"SELECT"})
_ANALYZE = frozenset({"ANALYZE", "ANALYSE"})
_MENTIONS_ANALYZE = re.compile(r"analy[sz]e", re.IGNORECASE)


def statement_classes(
    con: duckdb.DuckDBPyConnection, sql: str, statement_type: str
) -> tuple[frozenset[StatementKind], str | None]:
    """The classes when they differ from the statement's result kind (empty: the kind), and why
    the statement could not be classified (None when it could)."""
    if statement_type in DML_TYPES:
        return frozenset({StatementKind.DML}), None
    if statement_type != "EXPLAIN":
        return frozenset(), None
    if not _MENTIONS_ANALYZE.search(sql):
        return frozenset({StatementKind.QUERY}), None  # it only plans
    explained = _analyzed_statement(sql)
    if explained is None:
        return frozenset(), "the EXPLAIN mentions ANALYZE where the gateway cannot read it"
    try:
        statements = con.extract_statements(explained)
    except duckdb.Error:
        statements = []
    if len(statements) != 1:
        return frozenset(), "the statement EXPLAIN ANALYZE runs could not be read"
    inner = statements[0].type.name
    if inner in DML_TYPES:
        return frozenset({StatementKind.DML}), None
    if inner in _QUERY_TYPES:
        return frozenset({StatementKind.QUERY}), None
    return frozenset({StatementKind.DDL}), None  # anything else it runs may write


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
