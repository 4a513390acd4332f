"""max_concurrent_statements on PostgreSQL and the Redshift simulator, through real clients
(pyarrow.flight and ADBC): with one slot and room for one waiter, a second statement waits QUEUED
(first in line in GetJob), a third is refused at once with QUEUE_FULL and a retry hint, and when
the first finishes the second runs and returns its rows; a statement that waits longer than
queue_timeout_seconds (by the gateway's injected clock) fails QUEUE_TIMEOUT while the statement
holding the slot carries on. DuckDB's side is tests/service/test_statement_slots.py.

A statement holds the slot by waiting, inside the database, on an advisory lock the test holds
(the "gate"): it finishes normally, with its rows, when the test opens the gate, and the test can
see in pg_locks that it really is waiting there.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import psycopg
import pyarrow.flight as fl
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from engines.postgres.pg_support import pg_database, pg_gateway, tenant
from job_actions_support import job_action, wait_for
from manual_clock import ManualClock
from services import PostgresService

from auth import hash_password
from flight_gateway.jobs import Job, JobState, fingerprint
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack
from flight_gateway.service.slots import StatementSlots
from flight_gateway.simulation.simulator import RedshiftSimulator

QUEUE_TIMEOUT = 20.0
LIMITS = {"max_concurrent_statements": 1, "max_queued_statements": 1, "queue_timeout_seconds": QUEUE_TIMEOUT}
GATE_KEY = 911_011  # the advisory lock the holding statement waits on


class Gate:
    """An advisory lock held by the test on a superuser connection to the tenant's database."""

    def __init__(self, control: psycopg.Connection[Any]) -> None:
        self._control = control

    @contextmanager
    def closed(self) -> Iterator[None]:
        """Statements through `held` wait in the database until the block ends (even if it fails)."""
        self._control.execute("select pg_advisory_lock(%s)", (GATE_KEY,))
        try:
            yield
        finally:
            self._control.execute("select pg_advisory_unlock(%s)", (GATE_KEY,))

    def waiting(self) -> int:
        """How many sessions wait on the gate in the database."""
        row = self._control.execute(
            "select count(*) from pg_locks where locktype = 'advisory' and objid = %s and not granted", (GATE_KEY,)
        ).fetchone()
        return int(row[0]) if row else 0


@dataclass
class Case:
    gateway: RunningGateway
    clock: ManualClock
    tenant: str
    gate: Gate

    @property
    def slots(self) -> StatementSlots:
        executor = self.gateway.gateway.executor
        assert executor is not None
        return executor.slots


def _marker() -> str:
    return "s_" + uuid.uuid4().hex[:12]


def held(marker: str) -> str:
    """Three rows, once the gate opens (the transaction-level lock goes with the statement)."""
    gate = f"(select pg_advisory_xact_lock_shared({GATE_KEY})) gate"
    return f"select g as {marker} from generate_series(1, 3) g cross join {gate}"


def quick(marker: str) -> str:
    return f"select g * 10 as {marker} from generate_series(1, 4) g"


