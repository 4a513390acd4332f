"""Escape attempts through the gateway: each fails, or succeeds and changes nothing.

acme and globex may run every statement class, so what refuses them is the database; pools hold
one connection per tenant, so anything an attempt left on its database session would show in the
tenant's next request. Both tenants also hold direct sessions while the attempts run: live targets
for cross-tenant attempts (terminate, cancel), and witnesses that their rows are untouched.
"""

from __future__ import annotations

from collections.abc import Iterator

import adbc_driver_flightsql.dbapi as flight_sql
import psycopg
import pyarrow as pa
import pytest

from isolation.attempts import ATTEMPTS, DENIED, Attempt
from isolation.conftest import IsolatedGateway
from isolation.gateway_client import assert_clean, failure, is_permission_denied, rows
from isolation.isolation_db import ACME_ROWS, GLOBEX_ROWS

OWN_ROWS = {"acme": ACME_ROWS, "globex": GLOBEX_ROWS}
SESSION_STATE = (
    "SELECT current_setting('search_path'), current_setting('row_security'), current_setting('application_name'),"
    " current_setting('statement_timeout'), current_setting('default_transaction_read_only'), current_user"
)


NOTE_IDS = {"acme": 1, "globex": 2}


@pytest.fixture
def witnesses(iso: IsolatedGateway) -> Iterator[dict[str, psycopg.Connection]]:
    with iso.direct("acme") as acme, iso.direct("globex") as globex:
        yield {"acme": acme, "globex": globex}
        # A write that got through is this test's failure, not the next one's.
        for tenant, conn in {"acme": acme, "globex": globex}.items():
            conn.execute("DELETE FROM shared.notes WHERE id <> %s", [NOTE_IDS[tenant]])
            conn.execute(
                "INSERT INTO shared.notes (id, body) VALUES (%s, %s)"
                " ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                [NOTE_IDS[tenant], f"{tenant} note"],
            )


def assert_still_itself(iso: IsolatedGateway, tenant: str) -> None:
    """A fresh request of `tenant` (on the same pooled session) is still the tenant, with its own rows."""
    login = iso.login(tenant)
    with iso.connect(tenant) as conn:
        assert rows(conn, "SELECT session_user, current_user") == [(login, login)]
        assert rows(conn, "SELECT DISTINCT tenant FROM shared.orders") == [(tenant.removesuffix("_ro"),)]
        assert rows(conn, "SELECT count(*) FROM shared.orders") == [(OWN_ROWS[tenant.removesuffix("_ro")],)]


def assert_witnesses_untouched(witnesses: dict[str, psycopg.Connection]) -> None:
    for tenant, conn in witnesses.items():
        assert conn.execute("SELECT body FROM shared.notes").fetchall() == [(f"{tenant} note",)]
        assert conn.execute("SELECT count(*) FROM shared.orders").fetchone() == (OWN_ROWS[tenant],)


def direct_answer(iso: IsolatedGateway, tenant: str, sql: str) -> str | None:
    """What the database itself answers the tenant's login: the SQLSTATE, or None if it runs.

    The oracle for the gateway's answer: behind the Redshift simulator the database is not the
    PostgreSQL of `ATTEMPTS` (no COPY TO STDOUT there, for one)."""
    with iso.direct(tenant) as conn:
        try:
            conn.execute(sql)
        except psycopg.Error as exc:
            return exc.sqlstate or "?"
        return None


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=[a.id for a in ATTEMPTS])
def test_escape_attempt_fails_or_changes_nothing(
    iso: IsolatedGateway, witnesses: dict[str, psycopg.Connection], attempt: Attempt
) -> None:
    sql = attempt.render(iso.names)
    database_says = attempt.sqlstate if iso.engine == "postgres" else direct_answer(iso, attempt.tenant, sql)
    with iso.connect(attempt.tenant) as conn:
        if database_says is None or attempt.multi:
            try:
                rows(conn, sql)
            except flight_sql.Error as error:
                assert_clean(error)
        else:
            error = failure(conn, sql)
            assert_clean(error, "globex note", "(2)", *(() if "secret" in sql else ("secret",)))
            if database_says == DENIED:
                assert is_permission_denied(error), str(error)
    assert_still_itself(iso, attempt.tenant)
    assert_witnesses_untouched(witnesses)


