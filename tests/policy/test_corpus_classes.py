"""Both corpora through the classifiers alone (no database): every valid statement is a plain
query for each dialect, every refused one is not. The gateway tests (test_corpus_*_gateway.py) run
the same corpora through real clients; this one says which reading went wrong when they fail."""

from __future__ import annotations

import statistics
import time

import duckdb
import pytest
from corpus import ENGINES, refused, schema_statements, valid

from flight_gateway.engines.duckdb.classes import statement_classes
from flight_gateway.kinds import StatementClass
from flight_gateway.policy.pg_classify import classify
from flight_gateway.policy.pg_statements import read_statement

DIALECTS = {"postgres": "postgres", "redshift": "redshift"}
QUERY = frozenset({StatementClass.QUERY})


@pytest.fixture(scope="module")
def duck() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for statement in schema_statements():
        con.execute(statement)
    return con


def _duckdb_classes(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[frozenset[StatementClass], str | None]:
    statements = con.extract_statements(sql)
    assert len(statements) == 1, sql
    return statement_classes(con, sql, statements[0].type.name)


def test_the_corpora_are_big_enough() -> None:
    for engine in ENGINES:
        assert len(valid(engine)) >= 200, engine
        assert len(refused(engine)) >= 100, engine
    tpch = {e.id for e in valid("postgres") if e.id.startswith("tpch-q") and e.id.count("-") == 1}
    assert len(tpch) == 22


@pytest.mark.parametrize("engine", ["postgres", "redshift"])
def test_valid_statements_are_queries(engine: str) -> None:
    wrong = {}
    for entry in valid(engine):
        classified = read_statement(entry.sql, DIALECTS[engine])
        if classified.problem is not None or classified.classes != QUERY:
            wrong[entry.id] = (classified.problem, sorted(c.value for c in classified.classes))
    assert not wrong, wrong


def test_valid_statements_are_queries_for_duckdb(duck: duckdb.DuckDBPyConnection) -> None:
    wrong = {}
    for entry in valid("duckdb"):
        classes, problem = _duckdb_classes(duck, entry.sql)
        if problem is not None or classes != QUERY:
            wrong[entry.id] = (problem, sorted(c.value for c in classes))
    assert not wrong, wrong


@pytest.mark.parametrize("engine", ["postgres", "redshift"])
def test_refused_statements_are_not_plain_queries(engine: str) -> None:
    passed = [e.id for e in refused(engine) if read_statement(e.sql, DIALECTS[engine]).classes == QUERY]
    assert not passed, passed


def test_classification_cost_is_measured() -> None:
    """Prints (does not assert) the p50 of classifying the TPC-H queries: the parse-tree path
    (lexer guard + sqlglot) beside the lexer alone."""
    tpch = [e.sql for e in valid("postgres") if e.id.startswith("tpch-q") and e.id.count("-") == 1]
    for name, run in (("lexer only", classify), ("lexer + sqlglot", lambda s: read_statement(s, "postgres"))):
        samples = []
        for _ in range(5):
            for sql in tpch:
                start = time.perf_counter()
                run(sql)
                samples.append(time.perf_counter() - start)
        print(f"classification p50, {name}: {statistics.median(samples) * 1e3:.3f} ms")
