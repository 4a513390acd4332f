"""The isolation database proves itself: straight psycopg logins as each tenant, no gateway.

If these fail, the gateway tests would prove nothing: the database, not the gateway, is what
keeps tenants apart.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from services import PostgresService

from isolation.attempts import ATTEMPTS, Attempt
from isolation.isolation_db import ACME_ROWS, GLOBEX_ROWS, IsolationDatabase, database_dsn, tenant_dsn

OWN_ROWS = {"acme": ACME_ROWS, "globex": GLOBEX_ROWS}


def _login(postgres: PostgresService, names: IsolationDatabase, tenant: str) -> psycopg.Connection:
    return psycopg.connect(tenant_dsn(postgres.superuser_dsn, names, tenant), autocommit=True)


@pytest.fixture
def bystanders(postgres: PostgresService, isolation_db: IsolationDatabase) -> Iterator[dict[str, psycopg.Connection]]:
    """Both tenants connected while one tries things: live targets for cross-tenant attempts."""
    with _login(postgres, isolation_db, "acme") as acme, _login(postgres, isolation_db, "globex") as globex:
        yield {"acme": acme, "globex": globex}


def assert_still_itself(conn: psycopg.Connection, names: IsolationDatabase, tenant: str) -> None:
    login = names.login(tenant).db_user
    assert conn.execute("SELECT session_user, current_user").fetchone() == (login, login)
    tenants = conn.execute("SELECT DISTINCT tenant FROM shared.orders").fetchall()
    assert tenants == [(tenant,)]
    assert conn.execute("SELECT count(*) FROM shared.orders").fetchone() == (OWN_ROWS[tenant],)
    assert conn.execute("SELECT body FROM shared.notes").fetchall() == [(f"{tenant} note",)]


@pytest.mark.parametrize("tenant", ["acme", "globex"])
def test_logins_are_plain_roles(postgres: PostgresService, isolation_db: IsolationDatabase, tenant: str) -> None:
    with psycopg.connect(postgres.superuser_dsn) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolinherit,"
            " (SELECT count(*) FROM pg_auth_members WHERE member = r.oid) FROM pg_roles r WHERE rolname = %s",
            [isolation_db.login(tenant).db_user],
        ).fetchone()
    assert row == (False, False, False, False, True, 0)


@pytest.mark.parametrize("tenant", ["acme", "globex"])
def test_each_login_sees_only_its_rows(postgres: PostgresService, isolation_db: IsolationDatabase, tenant: str) -> None:
    with _login(postgres, isolation_db, tenant) as conn:
        assert_still_itself(conn, isolation_db, tenant)
        assert conn.execute("SELECT tenant, orders FROM shared.order_totals").fetchall() == [(tenant, OWN_ROWS[tenant])]
        assert len(conn.execute("SELECT * FROM shared.customers").fetchall()) == 1
        assert conn.execute("SELECT shared.secret_notes_as_owner()").fetchone() == (None,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM shared.orders")


def test_the_owner_is_bound_by_the_policy_too(postgres: PostgresService, isolation_db: IsolationDatabase) -> None:
    with psycopg.connect(database_dsn(postgres.superuser_dsn, isolation_db.database)) as conn:
        conn.execute(f"SET ROLE {isolation_db.owner}")
        assert conn.execute("SELECT count(*) FROM shared.orders").fetchone() == (0,)  # FORCE ROW LEVEL SECURITY


def test_private_schema_is_acme_only(postgres: PostgresService, isolation_db: IsolationDatabase) -> None:
    with _login(postgres, isolation_db, "acme") as conn:
        assert conn.execute("SELECT plan FROM acme_private.plans").fetchall() == [("acme gold plan",)]
    with _login(postgres, isolation_db, "globex") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="schema acme_private"):
            conn.execute("SELECT * FROM acme_private.plans")
        conn.execute("SET search_path TO acme_private")
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT * FROM plans")


@pytest.mark.parametrize("tenant", ["acme", "globex"])
def test_information_schema_hides_what_a_tenant_may_not_read(
    postgres: PostgresService, isolation_db: IsolationDatabase, tenant: str
) -> None:
    with _login(postgres, isolation_db, tenant) as conn:
        tables = conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
        ).fetchall()
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = 'shared' AND table_name = 'orders' ORDER BY ordinal_position"
        ).fetchall()
    expected = ["shared.customers", "shared.notes", "shared.order_totals", "shared.orders"]
    if tenant == "acme":
        expected.insert(0, "acme_private.plans")
    assert [t for (t,) in tables] == expected
    assert [c for (c,) in columns] == ["id", "tenant", "customer_id", "amount"]


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=[a.id for a in ATTEMPTS])
def test_escape_attempt_fails_or_changes_nothing(
    postgres: PostgresService,
    isolation_db: IsolationDatabase,
    bystanders: dict[str, psycopg.Connection],
    attempt: Attempt,
) -> None:
    tenant = attempt.tenant
    with _login(postgres, isolation_db, tenant) as conn:
        if attempt.sqlstate is None:
            conn.execute(attempt.render(isolation_db))
        else:
            with pytest.raises(psycopg.Error) as caught:
                conn.execute(attempt.render(isolation_db))
            assert caught.value.sqlstate == attempt.sqlstate
            assert "globex note" not in f"{caught.value} {caught.value.diag.message_detail}"
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                conn.execute("ROLLBACK")
        assert_still_itself(conn, isolation_db, tenant)
    for other, conn in bystanders.items():
        assert_still_itself(conn, isolation_db, other)
