"""One code per situation on every engine: the same bad inputs, sent through a real Flight client to
a DuckDB, a PostgreSQL and a Redshift (simulator) gateway, answer the same gRPC status and the same
stable error code from the `ErrorCode` catalog."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import adbc_driver_manager
import duckdb
import grpc
import psycopg
import pyarrow as pa
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from flight_wire import RawFlight, command_descriptor, flight_data, ipc_flight_data, stream_table
from google.protobuf import any_pb2
from services import PostgresService

from auth import hash_password
from flight_gateway.errors import ErrorCode
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack
from flight_gateway.simulation.process import SimulatorProcess

ENGINES = ("duckdb", "postgres", "redshift")
# What each tenant database holds: t (id primary key, one row with id = 1), a sequence s; on the
# server engines also a table `hidden` the tenant may not read.
SCHEMA = ("create table t (id integer primary key)", "insert into t values (1)", "create sequence s")


@dataclass
class Env:
    engine: str
    gateway: RunningGateway
    raw: RawFlight
    tokens: dict[str, list[tuple[str, str]]]

    def query(self, tenant: str, sql: str) -> object:
        info = self.raw.get_flight_info(command_descriptor(pb.CommandStatementQuery(query=sql)), self.tokens[tenant])
        return stream_table(self.raw.do_get(info.endpoints[0].ticket.ticket, self.tokens[tenant]))

    def update(self, tenant: str, sql: str) -> object:
        descriptor = command_descriptor(pb.CommandStatementUpdate(query=sql))
        return self.raw.do_put([flight_data(descriptor)], self.tokens[tenant])

    def prepared_query(self, tenant: str, sql: str, params: pa.RecordBatch) -> object:
        request = pack(pb.ActionCreatePreparedStatementRequest(query=sql))
        [raw] = self.raw.do_action("CreatePreparedStatement", request, self.tokens[tenant])
        wrapper = any_pb2.Any()
        wrapper.ParseFromString(raw)
        result = pb.ActionCreatePreparedStatementResult()
        assert wrapper.Unpack(result)
        handle = bytes(result.prepared_statement_handle)
        descriptor = command_descriptor(pb.CommandPreparedStatementQuery(prepared_statement_handle=handle))
        self.raw.do_put(ipc_flight_data(descriptor, params), self.tokens[tenant])
        info = self.raw.get_flight_info(descriptor, self.tokens[tenant])
        return stream_table(self.raw.do_get(info.endpoints[0].ticket.ticket, self.tokens[tenant]))


def _login(raw: RawFlight, tenant: str) -> list[tuple[str, str]]:
    basic = base64.b64encode(f"{tenant}:{PASSWORD}".encode()).decode()
    _, headers = raw.handshake([("authorization", f"Basic {basic}")])
    return [("authorization", headers["authorization"])]


def _users() -> list[dict[str, str]]:
    password_hash = hash_password(PASSWORD)
    return [{"username": t, "password_hash": password_hash, "tenant": t} for t in ("rw", "ro")]


def _duckdb_gateway(data_dir: Path) -> RunningGateway:
    files = {}
    for tenant in ("rw", "ro"):
        files[tenant] = data_dir / f"{tenant}.duckdb"
        con = duckdb.connect(str(files[tenant]))
        for statement in SCHEMA:
            con.execute(statement)
        con.close()
    tenants = [
        {"id": "rw", "database": str(files["rw"])},
        {"id": "ro", "database": str(files["ro"]), "read_only": True},
    ]
    return start_gateway(data_dir, demo=False, tenants=tenants, users=_users())


def _postgres_gateway(data_dir: Path, service: PostgresService) -> tuple[RunningGateway, Callable[[], None]]:
    name, role, password = f"parity_{uuid.uuid4().hex[:8]}", f"parity_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with psycopg.connect(service.superuser_dsn, autocommit=True) as root:
        root.execute(f"create database {name}")  # type: ignore[arg-type]  # test SQL
        root.execute(f"create role {role} login password '{password}'")  # type: ignore[arg-type]
    dsn = service.superuser_dsn.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        for statement in (
            *SCHEMA,
            "create table hidden (x int)",
            f"grant create, usage on schema public to {role}",
            f"grant select, insert, update, delete on t to {role}",
            f"grant usage on sequence s to {role}",
        ):
            admin.execute(statement)  # type: ignore[arg-type]  # test SQL
    engine = {"name": "pg", "type": "postgres", "host": service.host, "port": service.port, "database": name,
              "sslmode": "disable"}  # fmt: skip
    tenants = [
        {"id": t, "engine": "pg", "db_user": role, "db_password": password, "read_only": t == "ro"}
        for t in ("rw", "ro")
    ]
    running = start_gateway(data_dir, demo=False, engines=[engine], tenants=tenants, users=_users())

    def drop() -> None:
        with psycopg.connect(service.superuser_dsn, autocommit=True) as root:
            root.execute(f"drop database {name} with (force)")  # type: ignore[arg-type]
            root.execute(f"drop role {role}")  # type: ignore[arg-type]

    return running, drop


def _redshift_gateway(data_dir: Path, sim: SimulatorProcess) -> RunningGateway:
    name, user, password = f"parity_{uuid.uuid4().hex[:8]}", f"parity_{uuid.uuid4().hex[:8]}", "Parity-pass1"
    sim.create_database(name)
    with sim.backend_connect(name) as conn:
        for statement in (
            f"CREATE USER {user} PASSWORD '{password}'",
            "create table t (id integer primary key)",
            "insert into t values (1)",
            "create table hidden (x int)",
            f"grant select, insert, update, delete on t to {user}",
            f"grant create on schema public to {user}",
        ):
            conn.execute(statement)  # type: ignore[arg-type]  # test SQL
    engine = {"name": "rs", "type": "redshift", "host": sim.host, "port": sim.port, "database": name,
              "sslmode": "disable"}  # fmt: skip
    tenants = [
        {"id": t, "engine": "rs", "db_user": user, "db_password": password, "read_only": t == "ro"}
        for t in ("rw", "ro")
    ]
    return start_gateway(data_dir, demo=False, engines=[engine], tenants=tenants, users=_users())


@pytest.fixture(scope="module", params=ENGINES)
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    engine: str = request.param
    data_dir = tmp_path_factory.mktemp(f"parity-{engine}")
    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    if engine == "duckdb":
        running = _duckdb_gateway(data_dir)
    elif engine == "postgres":
        running, cleanup = _postgres_gateway(data_dir, request.getfixturevalue("postgres"))
    else:
        running = _redshift_gateway(data_dir, request.getfixturevalue("redshift_sim"))
    raw = RawFlight.connect(running.uri)
    try:
        yield Env(engine, running, raw, {t: _login(raw, t) for t in ("rw", "ro")})
    finally:
        raw.close()
        running.gateway.shutdown()
        cleanup()


def _ingest_existing(env: Env) -> object:
    with env.gateway.connect("rw") as conn, conn.cursor() as cur:
        return cur.adbc_ingest("t", pa.table({"id": pa.array([7], pa.int32())}), mode="create")


def _wrong_parameter_count(env: Env) -> object:
    params = pa.record_batch({"0": pa.array([1], pa.int64()), "1": pa.array([2], pa.int64())})
    return env.prepared_query("rw", "select id from t where id = ?", params)


Case = tuple[str, Callable[[Env], object], ErrorCode, frozenset[str]]
ALL = frozenset(ENGINES)
CASES: list[Case] = [
    ("unknown table", lambda e: e.query("rw", "select * from nope"), ErrorCode.OBJECT_NOT_FOUND, ALL),
    ("unknown schema", lambda e: e.query("rw", "select * from nope.t"), ErrorCode.OBJECT_NOT_FOUND, ALL),
    ("unknown column", lambda e: e.query("rw", "select nope from t"), ErrorCode.SQL_BINDING, ALL),
    ("unknown function", lambda e: e.query("rw", "select nope_fn(id) from t"), ErrorCode.OBJECT_NOT_FOUND, ALL),
    ("drop unknown table", lambda e: e.update("rw", "drop table nope"), ErrorCode.OBJECT_NOT_FOUND, ALL),
    ("syntax error", lambda e: e.query("rw", "selec 1"), ErrorCode.SQL_SYNTAX, ALL),
    ("syntax error in update", lambda e: e.update("rw", "updat t set id = 2"), ErrorCode.SQL_SYNTAX, ALL),
    # On Redshift, text holding several statements is refused before it is read (fail closed).
    (
        "two statements",
        lambda e: e.query("rw", "select 1; select 2"),
        ErrorCode.MULTIPLE_STATEMENTS,
        frozenset({"duckdb", "postgres"}),
    ),
    ("empty statement", lambda e: e.query("rw", "  "), ErrorCode.EMPTY_STATEMENT, ALL),
    ("SQL COMMIT", lambda e: e.update("rw", "COMMIT"), ErrorCode.NO_TRANSACTIONS, ALL),
    ("SQL BEGIN", lambda e: e.update("rw", "BEGIN"), ErrorCode.NO_TRANSACTIONS, ALL),
    ("SQL ROLLBACK as query", lambda e: e.query("rw", "rollback"), ErrorCode.NO_TRANSACTIONS, ALL),
    ("bad cast", lambda e: e.query("rw", "select cast('x' as integer) as v"), ErrorCode.DATA_ERROR, ALL),
    (
        "division by zero",
        # DuckDB's `/` is floating-point division (1/0 is infinity); `//` divides integers.
        lambda e: e.query("rw", f"select 1 {'//' if e.engine == 'duckdb' else '/'} (id - 1) as v from t"),
        ErrorCode.DATA_ERROR,
        ALL,
    ),
    ("create existing table", lambda e: e.update("rw", "create table t (id int)"), ErrorCode.OBJECT_EXISTS, ALL),
    ("wrong parameter count", _wrong_parameter_count, ErrorCode.PARAMETER_MISMATCH, ALL),
    ("write by read-only tenant", lambda e: e.update("ro", "delete from t"), ErrorCode.STATEMENT_NOT_ALLOWED, ALL),
    # Redshift does not enforce primary keys; it has no sequences and no bulk ingest here.
    (
        "unique violation",
        lambda e: e.update("rw", "insert into t values (1)"),
        ErrorCode.CONSTRAINT_VIOLATION,
        frozenset({"duckdb", "postgres"}),
    ),
    (
        "write hidden in a query by read-only tenant",
        lambda e: e.query("ro", "select nextval('s') as n"),
        ErrorCode.READ_ONLY,
        frozenset({"duckdb", "postgres"}),
    ),
    # DuckDB has no grants: a tenant owns its whole database.
    (
        "table without privilege",
        lambda e: e.query("rw", "select * from hidden"),
        ErrorCode.NOT_ALLOWED,
        frozenset({"postgres", "redshift"}),
    ),
]
PARAMS = [pytest.param(call, code, engines, id=name) for name, call, code, engines in CASES]

# pyarrow's Flight server cannot send these two statuses (docs/errors.md says what clients get).
_GRPC = {"RESOURCE_EXHAUSTED": grpc.StatusCode.UNAVAILABLE, "ALREADY_EXISTS": grpc.StatusCode.INVALID_ARGUMENT}


@pytest.mark.parametrize(("call", "code", "engines"), PARAMS)
def test_same_code_and_status_on_every_engine(
    env: Env, call: Callable[[Env], object], code: ErrorCode, engines: frozenset[str]
) -> None:
    if env.engine not in engines:
        return  # the situation cannot arise on this engine (see the case's comment)
    with pytest.raises(grpc.RpcError) as info:
        call(env)
    error = info.value
    assert isinstance(error, grpc.Call)
    details = error.details() or ""
    expected = _GRPC.get(code.status.value, getattr(grpc.StatusCode, code.status.value))
    assert (error.code(), f"error_code={code.name}" in details) == (expected, True), details
    env.query("rw", "select 1 as ok")  # the tenant is still served


def test_create_mode_ingest_into_existing_table_is_already_exists(env: Env) -> None:
    """The catalog says ALREADY_EXISTS (ADBC's convention); pyarrow can send it only as
    INVALID_ARGUMENT, so the code is what tells it apart. Redshift has no bulk ingest here."""
    with pytest.raises(adbc_driver_manager.Error) as info:
        _ingest_existing(env)
    if env.engine == "redshift":
        assert info.value.status_code == adbc_driver_manager.AdbcStatusCode.NOT_IMPLEMENTED
        assert "error_code=INGEST_NOT_SUPPORTED" in str(info.value)
        return
    assert info.value.status_code == adbc_driver_manager.AdbcStatusCode.INVALID_ARGUMENT, str(info.value)
    assert "error_code=TABLE_EXISTS" in str(info.value)