def try_statement(conn: flight_sql.Connection, sql: str) -> None:
    """Run `sql`; a refusal is fine (an engine may refuse session statements outright)."""
    try:
        rows(conn, sql)
    except flight_sql.Error as error:
        assert_clean(error)


def test_search_path_into_a_foreign_schema_reaches_nothing(iso: IsolatedGateway) -> None:
    with iso.connect("globex") as conn:
        try_statement(conn, "SET search_path TO acme_private, shared")
        missing = failure(conn, "SELECT * FROM plans")
        assert "does not exist" in str(missing)
        assert_clean(missing, "gold")


@pytest.mark.parametrize(
    "statement",
    ["SET search_path TO acme_private", "SET row_security = off", "SET application_name = 'escaped'",
     "SET statement_timeout = '1ms'", "SET ROLE NONE", "SELECT set_config('search_path', 'acme_private', false)",
     "SELECT set_config('default_transaction_read_only', 'on', false)",
     "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
     "PREPARE leftover AS SELECT 1"],
)  # fmt: skip
def test_session_changes_do_not_outlive_the_request(iso: IsolatedGateway, statement: str) -> None:
    with iso.connect("acme") as conn:
        before = rows(conn, SESSION_STATE)
        try_statement(conn, statement)
    with iso.connect("acme") as conn:
        assert rows(conn, SESSION_STATE) == before
        assert rows(conn, "SELECT count(*) FROM shared.orders") == [(ACME_ROWS,)]
        assert rows(conn, "SELECT count(*) FROM pg_prepared_statements WHERE name = 'leftover'") == [(0,)]


def test_one_tenants_session_changes_never_reach_the_other(iso: IsolatedGateway) -> None:
    with iso.connect("globex") as conn:
        before = rows(conn, SESSION_STATE)
    with iso.connect("acme") as conn:
        try_statement(conn, "SET search_path TO acme_private")
        try_statement(conn, "SELECT set_config('application_name', 'acme was here', false)")
    with iso.connect("globex") as conn:
        assert rows(conn, SESSION_STATE) == before


# Redshift has no advisory locks (only the simulator's PostgreSQL does).
@pytest.mark.parametrize("iso", ["postgres"], indirect=True)
def test_a_lock_left_by_one_tenant_does_not_block_the_other(iso: IsolatedGateway) -> None:
    with iso.connect("acme") as conn:
        rows(conn, "SELECT pg_advisory_lock(4242)")  # session-level: outlives the statement
    with iso.connect("globex") as conn:
        assert rows(conn, "SELECT pg_try_advisory_lock(4242), pg_advisory_unlock(4242)") == [(True, True)]


# The read-only tenant logs in as acme's db user, which may write shared.notes: here the gateway's
# policy and the engine's read-only transactions are what stop it.
@pytest.mark.parametrize(
    "statement",
    ["INSERT INTO shared.notes (body) VALUES ('ro wrote')",
     "INSERT INTO shared.notes (body) VALUES ('ro wrote') RETURNING id",
     "WITH w AS (INSERT INTO shared.notes (body) VALUES ('ro wrote') RETURNING id) SELECT id FROM w",
     "EXPLAIN ANALYZE INSERT INTO shared.notes (body) VALUES ('ro wrote')",
     "UPDATE shared.notes SET body = 'ro wrote'", "UPDATE shared.notes SET body = 'ro wrote' RETURNING id",
     "DELETE FROM shared.notes RETURNING id", "SELECT 1; DELETE FROM shared.notes",
     "SET default_transaction_read_only = off", "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
     "DO $$ BEGIN INSERT INTO shared.notes (body) VALUES ('ro wrote'); END $$",
     "SELECT set_config('default_transaction_read_only', 'off', false)",
     "SET ROLE NONE", "SELECT id FROM shared.notes FOR UPDATE"],
)  # fmt: skip
def test_read_only_tenant_cannot_write(
    iso: IsolatedGateway, witnesses: dict[str, psycopg.Connection], statement: str
) -> None:
    with iso.connect("acme_ro") as conn:
        try:
            rows(conn, statement)
        except flight_sql.Error as error:
            assert_clean(error)
        # Whatever the first statement did to the session, the next write must still be refused.
        refused = failure(conn, "INSERT INTO shared.notes (body) VALUES ('ro wrote')")
        assert is_permission_denied(refused), str(refused)
    assert_witnesses_untouched(witnesses)
    assert_still_itself(iso, "acme_ro")


