"""The corpora through the real gateway and ADBC on PostgreSQL (sqlglot's postgres dialect under the
lexer guard): every valid analytical statement is accepted for a read-only tenant, every refused one
is refused by the policy and changes nothing, though the tenant's database user owns the tables.
Behind the policy, a read-only tenant's session is read-only in PostgreSQL itself."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from corpus import refused, schema_statements, valid
from corpus_gateway import listed, not_accepted, not_refused, prepare_each, snapshot
from services import PostgresService

from auth import Tenant, hash_password
from flight_gateway.engines.postgres.engine import PostgresEngine
from flight_gateway.errors import GatewayError


@pytest.fixture(scope="module")
def owner(postgres: PostgresService) -> Iterator[tuple[str, str, str]]:
    """A database whose tables the tenant's own login owns (it could write them all): database, user, password."""
    suffix = uuid.uuid4().hex[:8]
    database, user, password = f"corpus_{suffix}", f"corpus_owner_{suffix}", uuid.uuid4().hex
    with psycopg.connect(postgres.superuser_dsn, autocommit=True) as root:
        root.execute(f"create role {user} login password '{password}'")  # type: ignore[arg-type]
        root.execute(f"create database {database} owner {user}")  # type: ignore[arg-type]
    dsn = postgres.superuser_dsn.rsplit("/", 1)[0] + f"/{database}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"set role {user}")  # type: ignore[arg-type]
        for statement in schema_statements():
            conn.execute(statement)  # type: ignore[arg-type]  # the corpus's schema, literal
    yield database, user, password
    with psycopg.connect(postgres.superuser_dsn, autocommit=True) as root:
        root.execute(f"drop database {database} with (force)")  # type: ignore[arg-type]
        root.execute(f"drop role {user}")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def gateway(
    postgres: PostgresService, owner: tuple[str, str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    database, user, password = owner
    engine: dict[str, Any] = {"name": "pg", "type": "postgres", "host": postgres.host, "port": postgres.port,
                              "database": database, "sslmode": "disable"}  # fmt: skip
    running = start_gateway(
        tmp_path_factory.mktemp("corpus-postgres"),
        demo=False,
        engines=[engine],
        tenants=[{"id": "ro", "engine": "pg", "db_user": user, "db_password": password, "read_only": True}],
        users=[{"username": "ro", "password_hash": hash_password(PASSWORD), "tenant": "ro"}],
    )
    yield running
    running.gateway.shutdown()


def test_valid_corpus_is_accepted_for_a_read_only_tenant(gateway: RunningGateway) -> None:
    with gateway.connect("ro") as conn:
        failures = not_accepted(prepare_each(conn, valid("postgres")))
        assert not failures, listed(failures)


def test_refused_corpus_is_refused_and_changes_nothing(gateway: RunningGateway) -> None:
    with gateway.connect("ro") as conn:
        before = snapshot(conn)
        failures = not_refused(prepare_each(conn, refused("postgres")))
        assert not failures, listed(failures)
        assert snapshot(conn) == before


@pytest.mark.parametrize(
    "sql",
    ["insert into nation values (90, 'X', 0, 'x')", "update nation set n_comment = 'direct'",
     "create table made_directly (a int)", "select nextval('made_seq')"],
)  # fmt: skip
def test_a_write_that_reaches_postgres_is_refused_by_postgres(
    gateway: RunningGateway, owner: tuple[str, str, str], sql: str
) -> None:
    """Past the gateway's policy (the engine session called directly), a read-only tenant's
    session is still read-only: default_transaction_read_only is on where its connections open."""
    engine = gateway.gateway.engines["pg"]
    assert isinstance(engine, PostgresEngine)
    tenant = Tenant(id="ro", engine="pg", db_user=owner[1], allowed_statements=frozenset({"query"}))
    with engine.session(tenant) as session, pytest.raises(GatewayError) as refused_error:
        session.execute_update(sql, None)
    assert refused_error.value.code == "READ_ONLY", refused_error.value
    with gateway.connect("ro") as conn, conn.cursor() as cur:
        cur.execute("select count(*) from nation where n_comment = 'direct' or n_nationkey = 90")
        assert cur.fetchall() == [(0,)]
