"""The PostgreSQL/Redshift lexer and classifier: every adversarial spelling is seen for what it
does (or refused as unreadable), and valid analytical SQL stays a query."""

from __future__ import annotations

import pyarrow as pa
import pytest
from statement_spellings import QUERIES, REDSHIFT_REFUSED, SPELLINGS, Spelling, nested

from auth import Tenant
from flight_gateway.engines.base import StatementClass, StatementKind, StatementShape
from flight_gateway.engines.pgwire.sql import first_keyword, statement_kind
from flight_gateway.engines.redshift.classes import refuse_session_and_s3_statements
from flight_gateway.errors import GatewayError, Status
from flight_gateway.policy import check_statement
from flight_gateway.policy.pg_classify import classify
from flight_gateway.policy.pg_lexer import LexError, Reading, TokenType, lex

WRITES = {
    "update": "UPDATE shared.notes SET body = 'x'",
    "insert": "InSeRt INTO shared.notes (body) VALUES ('x')",
    "delete": "delete from shared.notes",
}
OTHER = frozenset({"transaction", "session", "admin", "data_movement", "procedural"})
QUERY_AND_OTHER = Tenant(id="qo", allowed_statements=frozenset({"query"}) | OTHER)
EVERYTHING = Tenant(id="all")
SCHEMA = StatementShape(StatementKind.OTHER, pa.schema([]), pa.schema([]), frozenset())
# Transaction control answers as on every engine (no SQL transactions); the rest are refusals.
REDSHIFT_REFUSALS = {
    "STATEMENT_NOT_ALLOWED": Status.PERMISSION_DENIED,
    "STATEMENT_NOT_UNDERSTOOD": Status.PERMISSION_DENIED,
    "NO_TRANSACTIONS": Status.UNIMPLEMENTED,
}


@pytest.mark.parametrize("write", sorted(WRITES))
@pytest.mark.parametrize("spelling", SPELLINGS, ids=[s.id for s in SPELLINGS])
def test_adversarial_spellings_are_seen_for_what_they_do(spelling: Spelling, write: str) -> None:
    classified = classify(spelling.render(WRITES[write]))
    if spelling.expected == "refused":
        assert classified.problem is not None, classified
        return
    assert classified.problem is None, classified
    assert StatementClass(spelling.expected) in classified.classes, classified


def test_there_are_at_least_thirty_spellings_and_every_depth() -> None:
    assert len(SPELLINGS) >= 30 and len(REDSHIFT_REFUSED) >= 30
    for depth in range(1, 6):
        assert classify(f"{nested(depth)} UPDATE t SET a = 1").classes == {StatementClass.DML}
        assert nested(depth).count("/*") == depth


@pytest.mark.parametrize("spelling", SPELLINGS, ids=[s.id for s in SPELLINGS])
def test_a_tenant_allowed_query_and_other_is_refused_every_spelling(spelling: Spelling) -> None:
    classified = classify(spelling.render(WRITES["update"]))
    shape = StatementShape(
        statement_kind("", False, classified), SCHEMA.schema, SCHEMA.schema, classified.classes, classified.problem
    )
    with pytest.raises(GatewayError) as refused:
        check_statement(QUERY_AND_OTHER, shape)
    assert refused.value.status is Status.PERMISSION_DENIED
    assert refused.value.code in ("STATEMENT_NOT_ALLOWED", "STATEMENT_NOT_UNDERSTOOD")
    check_statement(EVERYTHING, shape)  # unrestricted tenants: the database decides


@pytest.mark.parametrize(("name", "sql"), REDSHIFT_REFUSED, ids=[name for name, _ in REDSHIFT_REFUSED])
def test_redshift_refusals_hold_under_every_spelling(name: str, sql: str) -> None:
    with pytest.raises(GatewayError) as refused:
        refuse_session_and_s3_statements(classify(sql))
    assert REDSHIFT_REFUSALS.get(refused.value.code) is refused.value.status, refused.value


@pytest.mark.parametrize("sql", QUERIES)
def test_analytical_queries_stay_queries(sql: str) -> None:
    classified = classify(sql)
    assert classified.problem is None, classified
    assert classified.classes == {StatementClass.QUERY}, classified
    refuse_session_and_s3_statements(classified)  # nothing Redshift refuses
    check_statement(Tenant(id="ro", allowed_statements=frozenset({"query"})), _shape(sql))


def _shape(sql: str) -> StatementShape:
    classified = classify(sql)
    return StatementShape(StatementKind.QUERY, SCHEMA.schema, SCHEMA.schema, classified.classes, classified.problem)