@pytest.fixture(scope="module")
def postgres_case(postgres: PostgresService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    clock = ManualClock()
    with pg_database(postgres, "slots") as db:
        password = db.role(f"slots_{uuid.uuid4().hex[:8]}")
        running = pg_gateway(
            tmp_path_factory.mktemp("slots-pg"), [db.engine()],
            [tenant("p", db.roles[-1], password, limits=LIMITS)], clock=clock,
        )  # fmt: skip
        try:
            yield Case(running, clock, "p", Gate(db.admin))
        finally:
            _stop(running)


@pytest.fixture(scope="module")
def redshift_case(redshift_sim: RedshiftSimulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    clock = ManualClock()
    database, user = f"rsslots_{uuid.uuid4().hex[:8]}", f"rs_slots_{uuid.uuid4().hex[:8]}"
    redshift_sim.create_database(database)
    with redshift_sim.backend_connect(database) as control:
        control.execute(f"CREATE USER {user} PASSWORD 'Slots-pass1'")
        engine = {"name": "rs", "type": "redshift", "host": redshift_sim.host, "port": redshift_sim.port,
                  "database": database, "sslmode": "disable"}  # fmt: skip
        running = start_gateway(
            tmp_path_factory.mktemp("slots-rs"), clock=clock, engines=[engine], demo=False,
            tenants=[{"id": "r", "engine": "rs", "db_user": user, "db_password": "Slots-pass1", "limits": LIMITS}],
            users=[{"username": "r", "password_hash": hash_password(PASSWORD), "tenant": "r"}],
        )  # fmt: skip
        try:
            yield Case(running, clock, "r", Gate(control))
        finally:
            _stop(running)


def _stop(running: RunningGateway) -> None:
    """A failed test may leave a statement waiting; the server waits for its calls to end."""
    executor = running.gateway.executor
    assert executor is not None
    for job in running.gateway.jobs.list(limit=1000):
        if not job.state.finished:
            executor.cancel(job.tenant, job.id)
    running.gateway.shutdown()


@pytest.fixture(params=["postgres", "redshift"])
def case(request: pytest.FixtureRequest) -> Iterator[Case]:
    value: Case = request.getfixturevalue(f"{request.param}_case")
    yield value
    # Whatever happened, every statement has given its slot back before the next test.
    wait_for(lambda: value.slots.in_use(value.tenant) == (0, 0), "every slot given back")


def _job(case: Case, sql: str) -> Job | None:
    wanted = fingerprint(sql)
    return next((j for j in case.gateway.gateway.jobs.list(case.tenant, 200) if j.fingerprint == wanted), None)


def _record(case: Case, sql: str) -> Job:
    job = _job(case, sql)
    assert job is not None, sql
    return job


class FlightStatement:
    """One query through pyarrow.flight: planned at once (its job is QUEUED), read on a thread."""

    def __init__(self, case: Case, sql: str) -> None:
        self.client, self.options = case.gateway.flight_client(case.tenant)
        descriptor = fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql)))
        self.info = self.client.get_flight_info(descriptor, self.options)
        self.job_id = _record(case, sql).id
        self.values: list[Any] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        # read_chunk, not read_all: pyarrow turns a CANCELLED status met inside read_all on a thread
        # into a KeyboardInterrupt of the main thread.
        try:
            reader = self.client.do_get(self.info.endpoints[0].ticket, self.options)
            while True:
                try:
                    chunk = reader.read_chunk()
                except StopIteration:
                    return
                if chunk.data is not None and chunk.data.num_rows:
                    self.values.extend(chunk.data.column(0).to_pylist())
        except BaseException as exc:
            self.error = exc

    def job(self) -> dict[str, Any]:
        return job_action(self.client, self.options, "GetJob", {"job_id": self.job_id})  # type: ignore[no-any-return]

    def ended(self) -> BaseException | None:
        self._thread.join(timeout=120)
        assert not self._thread.is_alive(), "the statement's stream never ended"
        self.client.close()
        return self.error


class AdbcStatement:
    """One query through ADBC (execute, fetch) on a thread of its own, with its own connection."""

    def __init__(self, case: Case, sql: str) -> None:
        self.rows: list[tuple[Any, ...]] | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(case, sql), daemon=True)
        self._thread.start()

    def _run(self, case: Case, sql: str) -> None:
        try:
            with case.gateway.connect(case.tenant) as conn, conn.cursor() as cur:
                cur.execute(sql)
                self.rows = cur.fetchall()
        except BaseException as exc:
            self.error = exc

    def ended(self) -> BaseException | None:
        self._thread.join(timeout=120)
        assert not self._thread.is_alive(), "the statement never ended"
        return self.error


def _adbc(case: Case, sql: str) -> list[tuple[Any, ...]]:
    with case.gateway.connect(case.tenant) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def _waiting_first(case: Case, sql: str) -> Callable[[], Job | None]:
    """A probe: the statement's job, once it waits first in its tenant's queue."""

    def probe() -> Job | None:
        job = _job(case, sql)
        return job if job is not None and case.slots.position(job.id) == 1 else None

    return probe


