"""A client that goes away mid-stream stops its query on the database at once, whatever the
producer's speed: the stream asks the call whether its client is still there while it waits for
the engine, instead of noticing only at its next write (a heartbeat later, or never).

Each engine runs a query that sends one batch quickly and then stalls (a row that sleeps, or a
scan that finds nothing more) with heartbeats far apart, so only that check can end it in time.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.flight as fl
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from engines.postgres.pg_support import pg_database, pg_gateway, tenant
from services import PostgresService

from auth import hash_password
from flight_gateway.jobs import Job, JobState, SqliteJobStore, fingerprint
from flight_gateway.protocol import flight_actions_pb2 as wire
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack
from flight_gateway.simulation.simulator import RedshiftSimulator

# So far apart that a stream noticing its client only when it writes a heartbeat fails the test.
HEARTBEAT_SECONDS = 600
# Generous for a loaded machine; the design bound is the stream's poll interval (0.1 s) plus
# the database's reaction to the cancel. Measured latencies are printed (pytest -s).
DEADLINE_SECONDS = 15.0


def _marker() -> str:
    return "gone_" + uuid.uuid4().hex[:12]


@dataclass
class Case:
    """A gateway, a tenant, a query that sends one batch and then stalls, and a way to see
    whether that query still runs on the database (None: the job record is the only witness)."""

    gateway: RunningGateway
    tenant: str
    stalling_query: Callable[[str], str]
    running_on_database: Callable[[str], bool] | None


def _duckdb_query(marker: str) -> str:
    # 65,536 rows (one batch) at once; then a scan of 10^13 rows that matches nothing.
    return f"select r as {marker}, r * 2 as v from range(10000000000000) t(r) where r < 100000 or hash(r) = 0"


def _pg_query(marker: str) -> str:
    # About 6 MB of rows (one batch: the driver cuts batches at 4 MB), then rows that sleep.
    return (
        f"select g as {marker}, repeat('x', 2000) as pad, "
        "case when g > 3072 then (select 1 from pg_sleep(600)) else 0 end as slept "
        "from generate_series(1, 100000) g"
    )


def _redshift_query(marker: str) -> str:
    # 100,000 rows (one batch of 65,536), then rows that sleep.
    return (
        f"select g as {marker}, case when g > 100000 then (select 1 from pg_sleep(600)) else 0 end as slept "
        "from generate_series(1, 1000000) g"
    )


def _active(connect: Callable[[], psycopg.Connection[Any]]) -> Callable[[str], bool]:
    def running(marker: str) -> bool:
        with connect() as conn:
            row = conn.execute(
                "select count(*) from pg_stat_activity where state = 'active' and query like %s "
                "and pid <> pg_backend_pid()",
                (f"%{marker}%",),
            ).fetchone()
        return bool(row and row[0])

    return running


@pytest.fixture(scope="module")
def duckdb_case(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    running = start_gateway(tmp_path_factory.mktemp("disconnect-duckdb"), heartbeat_seconds=HEARTBEAT_SECONDS)
    yield Case(running, "acme", _duckdb_query, None)
    running.gateway.shutdown()


@pytest.fixture(scope="module")
def postgres_case(postgres: PostgresService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    with pg_database(postgres, "disconnect") as db:
        password = db.role("disconnect_user")
        running = pg_gateway(
            tmp_path_factory.mktemp("disconnect-pg"),
            [db.engine()],
            [tenant("d", "disconnect_user", password)],
            heartbeat_seconds=HEARTBEAT_SECONDS,
            # The driver's first batch (4 MB) holds more rows than this, so it is sent at once.
            batch_rows=1024,
        )
        dsn = postgres.superuser_dsn.rsplit("/", 1)[0] + f"/{db.name}"
        try:
            yield Case(running, "d", _pg_query, _active(lambda: psycopg.connect(dsn, autocommit=True)))
        finally:
            running.gateway.shutdown()


@pytest.fixture(scope="module")
def redshift_case(redshift_sim: RedshiftSimulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    database = f"rsgone_{uuid.uuid4().hex[:8]}"
    redshift_sim.create_database(database)
    with redshift_sim.backend_connect(database) as conn:
        conn.execute("CREATE USER rs_gone PASSWORD 'Gone-pass1'")
    engine = {"name": "rs", "type": "redshift", "host": redshift_sim.host, "port": redshift_sim.port,
              "database": database, "sslmode": "disable"}  # fmt: skip
    running = start_gateway(
        tmp_path_factory.mktemp("disconnect-rs"),
        engines=[engine],
        tenants=[{"id": "r", "engine": "rs", "db_user": "rs_gone", "db_password": "Gone-pass1"}],
        users=[{"username": "r", "password_hash": hash_password(PASSWORD), "tenant": "r"}],
        demo=False,
        heartbeat_seconds=HEARTBEAT_SECONDS,
    )
    try:
        yield Case(running, "r", _redshift_query, _active(lambda: redshift_sim.backend_connect(database)))
    finally:
        running.gateway.shutdown()


@pytest.fixture(params=["duckdb", "postgres", "redshift"])
def case(request: pytest.FixtureRequest) -> Case:
    value: Case = request.getfixturevalue(f"{request.param}_case")
    return value


def _job(data_dir: Path, sql: str) -> Job | None:
    store = SqliteJobStore(data_dir / "jobs.sqlite3")
    try:
        wanted = fingerprint(sql)
        return next((j for j in store.list(limit=200) if j.fingerprint == wanted), None)
    finally:
        store.close()


def _wait(condition: Callable[[], bool], what: str) -> float:
    """Seconds until `condition` held (polled), or fail after the deadline."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > DEADLINE_SECONDS:
            raise AssertionError(f"{what} did not happen within {DEADLINE_SECONDS}s")
        time.sleep(0.02)
    return time.monotonic() - started


