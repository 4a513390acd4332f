"""Per-tenant connection pools against the real server: exhaustion, health check after a killed
backend, max lifetime, idle timeout, cancellation (client disconnect and CancelFlightInfo) that
leaves no query running and the connection reusable."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow.flight as fl
import pytest
from conftest import RunningGateway
from pg_support import PgDatabase, pg_database, pg_gateway, tenant
from services import PostgresService

from auth import Tenant
from flight_gateway.config import PostgresEngineConfig
from flight_gateway.engines.postgres.engine import PostgresEngine, TenantLogin
from flight_gateway.protocol import flight_actions_pb2 as wire
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack

ENDLESS = "select generate_series(1, 1000000000000) as g, 'padding' as s"  # streams (ProjectSet), never ends


def wait_until(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def db(postgres: PostgresService) -> Iterator[PgDatabase]:
    with pg_database(postgres, "pool") as database:
        yield database


@pytest.fixture(scope="module")
def gw(db: PgDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    password = db.role("pool_user")
    pool = {"max_size": 1, "acquire_timeout_seconds": 0.5}
    running = pg_gateway(tmp_path_factory.mktemp("pool"), [db.engine(pool=pool)], [tenant("p", "pool_user", password)])
    yield running
    running.gateway.shutdown()


def plan(client: fl.FlightClient, options: fl.FlightCallOptions, sql: str) -> fl.FlightInfo:
    descriptor = fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql)))
    return client.get_flight_info(descriptor, options)


def query(gw: RunningGateway, sql: str) -> list[Any]:
    client, options = gw.flight_client("p")
    try:
        info = plan(client, options, sql)
        return client.do_get(info.endpoints[0].ticket, options).read_all().column(0).to_pylist()
    finally:
        client.close()


def active_queries(db: PgDatabase, user: str) -> int:
    return int(db.one("select count(*) from pg_stat_activity where usename = %s and state = 'active'", user))


def backends(db: PgDatabase, user: str) -> list[int]:
    rows = db.admin.execute("select pid from pg_stat_activity where usename = %s", (user,)).fetchall()
    return [r[0] for r in rows]


def test_exhausted_pool_fails_fast_then_recovers_after_disconnect(gw: RunningGateway, db: PgDatabase) -> None:
    client, options = gw.flight_client("p")
    try:
        info = plan(client, options, ENDLESS)
        reader = client.do_get(info.endpoints[0].ticket, options)
        assert reader.read_chunk().data.num_rows > 0  # the stream holds the tenant's only connection
        with pytest.raises(fl.FlightUnavailableError, match="POOL_EXHAUSTED") as error:
            query(gw, "select 1")
        assert "pool.max_size" in str(error.value)
        reader.cancel()  # the client goes away mid-stream
    finally:
        client.close()
    # The gateway cancels the backend query and hands the connection back healthy.
    wait_until(lambda: active_queries(db, "pool_user") == 0, "the streaming query to stop")
    assert query(gw, "select 41 + 1") == [42]


def test_cancel_flight_info_stops_the_backend_query(gw: RunningGateway, db: PgDatabase) -> None:
    client, options = gw.flight_client("p")
    try:
        info = plan(client, options, ENDLESS + " -- cancel me")
        reader = client.do_get(info.endpoints[0].ticket, options)
        assert reader.read_chunk().data.num_rows > 0
        pid_before = backends(db, "pool_user")
        body = wire.CancelFlightInfoRequest(info=info.serialize()).SerializeToString()
        list(client.do_action(fl.Action("CancelFlightInfo", body), options))
        with pytest.raises(fl.FlightCancelledError):
            wait_until(lambda: reader.read_chunk() is None, "the cancelled stream to end")
    finally:
        client.close()
    wait_until(lambda: active_queries(db, "pool_user") == 0, "no active query")
    assert query(gw, "select 'after cancel'") == ["after cancel"]
    assert backends(db, "pool_user") == pid_before  # the same connection served it: it went back healthy


def test_health_check_replaces_a_terminated_backend(gw: RunningGateway, db: PgDatabase) -> None:
    first = query(gw, "select pg_backend_pid()")
    assert db.one("select pg_terminate_backend(%s)", first[0]) is True
    wait_until(lambda: first[0] not in backends(db, "pool_user"), "the backend to exit")
    second = query(gw, "select pg_backend_pid()")
    assert second != first


def test_connection_lost_before_any_row_is_retried_without_health_check(db: PgDatabase) -> None:
    password = db.role("nocheck_user")
    pool = {"max_size": 1, "health_check": False}
    engine = PostgresEngine(
        "pg", PostgresEngineConfig(**db.engine(pool=pool)), {"n": TenantLogin("nocheck_user", lambda: password)}
    )
    who = Tenant(id="n", engine="pg")
    try:
        with engine.session(who) as session:
            pid = session.rows("select pg_backend_pid()")[0][0]
        db.one("select pg_terminate_backend(%s)", pid)
        wait_until(lambda: pid not in backends(db, "nocheck_user"), "the backend to exit")
        with engine.session(who) as session:
            reader = session.execute("select pg_backend_pid() as pid", None, 1024)
            assert reader.read_all().column("pid").to_pylist() != [pid]
    finally:
        engine.close()


def test_max_lifetime_and_idle_timeout(db: PgDatabase) -> None:
    password = db.role("life_user")
    pool = {"max_size": 3, "min_size": 1, "max_lifetime_seconds": 600, "idle_timeout_seconds": 0.5}
    engine = PostgresEngine(
        "pg", PostgresEngineConfig(**db.engine(pool=pool)), {"l": TenantLogin("life_user", lambda: password)}
    )
    who = Tenant(id="l", engine="pg")
    try:
        with engine.session(who), engine.session(who), engine.session(who):
            assert len(backends(db, "life_user")) == 3
        # Idle connections beyond min_size are closed by the pool's maintenance.
        wait_until(lambda: len(backends(db, "life_user")) == 1, "idle connections to close")
        assert engine.pool(who).size == 1
    finally:
        engine.close()
    wait_until(lambda: not backends(db, "life_user"), "close() to end every connection")

    short = {"max_size": 1, "max_lifetime_seconds": 0.3}
    engine = PostgresEngine(
        "pg", PostgresEngineConfig(**db.engine(pool=short)), {"l": TenantLogin("life_user", lambda: password)}
    )
    try:
        with engine.session(who) as session:
            first = session.rows("select pg_backend_pid()")[0][0]

        def replaced() -> bool:
            with engine.session(who) as session:
                return bool(session.rows("select pg_backend_pid()")[0][0] != first)

        wait_until(replaced, "a connection past max_lifetime to be replaced")
    finally:
        engine.close()
