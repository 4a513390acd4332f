"""The corpora through the real gateway and ADBC on DuckDB: every valid analytical statement is
accepted for a read-only tenant, every refused one is refused by the policy and changes nothing;
complexity limits refuse with COMPLEXITY_LIMIT naming the limit and the count."""

from __future__ import annotations

from collections.abc import Iterator

import adbc_driver_flightsql.dbapi as flight_sql
import duckdb
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from corpus import refused, schema_statements, valid
from corpus_gateway import listed, not_accepted, not_refused, prepare_each, snapshot

from auth import hash_password

TENANTS = ("ro", "limited")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    data_dir = tmp_path_factory.mktemp("corpus-duckdb")
    database = data_dir / "tpch.duckdb"
    con = duckdb.connect(str(database))
    for statement in schema_statements():
        con.execute(statement)
    con.close()
    running = start_gateway(
        data_dir,
        demo=False,
        tenants=[
            {"id": "ro", "database": str(database), "read_only": True},
            {
                "id": "limited",
                "database": str(database),
                "read_only": True,
                "limits": {"max_joins": 2, "max_subquery_depth": 1},
            },
        ],  # fmt: skip
        users=[{"username": t, "password_hash": hash_password(PASSWORD), "tenant": t} for t in TENANTS],
    )
    yield running
    running.gateway.shutdown()


def test_valid_corpus_is_accepted_for_a_read_only_tenant(gateway: RunningGateway) -> None:
    with gateway.connect("ro") as conn:
        failures = not_accepted(prepare_each(conn, valid("duckdb")))
        assert not failures, listed(failures)


def test_refused_corpus_is_refused_and_changes_nothing(gateway: RunningGateway) -> None:
    with gateway.connect("ro") as conn:
        before = snapshot(conn)
        failures = not_refused(prepare_each(conn, refused("duckdb")))
        assert not failures, listed(failures)
        assert snapshot(conn) == before


@pytest.mark.parametrize(
    ("sql", "limit", "count"),
    [
        ("select 1 from region a join nation b on true join nation c on true join nation d on true",
         "max_joins = 2", "3 joins"),
        ("select * from (select * from (select 1 as x) a) b", "max_subquery_depth = 1", "2 levels"),
    ],
)  # fmt: skip
def test_complexity_limits_refuse_with_the_count(gateway: RunningGateway, sql: str, limit: str, count: str) -> None:
    with gateway.connect("limited") as conn, conn.cursor() as cur:
        cur.adbc_prepare("select * from nation a join region b on n_regionkey = r_regionkey")  # within them
        with pytest.raises(flight_sql.Error) as refused_error:
            cur.adbc_prepare(sql)
        text = str(refused_error.value)
        assert "error_code=COMPLEXITY_LIMIT" in text and limit in text and count in text, text
