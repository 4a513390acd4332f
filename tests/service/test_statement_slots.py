"""max_concurrent_statements through real clients (pyarrow.flight and ADBC) on DuckDB: a FIFO queue
whose jobs stay QUEUED with their position in GetJob, QUEUE_FULL and QUEUE_TIMEOUT (by the gateway's
injected clock) with retry hints, cancelled waiters leaving at once, the decision in the job record
and the log, and slots that are never leaked whatever happens to the statements holding them."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow.flight as fl
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from job_actions_support import job_action, tag, wait_for
from manual_clock import ManualClock

from auth import hash_password
from flight_gateway.jobs import Job, JobState
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack

# A scan of 10^13 rows that matches nothing: runs until it is stopped.
ENDLESS = "select count(*) as n_{} from range(10000000000000) t(r) where hash(r) = 0"
TENANTS = [
    {"id": "busy", "limits": {"max_concurrent_statements": 2, "max_queued_statements": 2}},
    {"id": "other"},
]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def gw(tmp_path: Path, clock: ManualClock) -> Iterator[RunningGateway]:
    users = [{"username": t["id"], "password_hash": hash_password(PASSWORD), "tenant": t["id"]} for t in TENANTS]
    running = start_gateway(tmp_path, clock=clock, demo=False, tenants=TENANTS, users=users)
    yield running
    # A failed test leaves endless statements behind; the server waits for its calls to end.
    executor = running.gateway.executor
    assert executor is not None
    for tenant in TENANTS:
        for job in running.gateway.jobs.list(str(tenant["id"]), 1000):
            if not job.state.finished:
                executor.cancel(job.tenant, job.id)
    running.gateway.shutdown()


class Statement:
    """One query through pyarrow.flight: planned at once (its job is QUEUED), read on a thread."""

    def __init__(self, gw: RunningGateway, tenant: str, sql: str) -> None:
        self.client, self.options = gw.flight_client(tenant)
        descriptor = fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql)))
        self.info = self.client.get_flight_info(descriptor, self.options)
        self.job_id = _job_id(gw, tenant, sql)
        self.error: BaseException | None = None
        self.rows: int | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        # read_chunk, not read_all: pyarrow turns a CANCELLED status met inside read_all into a
        # KeyboardInterrupt of the main thread (its signal handling), which would end the test.
        rows = 0
        try:
            reader = self.client.do_get(self.info.endpoints[0].ticket, self.options)
            while True:
                try:
                    chunk = reader.read_chunk()
                except StopIteration:
                    break
                rows += chunk.data.num_rows
            self.rows = rows
        except BaseException as exc:
            self.error = exc

    def job(self) -> dict[str, Any]:
        return job_action(self.client, self.options, "GetJob", {"job_id": self.job_id})  # type: ignore[no-any-return]

    def cancel(self) -> dict[str, Any]:
        return job_action(self.client, self.options, "CancelJob", {"job_id": self.job_id})  # type: ignore[no-any-return]

    def ended(self) -> BaseException | None:
        self._thread.join(timeout=120)
        assert not self._thread.is_alive(), "the statement's stream never ended"
        self.client.close()
        return self.error


def _job_id(gw: RunningGateway, tenant: str, sql: str) -> str:
    from flight_gateway.jobs import fingerprint

    [job] = [j for j in gw.gateway.jobs.list(tenant, 1000) if j.fingerprint == fingerprint(sql)]
    return job.id


def _state(gw: RunningGateway, job_id: str) -> Job:
    job = gw.gateway.jobs.get(job_id)
    assert job is not None
    return job


def _running(gw: RunningGateway, *statements: Statement) -> Callable[[], bool]:
    return lambda: all(_state(gw, s.job_id).state is JobState.RUNNING for s in statements)


def test_excess_statements_wait_in_order_and_the_queue_has_a_bound(
    gw: RunningGateway, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flight_gateway.admission")
    first, second = Statement(gw, "busy", ENDLESS.format(tag())), Statement(gw, "busy", ENDLESS.format(tag()))
    wait_for(_running(gw, first, second), "two statements holding both slots")
    third = Statement(gw, "busy", ENDLESS.format(tag()))
    wait_for(lambda: third.job().get("queue_position") == 1, "the third statement to wait first in line")
    fourth = Statement(gw, "busy", ENDLESS.format(tag()))
    wait_for(lambda: fourth.job().get("queue_position") == 2, "the fourth statement to wait behind it")
    assert third.job()["state"] == "QUEUED" and fourth.job()["state"] == "QUEUED"

    # The queue is full: the fifth is refused at once, with a retry hint, and recorded.
    fifth = Statement(gw, "busy", ENDLESS.format(tag()))
    refused = fifth.ended()
    assert isinstance(refused, fl.FlightError) and "QUEUE_FULL" in str(refused), refused
    assert "max_queued_statements" in str(refused) and "; retry after 2 s" in str(refused)
    record = _state(gw, fifth.job_id)
    assert (record.state, record.error_code, record.admission, record.queued_ms) == (
        JobState.FAILED, "QUEUE_FULL", "refused", 0,
    )  # fmt: skip

    # Another tenant is not held up by this one's queue.
    with gw.connect("other") as conn, conn.cursor() as cur:
        cur.execute("select 42 as answer")
        assert cur.fetchall() == [(42,)]

    # A slot frees: the head of the queue takes it, never the one behind.
    clock.advance(2.5)
    assert first.cancel()["status"] == "CANCELLING"
    assert isinstance(first.ended(), fl.FlightCancelledError)
    wait_for(_running(gw, third), "the first in line to take the freed slot")
    assert fourth.job()["queue_position"] == 1 and fourth.job()["state"] == "QUEUED"
    started = _state(gw, third.job_id)
    assert started.admission == "queued" and started.queued_ms == 2500

    # The one still waiting times out by the gateway's clock (30 s by default): QUEUE_TIMEOUT.
    clock.advance(30)
    timed_out = fourth.ended()
    assert isinstance(timed_out, fl.FlightError) and "QUEUE_TIMEOUT" in str(timed_out), timed_out
    assert "retry after" in str(timed_out)
    record = _state(gw, fourth.job_id)
    assert (record.state, record.error_code, record.admission) == (JobState.FAILED, "QUEUE_TIMEOUT", "refused")
    assert record.queued_ms is not None and record.queued_ms >= 30_000
    assert gw.gateway.executor.slots.position(fourth.job_id) is None  # type: ignore[union-attr]

    for statement in (second, third):
        statement.cancel()
        assert isinstance(statement.ended(), fl.FlightCancelledError)
    lines = [r.getMessage() for r in caplog.records if r.name == "flight_gateway.admission"]
    assert f"admission tenant=busy job={third.job_id} decision=queued code=- queued_ms=2500" in lines
    assert f"admission tenant=busy job={fifth.job_id} decision=refused code=QUEUE_FULL queued_ms=0" in lines
    assert any(f"job={first.job_id} decision=admitted code=- queued_ms=0" in line for line in lines)
    assert not any("range(" in line for line in lines)  # never SQL text


def test_a_cancelled_waiter_leaves_the_queue_at_once(gw: RunningGateway) -> None:
    holders = [Statement(gw, "busy", ENDLESS.format(tag())) for _ in range(2)]
    wait_for(_running(gw, *holders), "both slots taken")
    waiter = Statement(gw, "busy", ENDLESS.format(tag()))
    behind = Statement(gw, "busy", ENDLESS.format(tag()))
    wait_for(lambda: behind.job().get("queue_position") == 2, "two statements waiting")
    assert waiter.cancel()["status"] == "CANCELLED"
    assert isinstance(waiter.ended(), fl.FlightCancelledError)
    assert behind.job()["queue_position"] == 1  # moved up at once
    record = _state(gw, waiter.job_id)
    assert (record.state, record.admission) == (JobState.CANCELLED, "cancelled")
    for statement in (behind, *holders):
        statement.cancel()
        statement.ended()


def test_slots_are_never_leaked(gw: RunningGateway, clock: ManualClock) -> None:
    """Failures, cancels, timeouts in the queue and clients that leave mid-stream all give their
    slot back: afterwards both slots can be held at once again, and the third statement waits."""
    slots = gw.gateway.executor.slots  # type: ignore[union-attr]
    for round_ in range(3):
        # Errors at run time (ADBC), each through a slot.
        with gw.connect("busy") as conn:
            for _ in range(4):
                with conn.cursor() as cur, pytest.raises(flight_sql.Error, match="boom"):
                    cur.execute(f"select error('boom {round_}') as e_{tag()}")
                    cur.fetchall()
        # A client that reads one batch of a long result and goes away.
        client, options = gw.flight_client("busy")
        info = client.get_flight_info(
            fl.FlightDescriptor.for_command(
                pack(pb.CommandStatementQuery(query=f"select * from range(100000000) r_{tag()}"))
            ),
            options,
        )
        reader = client.do_get(info.endpoints[0].ticket, options)
        reader.read_chunk()
        reader.cancel()  # the client goes away mid-stream
        client.close()
        # Two running and cancelled; one waiting and cancelled; one waiting until it times out.
        holders = [Statement(gw, "busy", ENDLESS.format(tag())) for _ in range(2)]
        wait_for(_running(gw, *holders), "both slots taken")
        cancelled, expiring = Statement(gw, "busy", ENDLESS.format(tag())), Statement(gw, "busy", ENDLESS.format(tag()))
        wait_for(lambda: expiring.job().get("queue_position") == 2, "two waiting")  # noqa: B023 - called at once
        cancelled.cancel()
        clock.advance(31)
        assert "QUEUE_TIMEOUT" in str(expiring.ended())
        assert isinstance(cancelled.ended(), fl.FlightCancelledError)
        for holder in holders:
            holder.cancel()
            holder.ended()
        wait_for(lambda: slots.in_use("busy") == (0, 0), "every slot given back")

    holders = [Statement(gw, "busy", ENDLESS.format(tag())) for _ in range(2)]
    wait_for(_running(gw, *holders), "both slots usable again")
    third = Statement(gw, "busy", ENDLESS.format(tag()))
    wait_for(lambda: third.job().get("queue_position") == 1, "the third waits: still exactly two slots")
    for statement in (third, *holders):
        statement.cancel()
        statement.ended()
    wait_for(lambda: slots.in_use("busy") == (0, 0), "every slot given back")


def test_updates_take_slots_too(gw: RunningGateway) -> None:
    """DDL/DML through ADBC wait for a slot like queries (the job is QUEUED meanwhile)."""
    holders = [Statement(gw, "busy", ENDLESS.format(tag())) for _ in range(2)]
    wait_for(_running(gw, *holders), "both slots taken")
    table = f"t_{tag()}"
    done: list[int] = []

    def create() -> None:
        with gw.connect("busy") as conn, conn.cursor() as cur:
            cur.execute(f"create table {table} as select 1 as x")
            done.append(1)

    worker = threading.Thread(target=create, daemon=True)
    worker.start()
    waiting = wait_for(
        lambda: next((j for j in gw.gateway.jobs.list("busy", 100) if j.kind == "ddl" and not j.state.finished), None),
        "the DDL statement to wait",
    )
    assert waiting.state is JobState.QUEUED
    wait_for(lambda: gw.gateway.executor.slots.position(waiting.id) == 1, "the DDL first in line")  # type: ignore[union-attr]
    holders[0].cancel()
    holders[0].ended()
    worker.join(timeout=120)
    assert done == [1]
    finished = _state(gw, waiting.id)
    assert finished.state is JobState.SUCCEEDED and finished.admission == "queued"
    holders[1].cancel()
    holders[1].ended()


# A client in a process of its own: plans the query, says so, then waits in DoGet until killed.
_WAITING_CLIENT = """
import sys
import pyarrow.flight as fl
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack
uri, user, password, sql = sys.argv[1:]
client = fl.FlightClient(uri)
options = fl.FlightCallOptions(headers=[client.authenticate_basic_token(user, password)])
info = client.get_flight_info(fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql))), options)
print("planned", flush=True)
client.do_get(info.endpoints[0].ticket, options).read_all()
"""


def test_a_waiting_client_that_goes_away_gives_up_its_place(gw: RunningGateway) -> None:
    """A DoGet waiting for a slot notices its client has gone (here: killed) and leaves the queue."""
    holders = [Statement(gw, "busy", ENDLESS.format(tag())) for _ in range(2)]
    wait_for(_running(gw, *holders), "both slots taken")
    sql = ENDLESS.format(tag())
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _WAITING_CLIENT, gw.uri, "busy", PASSWORD, sql],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "planned"
        job_id = _job_id(gw, "busy", sql)
        slots = gw.gateway.executor.slots  # type: ignore[union-attr]
        wait_for(lambda: slots.position(job_id) == 1, "the statement to wait")
    finally:
        process.kill()
        process.wait(timeout=60)
    wait_for(lambda: slots.position(job_id) is None, "the waiter to leave the queue")
    record = wait_for(lambda: (j := _state(gw, job_id)).state.finished and j, "the job to end")
    assert (record.state, record.error_code, record.admission) == (
        JobState.CANCELLED, "CLIENT_DISCONNECTED", "cancelled",
    )  # fmt: skip
    assert slots.in_use("busy") == (2, 0)
    for holder in holders:
        holder.cancel()
        holder.ended()


def test_a_statement_the_pre_flight_refuses_is_recorded_refused(gw: RunningGateway) -> None:
    marker = tag()
    with gw.connect("other") as conn, conn.cursor() as cur, pytest.raises(flight_sql.Error):
        cur.execute(f"selec 1 as x_{marker}")
    [job] = [j for j in gw.gateway.jobs.list("other", 100) if j.sql_text is None and j.state is JobState.FAILED]
    assert (job.admission, job.queued_ms, job.error_code) == ("refused", None, "SQL_SYNTAX")


def test_a_detached_job_waits_for_a_slot_like_any_statement(gw: RunningGateway) -> None:
    """SubmitJob accepts the job at once (RUNNING: a worker holds it); the query waits for one of
    the tenant's slots on that worker, its place shown by GetJob, and runs when one frees."""
    holders = [Statement(gw, "busy", ENDLESS.format(tag())) for _ in range(2)]
    wait_for(_running(gw, *holders), "both slots taken")
    client, options = gw.flight_client("busy")
    with client:
        submitted = job_action(client, options, "SubmitJob", {"sql": f"select 5 as d_{tag()}"})
        job_id = submitted["job_id"]
        waiting = wait_for(
            lambda: (j := job_action(client, options, "GetJob", {"job_id": job_id})).get("queue_position") == 1 and j,
            "the detached job to wait for a slot",
        )
        assert waiting["state"] == "RUNNING" and waiting["admission"] is None
        holders[0].cancel()
        holders[0].ended()
        done = wait_for(
            lambda: (j := job_action(client, options, "GetJob", {"job_id": job_id}))["state"] != "RUNNING" and j,
            "the detached job to finish",
        )
    assert (done["state"], done["rows"], done["admission"]) == ("SUCCEEDED", 1, "queued"), done
    holders[1].cancel()
    holders[1].ended()