# A client in a process of its own, killed once it has read a batch: a crashed client.
_CLIENT = """
import sys
import pyarrow.flight as fl
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack
uri, user, password, sql = sys.argv[1:]
client = fl.FlightClient(uri)
options = fl.FlightCallOptions(headers=[client.authenticate_basic_token(user, password)])
info = client.get_flight_info(fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql))), options)
reader = client.do_get(info.endpoints[0].ticket, options)
while reader.read_chunk().data.num_rows == 0:
    pass
print(info.serialize().hex(), flush=True)
sys.stdin.read()
"""


class Client:
    """A client that has read one batch of `sql` (heartbeats skipped) and then leaves as told."""

    def __init__(self, case: Case, sql: str, leave: str) -> None:
        self._leave = leave
        self._reader: fl.FlightStreamReader | None = None
        if leave == "killed":
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
                [sys.executable, "-c", _CLIENT, case.gateway.uri, case.tenant, PASSWORD, sql],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert self._process.stdout is not None
            line = self._process.stdout.readline()
            assert line.strip(), "the client process failed before reading a batch"
            self.info = fl.FlightInfo.deserialize(bytes.fromhex(line.strip()))
            return
        self._client, options = case.gateway.flight_client(case.tenant)
        descriptor = fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql)))
        self.info = self._client.get_flight_info(descriptor, options)
        self._reader = self._client.do_get(self.info.endpoints[0].ticket, options)
        while self._reader.read_chunk().data.num_rows == 0:
            pass

    def leave(self) -> None:
        if self._leave == "killed":
            self._process.kill()
            self._process.wait(timeout=30)
            return
        assert self._reader is not None
        if self._leave == "cancel-then-close":
            self._reader.cancel()
        self._client.close()
        # pyarrow's close() leaves a live stream's call open while its reader is referenced (the
        # server cannot tell that client from a slow one); releasing the reader ends the call.
        self._reader = None

    def close(self) -> None:
        if self._leave == "killed" and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=30)


def _cancel(case: Case, info: fl.FlightInfo) -> None:
    """After a failure, stop the stalled query the way an operator would, so teardown is quick."""
    client, options = case.gateway.flight_client(case.tenant)
    try:
        body = wire.CancelFlightInfoRequest(info=info.serialize()).SerializeToString()
        list(client.do_action(fl.Action("CancelFlightInfo", body), options))
    finally:
        client.close()


@pytest.mark.parametrize("leave", ["cancel-then-close", "close-and-drop", "killed"])
def test_a_disconnected_clients_stalled_query_is_cancelled_at_once(case: Case, leave: str) -> None:
    marker = _marker()
    sql = case.stalling_query(marker)
    client = Client(case, sql, leave)
    try:
        running_on_database = case.running_on_database
        if running_on_database is not None:
            _wait(lambda: running_on_database(marker), "the query showing in pg_stat_activity")
        job = _job(case.gateway.data_dir, sql)
        assert job is not None and job.state is JobState.RUNNING, job

        gone_at = time.monotonic()
        client.leave()
        if running_on_database is not None:
            latency = _wait(lambda: not running_on_database(marker), "the query leaving pg_stat_activity")
            print(f"\n{case.tenant}/{leave}: query gone from the database after {latency:.3f}s")

        def finished() -> bool:
            record = _job(case.gateway.data_dir, sql)
            return record is not None and record.state.finished

        _wait(finished, "the job ending")
        print(f"\n{case.tenant}/{leave}: job finished after {time.monotonic() - gone_at:.3f}s")
        job = _job(case.gateway.data_dir, sql)
        assert job is not None
        assert (job.state, job.error_code) == (JobState.CANCELLED, "CLIENT_DISCONNECTED"), job
    except BaseException:
        _cancel(case, client.info)
        raise
    finally:
        client.close()
