"""One table: each PostgreSQL failure (by SQLSTATE) reaches a real Flight client as the right gRPC
status with a stable error code and a clean message, and the job record keeps the SQLSTATE."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass

import adbc_driver_manager
import grpc
import pyarrow as pa
import pytest
from conftest import PASSWORD, RunningGateway
from flight_wire import RawFlight, command_descriptor, stream_table
from pg_support import pg_database, pg_gateway, tenant
from services import PostgresService

from flight_gateway.jobs import Job, SqliteJobStore, fingerprint
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.simulation.local_postgres import _free_port

S = grpc.StatusCode


@dataclass
class Env:
    gateway: RunningGateway
    raw: RawFlight
    tokens: dict[str, list[tuple[str, str]]]

    def run(self, tenant_id: str, sql: str) -> object:
        """A query as ADBC runs it: GetFlightInfo, then DoGet of its ticket."""
        info = self.raw.get_flight_info(command_descriptor(pb.CommandStatementQuery(query=sql)), self.tokens[tenant_id])
        return stream_table(self.raw.do_get(info.endpoints[0].ticket.ticket, self.tokens[tenant_id]))


def _failed_job(env: Env, sql: str, timeout: float = 10.0) -> Job:
    """The statement's latest job once its failure is recorded (the record may trail the reply)."""
    store = SqliteJobStore(env.gateway.data_dir / "jobs.sqlite3")
    try:
        deadline = time.monotonic() + timeout
        while True:
            jobs = [j for j in store.list(limit=500) if j.fingerprint == fingerprint(sql) and j.error_code]
            if jobs or time.monotonic() > deadline:
                break
            time.sleep(0.02)
    finally:
        store.close()
    assert jobs, f"no failed job recorded for {sql!r}"
    return max(jobs, key=lambda j: j.created_at)


