"""Adversarial spellings through the real gateway and a real Flight SQL client, on PostgreSQL and
the Redshift simulator.

`acme_qo` logs in as acme's database user, which may write shared.notes, but the gateway allows
it only queries and `other` statements: every hidden write must be refused by the gateway and
leave acme's note as it was. On Redshift, COPY, UNLOAD, SET, PREPARE and transactions are refused
for every tenant, `acme` included, however they are spelled.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import psycopg
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from services import PostgresService
from statement_spellings import QUERIES, REDSHIFT_REFUSED, SPELLINGS, Spelling

from auth import hash_password
from isolation.conftest import IsolatedGateway
from isolation.gateway_client import assert_clean, failure, rows

HIDDEN_WRITE = "UPDATE shared.notes SET body = 'spelled'"
HIDDEN_DDL = "CREATE TEMP TABLE spelled_t (a int)"
REFUSALS = ("STATEMENT_NOT_ALLOWED", "STATEMENT_NOT_UNDERSTOOD")
REDSHIFT_REFUSALS = (*REFUSALS, "NO_TRANSACTIONS")


@pytest.fixture(scope="module")
def spelled(
    iso: IsolatedGateway,
    postgres: PostgresService,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[IsolatedGateway, RunningGateway]]:
    names = iso.names
    engine: dict[str, Any] = {"name": "db", "database": names.database, "sslmode": "disable"}
    if iso.engine == "postgres":
        engine |= {"type": "postgres", "host": postgres.host, "port": postgres.port}
    else:
        sim = request.getfixturevalue("redshift_sim")
        engine |= {"type": "redshift", "host": sim.host, "port": sim.port, "credentials": "password"}
    login = names.login("acme")
    tenants: list[dict[str, Any]] = [
        {"id": "acme_qo", "engine": "db", "db_user": login.db_user, "db_password": login.password,
         "allowed_statements": ["query", "other"]},
        {"id": "acme_all", "engine": "db", "db_user": login.db_user, "db_password": login.password},
    ]  # fmt: skip
    users = [{"username": t["id"], "password_hash": hash_password(PASSWORD), "tenant": t["id"]} for t in tenants]
    running = start_gateway(tmp_path_factory.mktemp(f"spellings-{iso.engine}"), demo=False, engines=[engine],
                            tenants=tenants, users=users)  # fmt: skip
    yield iso, running
    running.gateway.shutdown()


def _acme_notes(iso: IsolatedGateway) -> list[tuple[Any, ...]]:
    with iso.direct("acme") as acme:
        return acme.execute("SELECT body FROM shared.notes ORDER BY id").fetchall()


def _database_runs(iso: IsolatedGateway, sql: str) -> bool:
    """Whether acme's login runs `sql` without error, straight to the database (rolled back)."""
    with iso.direct("acme") as acme:
        try:
            with acme.transaction(force_rollback=True):
                acme.execute(sql.encode())
        except psycopg.Error:
            return False
    return True


@pytest.mark.parametrize("spelling", SPELLINGS, ids=[s.id for s in SPELLINGS])
def test_hidden_writes_are_refused_to_a_query_and_other_tenant(
    spelled: tuple[IsolatedGateway, RunningGateway], spelling: Spelling
) -> None:
    iso, running = spelled
    before = _acme_notes(iso)
    sql = spelling.render(HIDDEN_WRITE, HIDDEN_DDL)
    with running.connect("acme_qo") as conn:
        error = failure(conn, sql)
        assert_clean(error)
        # The gateway refuses whatever the database would run; text the database itself rejects
        # (a data-modifying WITH inside parentheses, say) may get the database's answer.
        if spelling.expected == "refused" or _database_runs(iso, sql):
            assert any(f"error_code={code}" in str(error) for code in REFUSALS), str(error)
            assert "PermissionDenied" in str(error), str(error)
        assert rows(conn, "SELECT 1") == [(1,)]  # still served
    assert _acme_notes(iso) == before


@pytest.mark.parametrize("iso", ["redshift-simulator"], indirect=True)  # Redshift's refusals only
@pytest.mark.parametrize(("name", "sql"), REDSHIFT_REFUSED, ids=[name for name, _ in REDSHIFT_REFUSED])
def test_redshift_refusals_hold_for_every_tenant_under_every_spelling(
    spelled: tuple[IsolatedGateway, RunningGateway], name: str, sql: str
) -> None:
    iso, running = spelled
    assert iso.engine == "redshift-simulator"
    with running.connect("acme_all") as conn:
        error = failure(conn, sql)
        assert_clean(error)
        assert any(f"error_code={code}" in str(error) for code in REDSHIFT_REFUSALS), str(error)


def test_queries_with_comments_and_strings_still_run(spelled: tuple[IsolatedGateway, RunningGateway]) -> None:
    iso, running = spelled
    runnable = [q for q in QUERIES if not q.startswith(("SHOW", "TABLE"))]
    with running.connect("acme_qo") as conn:
        for sql in runnable:
            try:
                rows(conn, sql)
            except flight_sql.Error as error:
                # The database may refuse a construct (Redshift has no FOR UPDATE, no SEARCH/CYCLE,
                # no E'' strings); the gateway's policy never does.
                assert not any(f"error_code={code}" in str(error) for code in REFUSALS), (sql, str(error))


def test_the_hidden_write_runs_for_an_unrestricted_tenant_when_the_database_allows_it(
    spelled: tuple[IsolatedGateway, RunningGateway],
) -> None:
    """The refusals above come from the statement classes, not from the database."""
    iso, running = spelled
    try:
        with running.connect("acme_all") as conn, conn.cursor() as cur:
            cur.execute("/* a /* b */ c */ UPDATE shared.notes SET body = 'spelled' WHERE body = 'acme note'")
        assert ("spelled",) in _acme_notes(iso)
    finally:
        with iso.direct("acme") as acme:
            acme.execute("UPDATE shared.notes SET body = 'acme note' WHERE body = 'spelled'")
