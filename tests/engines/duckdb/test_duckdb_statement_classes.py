"""DuckDB statement classes come from DuckDB's parser and are what the statement does: a write that
returns rows (`INSERT … RETURNING`) or runs under EXPLAIN ANALYZE is DML, through the real gateway
and a real client, for a tenant whose database is writable but who may run only queries and
`other` statements."""

from __future__ import annotations

from collections.abc import Iterator

import adbc_driver_flightsql.dbapi as flight_sql
import duckdb
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from statement_spellings import nested

from auth import hash_password

WRITES = [
    "INSERT INTO notes VALUES (2) RETURNING id",
    "UPDATE notes SET id = 3 RETURNING id",
    "DELETE FROM notes RETURNING id",
    "EXPLAIN ANALYZE INSERT INTO notes VALUES (4)",
    "explain analyse delete from notes",
    "EXPLAIN (ANALYZE) UPDATE notes SET id = 5",
    "EXPLAIN (ANALYZE false) INSERT INTO notes VALUES (6)",  # DuckDB runs it all the same
    "EXPLAIN (FORMAT json, ANALYZE) INSERT INTO notes VALUES (7)",
    "EXPLAIN\u00a0ANALYZE INSERT INTO notes VALUES (8)",  # DuckDB's parser takes U+00A0 as a space
    "/* a /* b */ c */ EXPLAIN /* x */ ANALYZE INSERT INTO notes VALUES (9)",
    *(f"{nested(depth)} INSERT INTO notes VALUES (10)" for depth in range(1, 6)),
    "WITH x AS (SELECT 11 AS id) INSERT INTO notes SELECT id FROM x RETURNING id",
    "(/* c */ SELECT 1); INSERT INTO notes VALUES (12)",
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    data_dir = tmp_path_factory.mktemp("duckdb-classes")
    database = data_dir / "qo.duckdb"
    con = duckdb.connect(str(database))
    con.execute("create table notes (id int)")
    con.execute("insert into notes values (1)")
    con.close()
    running = start_gateway(
        data_dir,
        demo=False,
        tenants=[{"id": "qo", "database": str(database), "allowed_statements": ["query", "other"]}],
        users=[{"username": "qo", "password_hash": hash_password(PASSWORD), "tenant": "qo"}],
    )
    yield running
    running.gateway.shutdown()


@pytest.mark.parametrize("sql", WRITES)
def test_writes_are_refused_however_they_return(gateway: RunningGateway, sql: str) -> None:
    with gateway.connect("qo") as conn, conn.cursor() as cur:
        with pytest.raises(flight_sql.Error) as refused:  # reading is part of running a query
            cur.execute(sql)
            cur.fetchall()
        text = str(refused.value)
        assert any(f"error_code={c}" in text for c in ("STATEMENT_NOT_ALLOWED", "STATEMENT_NOT_UNDERSTOOD",
                                                        "MULTIPLE_STATEMENTS")), text  # fmt: skip
        cur.execute("SELECT id FROM notes ORDER BY id")
        assert cur.fetchall() == [(1,)]


@pytest.mark.parametrize(
    "sql", ["EXPLAIN SELECT * FROM notes", "EXPLAIN ANALYZE SELECT * FROM notes", "SELECT 'analyze' AS a"]
)
def test_reads_still_run(gateway: RunningGateway, sql: str) -> None:
    with gateway.connect("qo") as conn, conn.cursor() as cur:
        cur.execute(sql)
        assert cur.fetchall()
