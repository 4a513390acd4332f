"""What a PostgreSQL or Redshift statement does: sqlglot's parse tree in the server's dialect, under
the lexer's guard.

The guard (`pg_classify`) reads the text as the server does, under every reading a server setting
or version allows; text it cannot read unambiguously, several statements, and what runs unseen (DO,
CALL, EXECUTE) are not understood whatever the parser says. Utility statements are what their first
keyword says (`pg_keywords`). Everything that may hold or run other statements (SELECT, VALUES,
TABLE, WITH, INSERT, UPDATE, DELETE, MERGE, CREATE … AS) is parsed by sqlglot and every node of the
tree counts (`sql_tree`); the statement an EXPLAIN ANALYZE, PREPARE or DECLARE holds is read the same
way. The classes are the union of both readings, so either seeing a write makes it one; text the
parser cannot read is not understood (restricted tenants are refused it, the others' go to the
database).
"""

from __future__ import annotations

import logging
from dataclasses import replace

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from flight_gateway.bounded_cache import ByteBoundedLru, text_bytes
from flight_gateway.kinds import StatementClass
from flight_gateway.policy.pg_classify import Classified, classify
from flight_gateway.policy.pg_keywords import TREE_KEYWORDS
from flight_gateway.policy.pg_lexer import Token, TokenType, lex
from flight_gateway.policy.sql_tree import complexity, tree_classes

# sqlglot warns with the statement's text when it keeps a statement as a Command; the gateway logs
# no SQL text (the Command is refused as not understood, with its own message, instead).
logging.getLogger("sqlglot").setLevel(logging.ERROR)
_PLAIN = (TokenType.WORD, TokenType.QUOTED, TokenType.NUMBER, TokenType.STRING)
# Readings by (text, dialect). sqlglot takes milliseconds for an analytical query (≈4 ms for a
# TPC-H query, seconds for a statement near max_statement_bytes) while dashboards and prepared
# statements send the same text again and again; a reading depends on nothing but the text.
# Bounded by bytes: a statement may be as large as max_statement_bytes.
READING_CACHE_BYTES = 16 << 20
_READING_BYTES = 2_000  # a Classified with its keyword tuple and class set, roughly
_readings: ByteBoundedLru[tuple[str, str], Classified] = ByteBoundedLru(
    READING_CACHE_BYTES, lambda key, _: text_bytes(key[0]) + _READING_BYTES
)


def read_statement(sql: str, dialect: str) -> Classified:
    """`sql` classified for `dialect` ("postgres" or "redshift"); `problem` set when it is not understood."""
    reading = _readings.get((sql, dialect))
    if reading is None:
        reading = _read_statement(sql, dialect)
        _readings.put((sql, dialect), reading)
    return reading


def _read_statement(sql: str, dialect: str) -> Classified:
    guard = classify(sql)
    if guard.problem is not None:
        return guard
    if guard.inner is not None:  # EXPLAIN ANALYZE, PREPARE, DECLARE: what they hold runs (or will)
        held = _read_statement(sql[guard.inner :], dialect)
        if held.problem is not None:
            return replace(guard, classes=frozenset(), problem=held.problem, readable=held.readable)
        added = held.classes - {StatementClass.QUERY}
        return replace(guard, classes=guard.classes | added, complexity=held.complexity)
    if guard.keyword not in TREE_KEYWORDS:
        return guard  # a utility statement: its first keyword decides (PostgreSQL's grammar does)
    try:
        trees = _parse(sql, dialect)
    except SqlglotError as exc:
        return _not_understood(guard, f"the gateway's {dialect} SQL parser cannot read it: {_reason(exc)}")
    if len(trees) != 1:
        return _not_understood(guard, f"the gateway's {dialect} SQL parser reads {len(trees)} statements in it")
    reading = tree_classes(trees[0])
    if reading.problem is not None:
        return _not_understood(guard, reading.problem)
    return replace(guard, classes=guard.classes | reading.classes, complexity=complexity(trees[0]))


def _parse(sql: str, dialect: str) -> list[exp.Expr]:
    """sqlglot's trees. Redshift text sqlglot's redshift dialect cannot read is read as PostgreSQL
    (Redshift's grammar is PostgreSQL's, extended: multi-row VALUES, say, is in the one and not the
    other's sqlglot dialect). A recursive CTE's SEARCH and CYCLE clauses (PostgreSQL 14), which
    sqlglot does not know, are left out when it fails on them: they order and mark rows, nothing more."""
    dialects = (dialect, "postgres") if dialect == "redshift" else (dialect,)
    first: ParseError | None = None
    for trim in (False, True):
        text = _without_search_cycle(sql) if trim else sql
        if trim and text == sql:
            break
        for read in dialects:
            try:
                return [tree for tree in sqlglot.parse(text, read=read) if tree is not None]
            except ParseError as exc:
                first = first or exc
    assert first is not None  # noqa: S101 - every way of reading it failed, the first said why
    raise first


def _without_search_cycle(sql: str) -> str:
    """`sql` with each `) SEARCH {DEPTH|BREADTH} FIRST BY … SET col` and `CYCLE … USING col` blanked
    out, when the clause holds only names, commas and literals (so nothing that runs is hidden)."""
    tokens = lex(sql).tokens
    out, at, clause_end = sql, 1, -1
    while at < len(tokens):
        word = tokens[at].keyword
        opens = tokens[at - 1].text == ")" or at == clause_end  # after a CTE's body, or SEARCH's clause
        starts = word == "CYCLE" or (word == "SEARCH" and _word(tokens, at + 1) in ("DEPTH", "BREADTH"))
        if not (opens and starts):
            at += 1
            continue
        stop = "SET" if word == "SEARCH" else "USING"
        end = at + 1
        while end < len(tokens) and tokens[end].keyword != stop and _plain(tokens[end]):
            end += 1
        if end + 1 >= len(tokens) or tokens[end].keyword != stop or not _plain(tokens[end + 1]):
            return sql  # not the clause: leave it to the parser (and its refusal)
        start, finish = tokens[at].at, tokens[end + 2].at if end + 2 < len(tokens) else len(sql)
        out = out[:start] + " " * (finish - start) + out[finish:]
        at = clause_end = end + 2
    return out


def _word(tokens: list[Token], at: int) -> str:
    return tokens[at].keyword if at < len(tokens) else ""


def _plain(token: Token) -> bool:
    """A name, literal, comma or dot: nothing that can hold a statement."""
    return token.type in _PLAIN or (token.type is TokenType.PUNCT and token.text in (",", "."))


def _not_understood(guard: Classified, problem: str) -> Classified:
    return replace(guard, classes=frozenset(), problem=problem)


def _reason(exc: SqlglotError) -> str:
    """The parser's complaint without the statement's text (which it quotes, with terminal colours)."""
    if isinstance(exc, ParseError) and exc.errors:
        first = exc.errors[0]
        return f"{first.get('description') or 'syntax error'} at line {first.get('line')}, column {first.get('col')}"
    return type(exc).__name__