@pytest.fixture(scope="module")
def env(postgres: PostgresService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with pg_database(postgres, "errs") as db:
        db.sql(
            "create table t (id int primary key)",
            "insert into t values (1)",
            "create table hidden (x int)",
            "create sequence flaky_seq",
            "create extension dblink",
            # Raises the given SQLSTATE; PL/pgSQL lets a test produce any class on demand.
            "create function fail_with(code text) returns int language plpgsql as "
            "$$ begin raise exception 'failing on purpose with %', code using errcode = code; end $$",
            # Fails with a serialization failure once, then succeeds (sequences ignore rollbacks).
            "create function flaky() returns int language plpgsql as "
            "$$ begin if nextval('flaky_seq') = 1 then raise exception 'could not serialize access' "
            "using errcode = '40001'; end if; return 42; end $$",
        )
        grants = ["grant select, insert on t to err_user", "grant usage on sequence flaky_seq to err_user"]
        password = db.role("err_user", grants=grants)
        dead = db.engine("down", port=_free_port("127.0.0.1"), connect_timeout_seconds=2)
        running = pg_gateway(
            tmp_path_factory.mktemp("errs"),
            [db.engine(), dead],
            [
                tenant("e", "err_user", password, limits={"statement_timeout_seconds": 0.3}),
                tenant("ro", "err_user", password, read_only=True),
                tenant("bad", "err_user", "not-the-password"),
                tenant("off", "err_user", password, engine="down"),
            ],
        )
        raw = RawFlight.connect(running.uri)
        tokens = {}
        for tenant_id in ("e", "ro", "bad", "off"):
            basic = base64.b64encode(f"{tenant_id}:{PASSWORD}".encode()).decode()
            _, headers = raw.handshake([("authorization", f"Basic {basic}")])
            tokens[tenant_id] = [("authorization", headers["authorization"])]
        yield Env(running, raw, tokens)
        raw.close()
        running.gateway.shutdown()


CASES = [
    # (id, tenant, sql, gRPC status, error code, SQLSTATE)
    ("syntax", "e", "selec 1", S.INVALID_ARGUMENT, "SQL_SYNTAX", "42601"),
    ("undefined table", "e", "select * from nope", S.NOT_FOUND, "OBJECT_NOT_FOUND", "42P01"),
    ("undefined column", "e", "select nope from t", S.INVALID_ARGUMENT, "SQL_BINDING", "42703"),
    ("no privilege", "e", "select * from hidden", S.PERMISSION_DENIED, "NOT_ALLOWED", "42501"),
    ("division by zero", "e", "select 1 / (id - 1) from t", S.INVALID_ARGUMENT, "DATA_ERROR", "22012"),
    ("unique violation", "e", "insert into t values (1)", S.INVALID_ARGUMENT, "CONSTRAINT_VIOLATION", "23505"),
    (
        "serialization",
        "e",
        "select fail_with('40001') as serialization",
        S.UNAVAILABLE,
        "SERIALIZATION_FAILURE",
        "40001",
    ),
    # pyarrow cannot send RESOURCE_EXHAUSTED; the gateway sends UNAVAILABLE (retryable) instead.
    ("out of resources", "e", "select fail_with('53200') as resources", S.UNAVAILABLE, "ENGINE_RESOURCES", "53200"),
    ("not supported", "e", "select fail_with('0A000') as unsupported", S.UNIMPLEMENTED, "NOT_SUPPORTED", "0A000"),
    # Every SQLSTATE a tenant can provoke is the tenant's (or the database's) problem, never INTERNAL:
    # INTERNAL means a gateway bug.
    (
        "internal",
        "e",
        "select fail_with('XX000') as internal",
        S.INVALID_ARGUMENT,
        "ENGINE_INTERNAL_ERROR",
        "XX000",
    ),
    (
        "dblink as superuser",
        "e",
        "select * from dblink('dbname=postgres user=postgres', 'select 1') as t(x int)",
        S.PERMISSION_DENIED,
        "NOT_ALLOWED",
        "2F003",
    ),
    ("sql routine", "e", "select fail_with('2F005') as routine", S.INVALID_ARGUMENT, "ROUTINE_ERROR", "2F005"),
    ("external routine", "e", "select fail_with('38001') as ext", S.INVALID_ARGUMENT, "ROUTINE_ERROR", "38001"),
    ("routine invocation", "e", "select fail_with('39004') as inv", S.INVALID_ARGUMENT, "ROUTINE_ERROR", "39004"),
    ("fdw", "e", "select fail_with('HV00N') as fdw", S.INVALID_ARGUMENT, "ROUTINE_ERROR", "HV00N"),
    ("system error", "e", "select fail_with('58030') as io", S.UNAVAILABLE, "ENGINE_IO", "58030"),
    ("plpgsql raise", "e", "select fail_with('P0001') as raised", S.INVALID_ARGUMENT, "SQL_ERROR", "P0001"),
    ("custom sqlstate", "e", "select fail_with('ZX999') as custom", S.INVALID_ARGUMENT, "DATABASE_ERROR", "ZX999"),
    ("login class", "e", "select fail_with('28000') as login", S.PERMISSION_DENIED, "DB_LOGIN_DENIED", "28000"),
    ("program limit", "e", "select fail_with('54001') as lim", S.UNAVAILABLE, "STATEMENT_TOO_COMPLEX", "54001"),
    ("statement timeout", "e", "select pg_sleep(5)", S.DEADLINE_EXCEEDED, "STATEMENT_TIMEOUT", "57014"),
    ("read-only tenant", "ro", "select nextval('flaky_seq')", S.PERMISSION_DENIED, "READ_ONLY", "25006"),
    ("transaction control", "e", "begin", S.UNIMPLEMENTED, "NO_TRANSACTIONS", None),
    ("wrong db password", "bad", "select 1", S.UNAUTHENTICATED, "DB_LOGIN_FAILED", "28P01"),
    ("database down", "off", "select 1", S.UNAVAILABLE, "ENGINE_UNAVAILABLE", None),
]


@pytest.mark.parametrize(
    ("tenant_id", "sql", "status", "code", "sqlstate"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_error_status(
    env: Env, tenant_id: str, sql: str, status: grpc.StatusCode, code: str, sqlstate: str | None
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        env.run(tenant_id, sql)
    error = info.value
    assert isinstance(error, grpc.Call)
    details = error.details() or ""
    assert error.code() == status, details
    assert f"error_code={code}" in details
    for leak in ("Traceback", 'File "', "[libpq]", "Query was", "adbc", "SQLSTATE:"):
        assert leak not in details
    if sqlstate is not None:
        job = _failed_job(env, sql)
        assert (job.sqlstate, job.error_code) == (sqlstate, code)
        # The backend that ran it, as pg_stat_activity and the server log name it; statements that
        # fail while being described (or logging in) never ran on one.
        ran = sqlstate not in ("42601", "42P01", "42703", "28P01")
        assert (job.engine_query_id or "").startswith("pid:") == ran, job.engine_query_id
    # The tenant's pool still serves it afterwards.
    if tenant_id in ("e", "ro"):
        assert env.run(tenant_id, "select 1 as ok").column("ok").to_pylist() == [1]  # type: ignore[attr-defined]


def test_serialization_failure_before_any_row_is_retried(env: Env) -> None:
    table = env.run("e", "select flaky() as v")
    assert table.column("v").to_pylist() == [42]  # type: ignore[attr-defined]


def test_ingest_without_create_privilege_is_permission_denied(env: Env) -> None:
    """The driver reports this one without a SQLSTATE; its ADBC status still decides."""
    with env.gateway.connect("e") as conn, conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.Error) as error:
            cur.adbc_ingest("planted", pa.table({"x": [1]}), mode="create")
    assert error.value.status_code == adbc_driver_manager.AdbcStatusCode.UNAUTHORIZED
    assert "permission denied for schema public" in str(error.value)
    assert "error_code=NOT_ALLOWED" in str(error.value)
