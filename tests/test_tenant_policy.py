"""Configured tenants: statement classes they may run, and read-only databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import duckdb
import pyarrow as pa
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway

from auth import hash_password


@pytest.fixture(scope="module")
def policy_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    data_dir = tmp_path_factory.mktemp("policy")
    shared = data_dir / "reports.duckdb"
    con = duckdb.connect(str(shared))
    con.execute("create table sales as select range as id, range * 10 as amount from range(5)")
    con.close()
    password_hash = hash_password(PASSWORD)
    running = start_gateway(
        data_dir,
        demo=False,
        tenants=[
            {"id": "reader", "database": str(shared), "read_only": True},
            {"id": "writer", "allowed_statements": ["query", "dml", "ingest"]},
        ],
        users=[
            {"username": "rita", "password_hash": password_hash, "tenant": "reader"},
            {"username": "wade", "password_hash": password_hash, "tenant": "writer"},
        ],
    )
    yield running
    running.gateway.shutdown()


def _connect(gateway: RunningGateway, user: str) -> flight_sql.Connection:
    return flight_sql.connect(gateway.uri, db_kwargs={"username": user, "password": PASSWORD}, autocommit=True)


@pytest.mark.parametrize(
    "sql",
    [
        "create table t (a int)",
        "insert into sales values (9, 90)",
        "delete from sales",
        "drop table sales",
    ],
)
def test_read_only_tenant_can_only_query(policy_gateway: RunningGateway, sql: str) -> None:
    with _connect(policy_gateway, "rita") as conn, conn.cursor() as cur:
        with pytest.raises(flight_sql.Error, match="STATEMENT_NOT_ALLOWED|may not run"):
            cur.execute(sql)
        cur.execute("select count(*), sum(amount) from sales")
        assert cur.fetchall() == [(5, 100)]
        with pytest.raises(flight_sql.Error, match="may not run ingest"):
            cur.adbc_ingest("sales", pa.table({"id": [1], "amount": [1]}), mode="append")


def test_read_only_database_is_opened_read_only(policy_gateway: RunningGateway) -> None:
    """Even a statement the policy lets through cannot write: DuckDB holds the file read-only."""
    with _connect(policy_gateway, "rita") as conn, conn.cursor() as cur:
        cur.execute("select current_setting('access_mode')")
        assert cur.fetchall() == [("read_only",)]


def test_allowed_statement_classes(policy_gateway: RunningGateway) -> None:
    with _connect(policy_gateway, "wade") as conn, conn.cursor() as cur:
        with pytest.raises(flight_sql.Error, match="may not run ddl"):
            cur.execute("create table t (a int)")
        assert cur.adbc_ingest("landed", pa.table({"a": [1, 2]}), mode="create") == 2
        cur.execute("insert into landed values (3)")
        cur.execute("select sum(a) from landed")
        assert cur.fetchall() == [(6,)]


def test_demo_tenants_absent_when_tenants_configured(policy_gateway: RunningGateway) -> None:
    with pytest.raises(flight_sql.Error, match="UNAUTHENTICATED|invalid username"):
        _connect(policy_gateway, "acme").close()


def test_unknown_tenant_in_users_is_a_config_error(tmp_path: Path) -> None:
    from flight_gateway.config import ConfigError

    with pytest.raises(ConfigError, match="unknown tenant"):
        start_gateway(
            tmp_path,
            demo=False,
            tenants=[{"id": "a"}],
            users=[{"username": "u", "password_hash": hash_password("x"), "tenant": "b"}],
        )
