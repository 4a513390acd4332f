"""Statement text rules of the PostgreSQL engine: statement kinds and `?` placeholders."""

from __future__ import annotations

import pytest

from flight_gateway.engines.base import StatementKind
from flight_gateway.engines.pgwire.sql import copyable, question_marks_to_dollars, statement_kind


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select ?", "select $1"),
        (
            "select * from t where a = ? and b = '?' -- ?\n and c = ?",
            "select * from t where a = $1 and b = '?' -- ?\n and c = $2",
        ),
        ("select data ?| array['a'], data ?& array['b'], ?", "select data ?| array['a'], data ?& array['b'], $1"),
        ("select $x$ ? $x$, $$?$$, ?", "select $x$ ? $x$, $$?$$, $1"),
        ("select E'\\' ?', ?", "select E'\\' ?', $1"),
        (
            "select 'it''s ?', \"col?\", ? /* ? /* nested ? */ ? */",
            "select 'it''s ?', \"col?\", $1 /* ? /* nested ? */ ? */",
        ),
        ("select a ?? b, ?", "select a ? b, $1"),
        ("select $1, ?", None),  # already numbered: never rewritten
        ("select '?'", None),
        ("select 1", None),
    ],
)
def test_question_marks_to_dollars(sql: str, expected: str | None) -> None:
    assert question_marks_to_dollars(sql) == expected


@pytest.mark.parametrize(
    ("sql", "returns_rows", "kind"),
    [
        ("select 1", True, StatementKind.QUERY),
        ("insert into t values (1) returning id", True, StatementKind.QUERY),
        ("  -- comment\n/* c */ (insert into t values (1))", False, StatementKind.DML),
        ("with x as (delete from t) select 1", False, StatementKind.DML),
        ("Update t set a = 1", False, StatementKind.DML),
        ("create table t (a int)", False, StatementKind.DDL),
        ("select * into t2 from t", False, StatementKind.DDL),
        ("set search_path to x", False, StatementKind.OTHER),
        ("do $$ begin end $$", False, StatementKind.OTHER),
    ],
)
def test_statement_kind(sql: str, returns_rows: bool, kind: StatementKind) -> None:
    assert statement_kind(sql, returns_rows) is kind


def test_copyable_survives_trailing_comments_and_semicolons() -> None:
    assert copyable("select 1 -- note") == "select 1 -- note\n"
    assert copyable("select 1 ;  \n") == "select 1\n"
