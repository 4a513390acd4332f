"""Through the gateway, each tenant reads exactly its own rows and columns: plain queries,
aggregates, views, prepared statements with bound parameters, and the errors it gets otherwise.

Parameters are written `$1` (PostgreSQL's and Redshift's own placeholder): the SQL reaches the
database as the client wrote it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from isolation.conftest import IsolatedGateway
from isolation.gateway_client import assert_clean, failure, is_permission_denied, rows
from isolation.isolation_db import ACME_ROWS, ACME_TOTAL, GLOBEX_ROWS, GLOBEX_TOTAL, VISIBLE_ORDER_COLUMNS

OWN = {"acme": (ACME_ROWS, ACME_TOTAL), "globex": (GLOBEX_ROWS, GLOBEX_TOTAL)}
OTHER = {"acme": "globex", "globex": "acme"}
TENANTS = ["acme", "globex"]


@pytest.mark.parametrize("tenant", TENANTS)
def test_logged_in_as_the_tenants_own_database_user(iso: IsolatedGateway, tenant: str) -> None:
    with iso.connect(tenant) as conn:
        login = iso.login(tenant)
        assert rows(conn, "SELECT session_user, current_user") == [(login, login)]


@pytest.mark.parametrize("tenant", TENANTS)
def test_plain_queries_see_only_own_rows(iso: IsolatedGateway, tenant: str) -> None:
    count, total = OWN[tenant]
    with iso.connect(tenant) as conn:
        listed = rows(conn, "SELECT id, tenant, customer_id, amount FROM shared.orders ORDER BY id")
        assert len(listed) == count
        assert {row[1] for row in listed} == {tenant}
        [(counted, summed)] = rows(conn, "SELECT count(*), sum(amount) FROM shared.orders")
        assert (counted, Decimal(str(summed))) == (count, total)
        assert rows(conn, "SELECT DISTINCT tenant FROM shared.orders") == [(tenant,)]
        assert rows(conn, f"SELECT count(*) FROM shared.orders WHERE tenant = '{OTHER[tenant]}'") == [(0,)]
        [(name, orders, summed)] = rows(conn, "SELECT tenant, orders, total FROM shared.order_totals")
        assert (name, orders, Decimal(str(summed))) == (tenant, count, total)
        assert rows(conn, "SELECT count(*) FROM shared.customers") == [(1,)]
        assert rows(conn, "SELECT body FROM shared.notes") == [(f"{tenant} note",)]


@pytest.mark.parametrize("tenant", TENANTS)
def test_a_security_definer_function_does_not_widen_the_rows(iso: IsolatedGateway, tenant: str) -> None:
    with iso.connect(tenant) as conn:
        assert rows(conn, "SELECT shared.secret_notes_as_owner()") == [(None,)]


@pytest.mark.parametrize("tenant", TENANTS)
def test_result_columns_are_the_granted_ones(iso: IsolatedGateway, tenant: str) -> None:
    with iso.connect(tenant) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, tenant, customer_id, amount FROM shared.orders")
        assert [column[0] for column in cur.description] == VISIBLE_ORDER_COLUMNS
        cur.fetchall()


@pytest.mark.parametrize("tenant", TENANTS)
@pytest.mark.parametrize(
    "sql",
    ["SELECT * FROM shared.orders", "SELECT secret_note FROM shared.orders", "SELECT o.* FROM shared.orders o",
     "SELECT count(secret_note) FROM shared.orders", "SELECT id FROM shared.orders ORDER BY secret_note",
     "SELECT * FROM shared.audit_log"],
)  # fmt: skip
def test_hidden_columns_and_tables_are_refused(iso: IsolatedGateway, tenant: str, sql: str) -> None:
    with iso.connect(tenant) as conn:
        error = failure(conn, sql)
        assert is_permission_denied(error), str(error)
        assert_clean(error, "secret", iso.login(OTHER[tenant]))


@pytest.mark.parametrize("tenant", TENANTS)
def test_prepared_statements_bind_into_own_rows_only(iso: IsolatedGateway, tenant: str) -> None:
    count, _ = OWN[tenant]
    other_ids = {"acme": 101, "globex": 1}
    with iso.connect(tenant) as conn:
        by_tenant = "SELECT count(*) FROM shared.orders WHERE tenant = $1"
        assert rows(conn, by_tenant, [tenant]) == [(count,)]
        assert rows(conn, by_tenant, [OTHER[tenant]]) == [(0,)]
        assert rows(conn, "SELECT id, amount FROM shared.orders WHERE id = $1", [other_ids[tenant]]) == []
        assert rows(conn, "SELECT count(*) FROM shared.orders WHERE id >= $1", [0]) == [(count,)]
        assert rows(conn, "SELECT body FROM shared.notes WHERE db_user = $1", [iso.login(OTHER[tenant])]) == []


def test_prepared_statement_executed_many_times_stays_in_own_rows(iso: IsolatedGateway) -> None:
    with iso.connect("acme") as conn, conn.cursor() as cur:
        for ident in (1, 2, 101, 102):
            cur.execute("SELECT tenant FROM shared.orders WHERE id = $1", [ident])
            assert cur.fetchall() == ([("acme",)] if ident < 100 else [])


def test_foreign_private_schema_error_says_no_more_than_postgresql(iso: IsolatedGateway) -> None:
    with iso.connect("globex") as conn:
        error = failure(conn, "SELECT * FROM acme_private.plans")
        # PostgreSQL itself says the schema exists and is not granted; that much, and nothing of its content.
        assert is_permission_denied(error), str(error)
        assert "acme_private" in str(error)
        assert_clean(error, "plans_pkey", "gold", iso.login("acme"))
        missing = failure(conn, "SELECT * FROM shared.no_such_table")
        assert not is_permission_denied(missing)
        assert "does not exist" in str(missing)
        assert_clean(missing)


def test_acme_reads_its_private_schema(iso: IsolatedGateway) -> None:
    with iso.connect("acme") as conn:
        assert rows(conn, "SELECT plan FROM acme_private.plans") == [("acme gold plan",)]


@pytest.mark.parametrize("tenant", TENANTS)
def test_writes_stay_within_own_rows(iso: IsolatedGateway, tenant: str) -> None:
    other_login = iso.login(OTHER[tenant])
    with iso.connect(tenant) as conn:
        planted = failure(conn, "INSERT INTO shared.notes (db_user, body) VALUES ($1, 'planted')", [other_login])
        assert is_permission_denied(planted), str(planted)
        assert rows(conn, "UPDATE shared.notes SET body = 'defaced' WHERE db_user = $1", [other_login]) in ([], [(0,)])
        assert rows(conn, "DELETE FROM shared.notes WHERE db_user = $1", [other_login]) in ([], [(0,)])
    with iso.direct(OTHER[tenant]) as other:
        assert other.execute("SELECT body FROM shared.notes").fetchall() == [(f"{OTHER[tenant]} note",)]
