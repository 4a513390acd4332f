"""The corpora through the real gateway and ADBC on the Redshift simulator (sqlglot's redshift
dialect under the lexer guard): every valid analytical statement is accepted for a read-only
tenant, every refused one is refused by the policy and changes nothing, though the tenant's
database user owns the tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from corpus import refused, schema_statements, valid
from corpus_gateway import listed, not_accepted, not_refused, prepare_each, snapshot

from auth import hash_password
from flight_gateway.simulation.simulator import RedshiftSimulator

SIMULATOR_LACKS = {"json-extract-path-text", "listagg-redshift"}
USER, USER_PW = f"corpus_{uuid.uuid4().hex[:6]}", "Corpus-pass1"


@pytest.fixture(scope="module")
def gateway(redshift_sim: RedshiftSimulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    database = f"corpus_{uuid.uuid4().hex[:8]}"
    redshift_sim.create_database(database)
    with redshift_sim.backend_connect(database) as conn:
        conn.execute(f"CREATE USER {USER} PASSWORD '{USER_PW}'")  # type: ignore[arg-type]
        conn.execute(f"GRANT ALL ON SCHEMA public TO {USER}")  # type: ignore[arg-type]
        conn.execute(f"SET ROLE {USER}")  # type: ignore[arg-type]  # the tenant's user owns every table
        for statement in schema_statements():
            conn.execute(statement)  # type: ignore[arg-type]  # the corpus's schema, literal
    engine = {"name": "rs", "type": "redshift", "host": redshift_sim.host, "port": redshift_sim.port,
              "database": database, "sslmode": "disable", "credentials": "password"}  # fmt: skip
    running = start_gateway(
        tmp_path_factory.mktemp("corpus-redshift"),
        demo=False,
        engines=[engine],
        tenants=[{"id": "ro", "engine": "rs", "db_user": USER, "db_password": USER_PW, "read_only": True}],
        users=[{"username": "ro", "password_hash": hash_password(PASSWORD), "tenant": "ro"}],
    )
    yield running
    running.gateway.shutdown()


def test_valid_corpus_is_accepted_for_a_read_only_tenant(gateway: RunningGateway) -> None:
    with gateway.connect("ro") as conn:
        failures = not_accepted(prepare_each(conn, valid("redshift")))
    # Redshift functions the simulator's PostgreSQL lacks: the policy let them through, the
    # database answered that it has no such function.
    lacking = {name for name, error in failures.items() if "error_code=OBJECT_NOT_FOUND" in error}
    assert lacking <= SIMULATOR_LACKS, listed(failures)
    assert not {name: error for name, error in failures.items() if name not in lacking}, listed(failures)


def test_refused_corpus_is_refused_and_changes_nothing(gateway: RunningGateway) -> None:
    with gateway.connect("ro") as conn:
        before = snapshot(conn)
        failures = not_refused(prepare_each(conn, refused("redshift")))
        assert not failures, listed(failures)
        assert snapshot(conn) == before
