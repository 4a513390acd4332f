"""statement_timeout_seconds on every engine (DuckDB, PostgreSQL, the Redshift simulator), through
pyarrow.flight and ADBC: before the first batch, mid-stream (a batch read, then the deadline), and
for an update. The gateway's watchdog reads the gateway's clock, which the test moves past the
deadline; the database's own statement_timeout (the same 300 s on PostgreSQL and Redshift) never
comes due, so what stops the statement is the watchdog, and the client must still see
DEADLINE_EXCEEDED / STATEMENT_TIMEOUT (not a cancel), with the job FAILED with that code."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow.flight as fl
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from engines.postgres.pg_support import pg_database, pg_gateway, tenant
from job_actions_support import wait_for
from manual_clock import ManualClock
from services import PostgresService

from auth import hash_password
from flight_gateway.jobs import Job, JobState, fingerprint
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack
from flight_gateway.simulation.simulator import RedshiftSimulator

TIMEOUT = 300.0
LIMITS = {"statement_timeout_seconds": TIMEOUT}


@dataclass
class Case:
    gateway: RunningGateway
    clock: ManualClock
    tenant: str
    endless: Callable[[str], str]  # never produces a first batch
    stalling: Callable[[str], str]  # one batch at once, then nothing
    update: Callable[[str], str]  # an update that never ends


def _marker() -> str:
    return "t_" + uuid.uuid4().hex[:12]


def _pg_endless(marker: str) -> str:
    return f"select 1 as {marker} from pg_sleep(600)"


@pytest.fixture(scope="module")
def duckdb_case(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    clock = ManualClock()
    users = [{"username": "d", "password_hash": hash_password(PASSWORD), "tenant": "d"}]
    running = start_gateway(
        tmp_path_factory.mktemp("timeout-duckdb"), clock=clock, demo=False,
        tenants=[{"id": "d", "limits": LIMITS}], users=users,
    )  # fmt: skip
    yield Case(
        running, clock, "d",
        lambda m: f"select count(*) as {m} from range(10000000000000) t(r) where hash(r) = 0",
        # 65,536 rows (one batch) at once; then a scan of 10^13 rows that matches nothing.
        lambda m: f"select r as {m} from range(10000000000000) t(r) where r < 100000 or hash(r) = 0",
        lambda m: f"create table {m} as select count(*) as n from range(10000000000000) t(r) where hash(r) = 0",
    )  # fmt: skip
    _stop(running)


@pytest.fixture(scope="module")
def postgres_case(postgres: PostgresService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    clock = ManualClock()
    with pg_database(postgres, "timeouts") as db:
        db.sql("create table sink (x int)")
        password = db.role("timeout_user", grants=["grant insert on sink to timeout_user"])
        running = pg_gateway(
            tmp_path_factory.mktemp("timeout-pg"), [db.engine()],
            [tenant("p", "timeout_user", password, limits=LIMITS)], clock=clock, batch_rows=1024,
        )  # fmt: skip
        try:
            yield Case(
                running, clock, "p", _pg_endless,
                # About 6 MB of rows (one batch: the driver cuts batches at 4 MB), then rows that sleep.
                lambda m: f"select g as {m}, repeat('x', 2000) as pad, "
                "case when g > 3072 then (select 1 from pg_sleep(600)) else 0 end as slept "
                "from generate_series(1, 100000) g",
                lambda m: f"insert into sink select 1 from pg_sleep(600) as {m}",
            )  # fmt: skip
        finally:
            _stop(running)


@pytest.fixture(scope="module")
def redshift_case(redshift_sim: RedshiftSimulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    clock = ManualClock()
    database = f"rstime_{uuid.uuid4().hex[:8]}"
    redshift_sim.create_database(database)
    with redshift_sim.backend_connect(database) as conn:
        for statement in (
            "CREATE USER rs_timeout PASSWORD 'Timeout-pass1'",
            "CREATE TABLE public.sink (x int)",
            "GRANT INSERT ON public.sink TO rs_timeout",
        ):
            conn.execute(statement)  # type: ignore[arg-type]  # test SQL, literal
    engine = {"name": "rs", "type": "redshift", "host": redshift_sim.host, "port": redshift_sim.port,
              "database": database, "sslmode": "disable"}  # fmt: skip
    running = start_gateway(
        tmp_path_factory.mktemp("timeout-rs"), clock=clock, engines=[engine], demo=False,
        tenants=[
            {"id": "r", "engine": "rs", "db_user": "rs_timeout", "db_password": "Timeout-pass1", "limits": LIMITS}
        ],
        users=[{"username": "r", "password_hash": hash_password(PASSWORD), "tenant": "r"}],
    )  # fmt: skip
    yield Case(
        running, clock, "r", _pg_endless,
        # 100,000 rows (one batch of 65,536), then rows that sleep.
        lambda m: f"select g as {m}, case when g > 100000 then (select 1 from pg_sleep(600)) else 0 end as slept "
        "from generate_series(1, 1000000) g",
        lambda m: f"insert into sink select 1 from pg_sleep(600) as {m}",
    )  # fmt: skip
    _stop(running)


def _stop(running: RunningGateway) -> None:
    """A failed test may leave a statement running; the server waits for its calls to end."""
    executor = running.gateway.executor
    assert executor is not None
    for job in running.gateway.jobs.list(limit=1000):
        if not job.state.finished:
            executor.cancel(job.tenant, job.id)
    running.gateway.shutdown()


@pytest.fixture(params=["duckdb", "postgres", "redshift"])
def case(request: pytest.FixtureRequest) -> Case:
    value: Case = request.getfixturevalue(f"{request.param}_case")
    return value


def _job(case: Case, sql: str) -> Job | None:
    wanted = fingerprint(sql)
    return next((j for j in case.gateway.gateway.jobs.list(case.tenant, 200) if j.fingerprint == wanted), None)


def _when_running(case: Case, sql: str) -> None:
    """Wait until the statement runs, then move the gateway's clock past its deadline."""
    wait_for(lambda: (job := _job(case, sql)) is not None and job.state is JobState.RUNNING, "the statement to run")
    case.clock.advance(TIMEOUT + 1)


