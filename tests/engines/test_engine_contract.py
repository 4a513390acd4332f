"""The contract every engine keeps, run against each engine type of the registry (and the embedded
DuckDB engine) on a real database: the Engine / EngineSession seam as protocol/ and service/ use it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from engines.postgres.pg_support import pg_database
from services import PostgresService

from auth import Tenant
from flight_gateway.config import PostgresEngineConfig, RedshiftEngineConfig, TenantConfig
from flight_gateway.engines.base import Engine, EngineInfo, StatementKind, SupportsUnload
from flight_gateway.engines.duckdb.engine import DuckDBEngine
from flight_gateway.engines.registry import ENGINE_TYPES, create_engines
from flight_gateway.engines.typeinfo import SqlDialectInfo, XdbcType
from flight_gateway.simulation.simulator import RedshiftSimulator

KINDS = ["duckdb", *ENGINE_TYPES]
PASSWORD = "Contract-pass1"


def _postgres(request: pytest.FixtureRequest) -> Iterator[tuple[Engine, Tenant]]:
    service: PostgresService = request.getfixturevalue("postgres")
    with pg_database(service, "contract") as db:
        user = f"contract_{uuid.uuid4().hex[:8]}"
        db.role(user, PASSWORD)
        config = PostgresEngineConfig(**db.engine("pg"))
        tenant = TenantConfig(id="t", engine="pg", db_user=user, db_password=PASSWORD)  # type: ignore[arg-type]
        engine = create_engines([config], [tenant])["pg"]
        try:
            yield engine, Tenant(id="t", engine="pg", db_user=user)
        finally:
            engine.close()


def _redshift(request: pytest.FixtureRequest) -> Iterator[tuple[Engine, Tenant]]:
    sim: RedshiftSimulator = request.getfixturevalue("redshift_sim")
    database, user = f"rs_{uuid.uuid4().hex[:8]}", f"rs_contract_{uuid.uuid4().hex[:8]}"
    sim.create_database(database)
    with sim.backend_connect(database) as conn:
        conn.execute(f"CREATE USER {user} PASSWORD '{PASSWORD}'")  # type: ignore[arg-type]  # test SQL, literal
    config = RedshiftEngineConfig(
        name="rs", type="redshift", host=sim.host, port=sim.port, database=database, sslmode="disable"
    )
    tenant = TenantConfig(id="t", engine="rs", db_user=user, db_password=PASSWORD)  # type: ignore[arg-type]
    engine = create_engines([config], [tenant])["rs"]
    try:
        yield engine, Tenant(id="t", engine="rs", db_user=user)
    finally:
        engine.close()


@pytest.fixture(params=KINDS)
def engine(request: pytest.FixtureRequest) -> Iterator[tuple[Engine, Tenant]]:
    kind: str = request.param
    if kind == "duckdb":
        duck = DuckDBEngine({"t": ":memory:"})
        try:
            yield duck, Tenant(id="t", engine="duckdb", database=":memory:")
        finally:
            duck.close()
    elif kind == "postgres":
        yield from _postgres(request)
    elif kind == "redshift":
        yield from _redshift(request)
    else:  # a new registry entry needs its set-up here
        pytest.fail(f"no contract set-up for engine type {kind!r}")


def test_every_registered_type_has_a_contract_setup() -> None:
    assert set(ENGINE_TYPES) == {"postgres", "redshift"}, "add the new engine type's set-up to this module"


def test_engine_describes_itself(engine: tuple[Engine, Tenant]) -> None:
    eng, _ = engine
    assert eng.name and eng.dialect
    assert eng.xdbc_types and all(isinstance(row, XdbcType) for row in eng.xdbc_types)
    assert isinstance(eng.sql_info, SqlDialectInfo)
    info = eng.info()
    assert isinstance(info, EngineInfo) and info.version and info.keywords


def test_session_describes_and_runs_a_query(engine: tuple[Engine, Tenant]) -> None:
    eng, tenant = engine
    with eng.session(tenant) as session:
        shape = session.describe("SELECT 1 AS x")
        assert shape.kind is StatementKind.QUERY
        assert shape.schema.names == ["x"]
        table = session.execute("SELECT 1 AS x", None, 1024).read_all()
        assert table.column_names == ["x"] and table.column(0).to_pylist() == [1]
        query_id = session.engine_query_id()
        assert query_id is None or isinstance(query_id, str)


def test_session_catalog_answers(engine: tuple[Engine, Tenant]) -> None:
    eng, tenant = engine
    with eng.session(tenant) as session:
        catalog = session.catalog()
        assert isinstance(catalog.catalogs(), list)
        assert isinstance(catalog.table_types(), list)


def test_unload_is_a_declared_capability(engine: tuple[Engine, Tenant]) -> None:
    eng, tenant = engine
    with eng.session(tenant) as session:
        assert isinstance(session, SupportsUnload) == (eng.dialect == "redshift")