@pytest.mark.parametrize(
    ("sql", "kinds"),
    [
        ("WITH w AS (UPDATE t SET a = 1 RETURNING a) SELECT a FROM w", {"dml", "query"}),
        ("WITH w AS (SELECT 1) INSERT INTO t SELECT * FROM w", {"dml"}),
        ("EXPLAIN ANALYZE DELETE FROM t", {"dml"}),
        ("EXPLAIN (ANALYZE false) DELETE FROM t", {"query"}),
        ("EXPLAIN ANALYZE CREATE TABLE t2 AS SELECT 1", {"ddl"}),
        ("PREPARE p AS SELECT 1", {"procedural"}),
        ("PREPARE p (int) AS UPDATE t SET a = $1", {"procedural", "dml"}),
        ("PREPARE TRANSACTION 'x'", {"transaction"}),
        ("DECLARE c CURSOR WITH HOLD FOR SELECT 1", {"procedural"}),
        ("SELECT 1 AS a INTO t2", {"ddl", "query"}),
        ("COPY t FROM STDIN", {"data_movement", "dml"}),
        ("COPY (SELECT * FROM t) TO STDOUT", {"data_movement"}),
        ("SET search_path TO x", {"session"}),
        ("SHOW search_path", {"session"}),
        ("VACUUM t", {"admin"}),
        ("GRANT SELECT ON t TO u", {"admin"}),
        ("BEGIN", {"transaction"}),
        ("MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE", {"dml"}),
        ("SELECT E'\\'; DELETE FROM t; --' AS s", {"query"}),
        ("SELECT $$ '; DELETE FROM t; $$ AS s", {"query"}),
        ("INSERT INTO t VALUES (1) RETURNING a", {"dml"}),
    ],
)
def test_statement_classes(sql: str, kinds: set[str]) -> None:
    classified = classify(sql)
    assert classified.problem is None, classified
    assert {k.value for k in classified.classes} == kinds


@pytest.mark.parametrize(
    ("sql", "keyword"),
    [
        ("/* a /* b */ c */ UPDATE t SET a = 1", "UPDATE"),
        ("((select 1))", "SELECT"),
        ("-- x\r\nbegin", "BEGIN"),
        ("/*/ */ ValUES (1)", "VALUES"),
    ],
)
def test_first_keyword(sql: str, keyword: str) -> None:
    assert first_keyword(sql) == keyword


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("/* a /* b */ SELECT 1", "comment is not closed"),
        ("SELECT 'a", "string is not closed"),
        ("SELECT E'a\\'", "string is not closed"),
        ('SELECT "a', "identifier is not closed"),
        ("SELECT $x$ a $X$", "dollar-quoted string is not closed"),
        ("SELECT 1 \x00; SET ROLE x", "NUL"),
    ],
)
def test_unreadable_text_is_a_problem(sql: str, problem: str) -> None:
    classified = classify(sql)
    assert not classified.readable
    assert problem in (classified.problem or "")


def test_lexer_tokens_follow_scan_l() -> None:
    tokens = lex("SELECT e'\\''::text, b'1', $1, $t$x$t$, a$b, \"Q\"\"\", 1.5e3, x->>'k' -- c\n/* /* */ */;")
    kinds = [(t.type, t.text) for t in tokens.tokens]
    assert kinds == [
        (TokenType.WORD, "SELECT"), (TokenType.STRING, "e'\\''"), (TokenType.PUNCT, ":"), (TokenType.PUNCT, ":"),
        (TokenType.WORD, "text"), (TokenType.PUNCT, ","), (TokenType.STRING, "b'1'"), (TokenType.PUNCT, ","),
        (TokenType.PARAM, "$1"), (TokenType.PUNCT, ","), (TokenType.STRING, "$t$x$t$"), (TokenType.PUNCT, ","),
        (TokenType.WORD, "a$b"), (TokenType.PUNCT, ","), (TokenType.QUOTED, '"Q"""'), (TokenType.PUNCT, ","),
        (TokenType.NUMBER, "1.5e3"), (TokenType.PUNCT, ","), (TokenType.WORD, "x"), (TokenType.OPERATOR, "->>"),
        (TokenType.STRING, "'k'"), (TokenType.PUNCT, ";"),
    ]  # fmt: skip
    # A backslash in a '' string ends nothing with standard_conforming_strings on, and escapes with it off.
    assert [t.text for t in lex("'a\\' || '\\' || 'b'").tokens] == ["'a\\'", "||", "'\\'", "||", "'b'"]
    with pytest.raises(LexError):  # 'a\' || ' then \ then ' || ' then b' left open
        lex("'a\\' || '\\' || 'b'", Reading(backslash_strings=True))
    # A word is no string prefix unless it is exactly one (scan.l's longest match); comments end operators.
    assert [t.text for t in lex("ex'y' u&\"q\" N'n' 1--c\n+/*/**/*/x").tokens] == [
        "ex",
        "'y'",
        'u&"q"',
        "N'n'",
        "1",
        "+",
        "x",
    ]
    with pytest.raises(LexError):
        lex("/* /* */")


def test_large_statements_classify_quickly_enough() -> None:
    """A 1 MiB statement (the default size limit) is read once per reading, by regular expressions."""
    sql = "SELECT " + ", ".join(f"'v{i}' AS c{i}, /* n /* m */ */ {i}" for i in range(30_000))
    assert len(sql) > 1 << 20
    assert classify(sql).classes == {StatementClass.QUERY}