def test_a_second_statement_queues_a_third_is_refused_and_the_second_runs_when_the_first_ends(case: Case) -> None:
    holder_sql, waiter_sql = held(_marker()), quick(_marker())
    with case.gate.closed():
        holder = FlightStatement(case, holder_sql)
        wait_for(lambda: case.gate.waiting() == 1, "the first statement to wait on the gate in the database")
        record = _record(case, holder_sql)
        assert (record.state, record.admission, record.queued_ms) == (JobState.RUNNING, "admitted", 0)

        waiter = FlightStatement(case, waiter_sql)
        view = wait_for(lambda: (j := waiter.job()).get("queue_position") == 1 and j, "the second statement to queue")
        assert view["state"] == "QUEUED"

        # The queue is full: the third is refused at once, through either client, with a retry hint.
        refused_sql = quick(_marker())
        with pytest.raises(flight_sql.Error) as refused:
            _adbc(case, refused_sql)
        assert refused.value.status_code == adbc_driver_manager.AdbcStatusCode.IO  # UNAVAILABLE on the wire
        assert "error_code=QUEUE_FULL" in str(refused.value), refused.value
        assert "max_queued_statements" in str(refused.value) and "; retry after 2 s" in str(refused.value)
        record = _record(case, refused_sql)
        assert (record.state, record.error_code, record.admission, record.queued_ms) == (
            JobState.FAILED, "QUEUE_FULL", "refused", 0,
        )  # fmt: skip
        also_refused = FlightStatement(case, quick(_marker()))
        failure = also_refused.ended()
        assert isinstance(failure, fl.FlightUnavailableError), repr(failure)
        assert "error_code=QUEUE_FULL" in str(failure) and "retry after" in str(failure)

        case.clock.advance(1.5)  # the second has waited 1.5 s by the gateway's clock
        assert waiter.job()["queue_position"] == 1 and _record(case, holder_sql).state is JobState.RUNNING
    # The gate opens: the first finishes with its rows, and the second takes the slot and runs.
    assert holder.ended() is None and holder.values == [1, 2, 3]
    assert waiter.ended() is None and waiter.values == [10, 20, 30, 40]
    record = _record(case, holder_sql)
    assert (record.state, record.rows, record.admission) == (JobState.SUCCEEDED, 3, "admitted")
    record = _record(case, waiter_sql)
    assert (record.state, record.rows, record.admission, record.queued_ms) == (JobState.SUCCEEDED, 4, "queued", 1500)


def test_a_statement_queued_past_queue_timeout_fails_and_the_holder_carries_on(case: Case) -> None:
    holder_sql, expiring_sql, next_sql = held(_marker()), quick(_marker()), quick(_marker())
    with case.gate.closed():
        holder = AdbcStatement(case, holder_sql)
        wait_for(lambda: case.gate.waiting() == 1, "the first statement to wait on the gate in the database")
        expiring = AdbcStatement(case, expiring_sql)
        job = wait_for(_waiting_first(case, expiring_sql), "the second statement to queue")
        assert job.state is JobState.QUEUED

        case.clock.advance(QUEUE_TIMEOUT + 1)
        failure = expiring.ended()
        assert isinstance(failure, flight_sql.Error), repr(failure)
        assert failure.status_code == adbc_driver_manager.AdbcStatusCode.IO  # UNAVAILABLE on the wire
        assert "error_code=QUEUE_TIMEOUT" in str(failure) and "retry after" in str(failure), failure
        record = _record(case, expiring_sql)
        assert (record.state, record.error_code, record.admission, record.queued_ms) == (
            JobState.FAILED, "QUEUE_TIMEOUT", "refused", int((QUEUE_TIMEOUT + 1) * 1000),
        )  # fmt: skip
        assert case.slots.position(record.id) is None

        # The holder is untouched: still waiting on the gate, its job RUNNING; the queue has room again.
        assert case.gate.waiting() == 1 and _record(case, holder_sql).state is JobState.RUNNING
        following = FlightStatement(case, next_sql)
        wait_for(lambda: following.job().get("queue_position") == 1, "the next statement to queue")
    assert holder.ended() is None and holder.rows == [(1,), (2,), (3,)]
    assert following.ended() is None and following.values == [10, 20, 30, 40]
    record = _record(case, next_sql)
    assert (record.state, record.admission, record.queued_ms) == (JobState.SUCCEEDED, "queued", 0)

    # Afterwards the slot is free: a statement runs at once.
    wait_for(lambda: case.slots.in_use(case.tenant) == (0, 0), "the slot given back")
    after_sql = quick(_marker())
    assert _adbc(case, after_sql) == [(10,), (20,), (30,), (40,)]
    record = _record(case, after_sql)
    assert (record.state, record.admission, record.queued_ms) == (JobState.SUCCEEDED, "admitted", 0)