def _timed_out(case: Case, sql: str) -> None:
    job = wait_for(lambda: (j := _job(case, sql)) is not None and j.state.finished and j, "the job to end")
    assert (job.state, job.error_code) == (JobState.FAILED, "STATEMENT_TIMEOUT"), job
    assert job.error_message is not None and "statement timeout" in job.error_message


class _Background:
    """Runs `work` on a thread and keeps what it raised."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self.error: BaseException | None = None
        self._work = work
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._work()
        except BaseException as exc:
            self.error = exc

    def result(self) -> BaseException | None:
        self._thread.join(timeout=120)
        assert not self._thread.is_alive(), "the call never ended"
        return self.error


def _flight_reader(case: Case, sql: str) -> tuple[fl.FlightClient, fl.FlightStreamReader]:
    client, options = case.gateway.flight_client(case.tenant)
    info = client.get_flight_info(fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql))), options)
    return client, client.do_get(info.endpoints[0].ticket, options)


def _read_to_the_end(reader: fl.FlightStreamReader) -> int:
    # read_chunk, not read_all: pyarrow answers a cancelled read_all with a KeyboardInterrupt.
    rows = 0
    while True:
        try:
            rows += reader.read_chunk().data.num_rows
        except StopIteration:
            return rows


def test_before_the_first_batch_through_pyarrow(case: Case) -> None:
    sql = case.endless(_marker())
    client, reader = _flight_reader(case, sql)
    with client:
        reading = _Background(lambda: _read_to_the_end(reader))
        _when_running(case, sql)
        failure = reading.result()
    assert isinstance(failure, fl.FlightTimedOutError), repr(failure)
    assert "STATEMENT_TIMEOUT" in str(failure) and f"{TIMEOUT:g} s" in str(failure)
    _timed_out(case, sql)


def test_before_the_first_batch_through_adbc(case: Case) -> None:
    sql = case.endless(_marker())
    with case.gateway.connect(case.tenant) as conn, conn.cursor() as cur:

        def run() -> None:
            cur.execute(sql)
            cur.fetchall()

        running = _Background(run)
        _when_running(case, sql)
        failure = running.result()
    assert isinstance(failure, flight_sql.Error), repr(failure)
    assert failure.status_code == adbc_driver_manager.AdbcStatusCode.TIMEOUT
    assert "STATEMENT_TIMEOUT" in str(failure)
    _timed_out(case, sql)


def test_mid_stream_through_pyarrow(case: Case) -> None:
    sql = case.stalling(_marker())
    client, reader = _flight_reader(case, sql)
    with client:
        while reader.read_chunk().data.num_rows == 0:  # heartbeats carry no rows
            pass
        case.clock.advance(TIMEOUT + 1)
        with pytest.raises(fl.FlightTimedOutError, match="STATEMENT_TIMEOUT"):
            _read_to_the_end(reader)
    _timed_out(case, sql)
    job = _job(case, sql)
    assert job is not None and job.rows is not None and job.rows > 0  # what was sent is counted


def test_mid_stream_through_adbc(case: Case) -> None:
    sql = case.stalling(_marker())
    with case.gateway.connect(case.tenant) as conn, conn.cursor() as cur:
        cur.execute(sql)
        batches = cur.fetch_record_batch()
        assert batches.read_next_batch().num_rows > 0
        case.clock.advance(TIMEOUT + 1)
        with pytest.raises(Exception, match="STATEMENT_TIMEOUT"):  # the driver's reader: an OSError
            while True:
                batches.read_next_batch()
    _timed_out(case, sql)


def test_an_update_times_out(case: Case) -> None:
    sql = case.update(_marker())
    with case.gateway.connect(case.tenant) as conn, conn.cursor() as cur:
        running = _Background(lambda: cur.execute(sql))
        _when_running(case, sql)
        failure = running.result()
    assert isinstance(failure, flight_sql.Error) and "STATEMENT_TIMEOUT" in str(failure), repr(failure)
    assert failure.status_code == adbc_driver_manager.AdbcStatusCode.TIMEOUT
    _timed_out(case, sql)


def test_a_statement_within_its_timeout_is_untouched(case: Case) -> None:
    marker = _marker()
    with case.gateway.connect(case.tenant) as conn, conn.cursor() as cur:
        cur.execute(f"select 7 as {marker}")
        assert cur.fetchall() == [(7,)]
    case.clock.advance(TIMEOUT + 1)  # long after it ended: nothing left to interrupt
    assert case.gateway.gateway.executor.watchdog.pending() == 0  # type: ignore[union-attr]
