"""What the parse tree adds to the lexer's reading, and the complexity limits counted on it."""

from __future__ import annotations

import pyarrow as pa
import pytest

from auth import Tenant
from auth.model import TenantLimits
from flight_gateway.engines.base import StatementComplexity, StatementKind, StatementShape
from flight_gateway.errors import GatewayError
from flight_gateway.kinds import StatementClass
from flight_gateway.policy import check_complexity
from flight_gateway.policy.pg_statements import read_statement


@pytest.mark.parametrize(
    ("sql", "classes"),
    [
        ("SELECT * FROM t FOR UPDATE", {"query", "dml"}),
        ("SELECT * FROM t FOR SHARE OF t NOWAIT", {"query", "dml"}),
        ("SELECT * FROM (SELECT * FROM t FOR UPDATE) s", {"query", "dml"}),
        ("EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE", {"query", "dml"}),
        ("PREPARE p AS SELECT * FROM t FOR UPDATE", {"procedural", "dml"}),
        ("SELECT 1 INTO TEMP t2", {"query", "ddl"}),
        ("CREATE TABLE t2 AS SELECT * FROM t", {"ddl"}),
        ("SELECT pg_read_file('/etc/passwd')", {"query", "data_movement"}),
        ("SELECT * FROM dblink('dbname=x', 'DELETE FROM t') AS r(x text)", {"query", "data_movement"}),
        ("SELECT set_config('role', 'x', false)", {"query", "session"}),
        ("SELECT pg_terminate_backend(1)", {"query", "admin"}),
        ("SELECT nextval('s')", {"query"}),  # a write the database refuses to read-only sessions
        ("INSERT INTO t SELECT * FROM s", {"dml"}),
        ("WITH w AS (DELETE FROM t RETURNING *) SELECT * FROM w", {"query", "dml"}),
    ],
)
@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
def test_the_tree_sees_what_the_statement_does(sql: str, classes: set[str], dialect: str) -> None:
    classified = read_statement(sql, dialect)
    assert classified.problem is None, classified
    assert {c.value for c in classified.classes} == classes


@pytest.mark.parametrize(
    "sql",
    ["SELEC 1", "SELECT 1 FROM", "SELECT (1", "SELECT 1; SELECT 2", "DO $$ BEGIN END $$", "CALL p()",
     "EXECUTE p", "EXPLAIN ANALYZE SELEC 1", "frobnicate t"],
)  # fmt: skip
def test_what_cannot_be_read_is_not_understood(sql: str) -> None:
    classified = read_statement(sql, "postgres")
    assert classified.problem is not None and not classified.classes, classified


@pytest.mark.parametrize(
    ("sql", "joins", "depth"),
    [
        ("SELECT 1", 0, 0),
        ("SELECT * FROM a, b, c", 2, 0),
        ("SELECT * FROM a JOIN b ON true LEFT JOIN c USING (x) CROSS JOIN d", 3, 0),
        ("SELECT * FROM (SELECT * FROM (SELECT 1) x) y", 0, 2),
        ("SELECT * FROM a WHERE x IN (SELECT y FROM b WHERE EXISTS (SELECT 1 FROM c))", 0, 2),
        ("WITH w AS (SELECT * FROM a JOIN b ON true) SELECT * FROM w", 1, 1),
        ("SELECT 1 UNION SELECT 2", 0, 0),
    ],
)
def test_complexity_is_counted_on_the_tree(sql: str, joins: int, depth: int) -> None:
    assert read_statement(sql, "postgres").complexity == StatementComplexity(joins, depth)


def _shape(complexity: StatementComplexity | None) -> StatementShape:
    empty = pa.schema([])
    return StatementShape(StatementKind.QUERY, empty, empty, frozenset({StatementClass.QUERY}), None, complexity)


def test_complexity_limits_name_the_limit_and_the_count() -> None:
    limited = Tenant(id="lim", limits=TenantLimits(max_joins=2, max_subquery_depth=1))
    check_complexity(limited, _shape(StatementComplexity(2, 1)))  # at the limits
    with pytest.raises(GatewayError) as joins:
        check_complexity(limited, _shape(StatementComplexity(3, 0)))
    assert (
        joins.value.code == "COMPLEXITY_LIMIT" and "3 joins" in str(joins.value) and "max_joins = 2" in str(joins.value)
    )
    with pytest.raises(GatewayError) as depth:
        check_complexity(limited, _shape(StatementComplexity(0, 2)))
    assert "max_subquery_depth = 1" in str(depth.value)
    with pytest.raises(GatewayError) as unread:  # fail closed: no tree, no count
        check_complexity(limited, _shape(None))
    assert unread.value.code == "STATEMENT_NOT_UNDERSTOOD"
    check_complexity(Tenant(id="free"), _shape(None))  # no limits: nothing to count
