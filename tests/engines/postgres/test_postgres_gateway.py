"""Queries through ADBC Flight SQL → gateway → PostgreSQL, as the tenant's own database user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi
import adbc_driver_manager
import pyarrow as pa
import pytest
from conftest import RunningGateway
from pg_support import PgDatabase, pg_database, pg_gateway, tenant
from services import PostgresService


@pytest.fixture(scope="module")
def db(postgres: PostgresService) -> Iterator[PgDatabase]:
    with pg_database(postgres, "gw") as database:
        database.sql(
            "create table orders (id int primary key, tenant text not null, amount numeric(10,2))",
            "insert into orders values (1, 'alice', 10.50), (2, 'bob', 20.25), (3, 'alice', null)",
            "create table secret (x int)",
        )
        yield database


@pytest.fixture(scope="module")
def gw(db: PgDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    alice = db.role("gw_alice", grants=["grant select on orders to gw_alice"])
    bob = db.role("gw_bob", grants=["grant select, insert, update, delete on orders to gw_bob"])
    running = pg_gateway(
        tmp_path_factory.mktemp("gw"),
        [db.engine()],
        [tenant("alice", "gw_alice", alice), tenant("bob", "gw_bob", bob)],
    )
    yield running
    running.gateway.shutdown()


def test_query_runs_as_the_tenants_db_user(gw: RunningGateway) -> None:
    with gw.connect("alice") as conn, conn.cursor() as cur:
        cur.execute("select current_user, id, amount from orders order by id")
        rows = cur.fetchall()
    assert [r[0] for r in rows] == ["gw_alice"] * 3
    assert [str(r[2]) if r[2] is not None else None for r in rows] == ["10.50", "20.25", None]


def test_the_database_refuses_what_the_user_may_not_read(gw: RunningGateway) -> None:
    with gw.connect("alice") as conn, conn.cursor() as cur:
        with pytest.raises(adbc_driver_flightsql.dbapi.Error) as info:
            cur.execute("select * from secret")
            cur.fetchall()
    assert "permission denied for table secret" in str(info.value)
    assert info.value.status_code == adbc_driver_manager.AdbcStatusCode.UNAUTHORIZED


def test_parameters_and_updates(gw: RunningGateway, db: PgDatabase, tmp_path: Path) -> None:
    with gw.connect("bob") as conn, conn.cursor() as cur:
        cur.execute("insert into orders values ($1, $2, $3)", (10, "bob", 1))
        assert cur.rowcount == 1
        cur.execute("select tenant from orders where id = $1", (10,))
        assert cur.fetchall() == [("bob",)]
        cur.execute("delete from orders where id >= 10")
        assert cur.fetchall() == [(1,)]


@pytest.mark.parametrize("sql", ["select 1 as one -- a trailing comment", "select 1 as one;  ", "select 1 as one\n;"])
def test_trailing_comment_or_semicolon(gw: RunningGateway, sql: str) -> None:
    with gw.connect("alice") as conn, conn.cursor() as cur:
        cur.execute(sql)
        assert cur.fetchall() == [(1,)]


def test_parameterised_queries_a_cursor_cannot_hold_still_run(gw: RunningGateway) -> None:
    """INSERT … RETURNING and data-modifying WITH with bound values run directly (no cursor)."""
    with gw.connect("bob") as conn, conn.cursor() as cur:
        cur.execute("insert into orders values ($1, 'bob', 5) returning id", (20,))
        assert cur.fetchall() == [(20,)]
        cur.execute("with gone as (delete from orders where id = $1 returning id) select count(*) from gone", (20,))
        assert cur.fetchall() == [(1,)]


def test_question_mark_placeholders(gw: RunningGateway) -> None:
    """JDBC/ODBC-style `?` placeholders work; PostgreSQL's own `?` operators still do too."""
    with gw.connect("bob") as conn, conn.cursor() as cur:
        cur.execute("select id from orders where id = ? and tenant = ? -- a '?' in a comment", (2, "bob"))
        assert cur.fetchall() == [(2,)]
        cur.adbc_prepare("select tenant from orders where id = ?")
        assert len(pa.schema(cur.adbc_statement.get_parameter_schema())) == 1
        cur.execute("select '{\"a\": 1}'::jsonb ? 'a' as has_a, '?' as mark")
        assert cur.fetchall() == [(True, "?")]
        cur.execute("insert into orders values (?, ?, ?)", (30, "bob", 1))
        cur.execute("delete from orders where id = ?", (30,))
        assert cur.fetchall() == [(1,)]