def test_read_only_tenant_is_refused_by_the_gateway_before_the_database(iso: IsolatedGateway) -> None:
    with iso.connect("acme_ro") as conn:
        for statement in (
            f"SET ROLE {iso.login('globex')}",
            "CREATE TEMP TABLE t (id int)",
            "DELETE FROM shared.notes",
        ):
            error = failure(conn, statement)
            assert is_permission_denied(error), str(error)
            assert "STATEMENT_NOT_ALLOWED" in str(error)


@pytest.mark.parametrize("tenant", ["acme", "acme_ro"])
def test_bulk_ingest_cannot_plant_rows_for_the_other_tenant(
    iso: IsolatedGateway, witnesses: dict[str, psycopg.Connection], tenant: str
) -> None:
    planted = pa.table({"db_user": [iso.login("globex")], "body": ["planted by ingest"]})
    with iso.connect(tenant) as conn, conn.cursor() as cur:
        with pytest.raises(flight_sql.Error) as appended:
            cur.adbc_ingest("notes", planted, mode="append", db_schema_name="shared")
        assert_clean(appended.value)
        with pytest.raises(flight_sql.Error) as created:
            cur.adbc_ingest("planted", planted, mode="create", db_schema_name="shared")
        assert_clean(created.value)
    assert_witnesses_untouched(witnesses)
    with iso.direct("acme") as conn:
        assert conn.execute("SELECT to_regclass('shared.planted')").fetchone() == (None,)


@pytest.mark.parametrize("tenant", ["acme", "acme_ro"])
def test_bulk_ingest_without_privilege_is_permission_denied(iso: IsolatedGateway, tenant: str) -> None:
    rows_ = pa.table({"body": ["x"]})
    with iso.connect(tenant) as conn, conn.cursor() as cur, pytest.raises(flight_sql.Error) as created:
        cur.adbc_ingest("planted", rows_, mode="create", db_schema_name="shared")
    if iso.engine != "postgres" and "INGEST_NOT_SUPPORTED" in str(created.value):
        return  # the Redshift engine takes no bulk ingest at all
    assert is_permission_denied(created.value), str(created.value)


# A tenant's own UNLOAD would run with whatever IAM role it names, and the cluster's roles (the
# gateway's unload_iam_role among them) serve every database user unless ASSUMEROLE is revoked:
# it could write anywhere that role may, another tenant's offload prefix included.
@pytest.mark.parametrize("iso", ["redshift-simulator"], indirect=True)
def test_a_tenant_cannot_unload_into_the_gateways_bucket(iso: IsolatedGateway, request: pytest.FixtureRequest) -> None:
    sim = request.getfixturevalue("redshift_sim")
    prefix = f"globex/planted-{iso.names.database}/"
    role = "arn:aws:iam::123456789012:role/flight-gateway-unload"
    target = f"s3://{sim.unload_bucket}/{prefix}"
    sql = f"UNLOAD ('SELECT id, tenant FROM shared.orders') TO '{target}' IAM_ROLE '{role}' FORMAT AS PARQUET"
    with iso.connect("acme") as conn:
        refused = failure(conn, sql)
    assert is_permission_denied(refused), str(refused)
    listed = sim.s3.client().list_objects_v2(Bucket=sim.unload_bucket, Prefix=prefix)
    assert listed.get("KeyCount", 0) == 0


@pytest.mark.parametrize("iso", ["redshift-simulator"], indirect=True)
def test_a_read_only_tenant_cannot_unload(iso: IsolatedGateway, request: pytest.FixtureRequest) -> None:
    sim = request.getfixturevalue("redshift_sim")
    prefix = f"acme/ro-{iso.names.database}/"
    role = "arn:aws:iam::123456789012:role/flight-gateway-unload"
    sql = f"UNLOAD ('SELECT id FROM shared.orders') TO 's3://{sim.unload_bucket}/{prefix}' IAM_ROLE '{role}'"
    with iso.connect("acme_ro") as conn:
        refused = failure(conn, sql)
    assert is_permission_denied(refused), str(refused)
    assert sim.s3.client().list_objects_v2(Bucket=sim.unload_bucket, Prefix=prefix).get("KeyCount", 0) == 0
