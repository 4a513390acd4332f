"""Client request ids (`x-flight-gateway-request-id`): a retried call gets the first call's job,
FlightInfo or update count instead of running its statement twice; through ADBC and pyarrow.flight."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as fl
import pytest
from conftest import RunningGateway, start_gateway
from job_actions_support import job_action, tag, wait_for
from manual_clock import ManualClock

from auth.flight import DELIVERY_HEADER, REQUEST_ID_HEADER
from flight_gateway.jobs import JobState, RequestClaim, SqliteJobStore, fingerprint
from flight_gateway.jobs.idempotency import RequestIds
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack, unpack

OPTION = f"adbc.flight.sql.rpc.call_header.{REQUEST_ID_HEADER}"
Options = fl.FlightCallOptions


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    running = start_gateway(tmp_path_factory.mktemp("idempotency"), max_detached_jobs=8)
    yield running
    running.gateway.shutdown()


def rid() -> str:
    return f"req:{uuid.uuid4()}"


def with_headers(options: Options, *headers: tuple[str, str]) -> Options:
    return fl.FlightCallOptions(headers=[*options.headers, *((k.encode(), v.encode()) for k, v in headers)])


def flight(gw: RunningGateway, tenant: str = "acme", request_id: str | None = None) -> tuple[fl.FlightClient, Options]:
    client, options = gw.flight_client(tenant)
    return client, options if request_id is None else with_headers(options, (REQUEST_ID_HEADER, request_id))


def plan(client: fl.FlightClient, options: Options, sql: str) -> fl.FlightInfo:
    descriptor = fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql)))
    return client.get_flight_info(descriptor, options)


def ticket_job(info: fl.FlightInfo) -> str:
    cmd = unpack(info.endpoints[0].ticket.ticket)
    assert isinstance(cmd, pb.TicketStatementQuery)
    return str(json.loads(cmd.statement_handle[33:])["j"])


def jobs_of(gw: RunningGateway, sql: str, tenant: str = "acme") -> list[dict[str, Any]]:
    client, options = gw.flight_client(tenant)
    with client:
        listed = job_action(client, options, "ListJobs", {"limit": 1000})["jobs"]
    return [job for job in listed if job["fingerprint"] == fingerprint(sql)]


def table(gw: RunningGateway) -> str:
    name = f"t_{tag()}"
    with gw.connect("acme") as conn, conn.cursor() as cur:
        cur.execute(f"create table {name} (i integer)")
    return name


def count_rows(gw: RunningGateway, name: str) -> int:
    with gw.connect("acme") as conn, conn.cursor() as cur:
        cur.execute(f"select count(*) from {name}")
        row = cur.fetchone()
    assert row is not None
    return int(row[0])


def adbc(gw: RunningGateway, request_id: str) -> flight_sql.Connection:
    conn = gw.connect("acme")
    conn.adbc_connection.set_options(**{OPTION: request_id})
    return conn


@pytest.mark.parametrize("bad", ["has space", "a/b", "x" * 129, "semi;colon"])
def test_a_malformed_request_id_is_invalid_argument(gw: RunningGateway, bad: str) -> None:
    client, options = flight(gw, request_id=bad)
    with client, pytest.raises(pa.ArrowInvalid, match="BAD_REQUEST_ID") as raised:
        plan(client, options, "select 1 as one")
    assert "1 to 128 characters" in str(raised.value)


def test_longest_and_punctuated_ids_are_accepted(gw: RunningGateway) -> None:
    for good in ("a", "x" * 128, "A-z_0.9:Z"):
        client, options = flight(gw, request_id=good)
        with client:
            assert plan(client, options, f"select 1 as ok_{tag()}").schema.names[0].startswith("ok_")


def test_without_a_request_id_each_call_is_a_new_job(gw: RunningGateway) -> None:
    sql = f"select 1 as plain_{tag()}"
    client, options = flight(gw)
    with client:
        assert ticket_job(plan(client, options, sql)) != ticket_job(plan(client, options, sql))
    assert len(jobs_of(gw, sql)) == 2


def test_a_retried_query_gets_the_same_job(gw: RunningGateway) -> None:
    sql = f"select i as q_{tag()} from range(100) t(i)"
    request_id = rid()
    client, options = flight(gw, request_id=request_id)
    with client:
        first, second = plan(client, options, sql), plan(client, options, sql)
        assert ticket_job(first) == ticket_job(second)
        assert second.schema == first.schema
        assert client.do_get(second.endpoints[0].ticket, options).read_all().num_rows == 100
    assert [job["id"] for job in jobs_of(gw, sql)] == [ticket_job(first)]


def test_a_retried_query_through_adbc_is_one_job(gw: RunningGateway) -> None:
    sql = f"select i as a_{tag()} from range(10) t(i)"
    with adbc(gw, rid()) as conn:
        for _ in range(2):
            with conn.cursor() as cur:
                cur.execute(sql)
                assert cur.fetch_arrow_table().num_rows == 10
    assert len(jobs_of(gw, sql)) == 1


def test_a_retried_adbc_insert_inserts_once(gw: RunningGateway) -> None:
    name = table(gw)
    sql = f"insert into {name} values (1), (2), (3)"
    with adbc(gw, rid()) as conn:
        counts = []
        for _ in range(2):
            with conn.cursor() as cur:
                cur.execute(sql)
                counts.append(cur.fetchall())
    assert counts[0] == counts[1] == [(3,)]
    assert count_rows(gw, name) == 3
    assert len(jobs_of(gw, sql)) == 1


def test_a_retried_doput_update_inserts_once_and_returns_the_same_count(gw: RunningGateway) -> None:
    name = table(gw)
    sql = f"insert into {name} select * from range(5)"
    request_id = rid()
    counts = []
    for _ in range(2):  # a new connection each time, as a client retrying after a lost reply would
        with adbc(gw, request_id) as conn, conn.cursor() as cur:
            cur.adbc_statement.set_sql_query(sql)
            counts.append(cur.adbc_statement.execute_update())
    assert counts == [5, 5]
    assert count_rows(gw, name) == 5
    assert len(jobs_of(gw, sql)) == 1


def test_a_retried_prepared_update_inserts_once(gw: RunningGateway) -> None:
    name = table(gw)
    sql = f"insert into {name} values (?)"
    request_id = rid()
    for _ in range(2):
        with adbc(gw, request_id) as conn, conn.cursor() as cur:
            cur.executemany(sql, [(1,), (2,), (3,), (4,)])
    assert count_rows(gw, name) == 4
    # Other parameters under the same id are a different statement.
    with adbc(gw, request_id) as conn, conn.cursor() as cur, pytest.raises(flight_sql.Error, match="REQUEST_ID_REUSED"):
        cur.executemany(sql, [(9,)])
    assert count_rows(gw, name) == 4


def test_a_resubmitted_job_is_the_same_job(gw: RunningGateway) -> None:
    sql = f"select i as s_{tag()} from range(1000) t(i)"
    request_id = rid()
    client, options = flight(gw, request_id=request_id)
    with client:
        first = job_action(client, options, "SubmitJob", {"sql": sql})
        again = job_action(client, options, "SubmitJob", {"sql": sql, "label": "a retry"})
        assert again["job_id"] == first["job_id"]
        wait_for(
            lambda: job_action(client, options, "GetJob", {"job_id": first["job_id"]})["state"] == "SUCCEEDED",
            "the job to succeed",
        )
        assert job_action(client, options, "SubmitJob", {"sql": sql}) == {
            "job_id": first["job_id"],
            "state": "SUCCEEDED",
        }
    assert len(jobs_of(gw, sql)) == 1


def test_a_resubmit_with_other_parameter_values_is_refused(gw: RunningGateway) -> None:
    sql = f"select i as v_{tag()} from range(100) t(i) where i < ?"
    client, options = flight(gw, request_id=rid())
    with client:
        first = job_action(client, options, "SubmitJob", {"sql": sql, "parameters": [5]})
        assert job_action(client, options, "SubmitJob", {"sql": sql, "parameters": [5]})["job_id"] == first["job_id"]
        with pytest.raises(pa.ArrowInvalid, match="REQUEST_ID_REUSED"):
            job_action(client, options, "SubmitJob", {"sql": sql, "parameters": [6]})
    assert len(jobs_of(gw, sql)) == 1


def _together(n: int, call: Callable[[], Any]) -> list[Any]:
    """`call` from n threads released at once; their results (or exceptions)."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call()
        except Exception as exc:  # reported by the assertions
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_concurrent_duplicate_inserts_run_once(gw: RunningGateway) -> None:
    name = table(gw)
    sql = f"insert into {name} values (42)"
    request_id = rid()

    def call() -> int:
        client, options = flight(gw, request_id=request_id)
        with client:
            info = plan(client, options, sql)
            return int(client.do_get(info.endpoints[0].ticket, options).read_all().column(0)[0].as_py())

    assert _together(8, call) == [1] * 8
    assert count_rows(gw, name) == 1
    assert len(jobs_of(gw, sql)) == 1


def test_concurrent_duplicate_submits_make_one_job(gw: RunningGateway) -> None:
    sql = f"select i as c_{tag()} from range(100) t(i)"
    request_id = rid()

    def call() -> str:
        client, options = flight(gw, request_id=request_id)
        with client:
            return str(job_action(client, options, "SubmitJob", {"sql": sql})["job_id"])

    results = _together(6, call)
    assert len(set(results)) == 1 and isinstance(results[0], str), results
    assert len(jobs_of(gw, sql)) == 1


def test_the_same_id_for_a_different_statement_is_refused(gw: RunningGateway) -> None:
    request_id = rid()
    client, options = flight(gw, request_id=request_id)
    with client:
        plan(client, options, f"select 1 as first_{tag()}")
        with pytest.raises(pa.ArrowInvalid, match="REQUEST_ID_REUSED") as raised:
            plan(client, options, f"select 2 as second_{tag()}")
        assert "send a new request id" in str(raised.value)
        # The same SQL through another call (SubmitJob) is another request too.
        with pytest.raises(pa.ArrowInvalid, match="REQUEST_ID_REUSED"):
            job_action(client, options, "SubmitJob", {"sql": "select 1 as first"})


def test_request_ids_are_per_tenant(gw: RunningGateway) -> None:
    sql = f"select 1 as t_{tag()}"
    request_id = rid()
    acme, acme_options = flight(gw, "acme", request_id)
    globex, globex_options = flight(gw, "globex", request_id)
    with acme, globex:
        assert ticket_job(plan(acme, acme_options, sql)) != ticket_job(plan(globex, globex_options, sql))
        # A different statement under globex's copy of the id does not disturb acme's.
        plan(globex, globex_options, sql)
    assert len(jobs_of(gw, sql, "acme")) == 1 and len(jobs_of(gw, sql, "globex")) == 1


def test_a_retry_of_a_failed_statement_gets_the_failure_without_running_it(gw: RunningGateway) -> None:
    name = f"t_{tag()}"
    sql = f"insert into {name} values (1)"
    client, options = flight(gw, request_id=rid())
    with client:
        with pytest.raises(pa.ArrowKeyError, match="OBJECT_NOT_FOUND"):
            plan(client, options, sql)
        with gw.connect("acme") as other, other.cursor() as cur:
            cur.execute(f"create table {name} (i integer)")
        with pytest.raises(pa.ArrowInvalid, match="send a new request id") as raised:
            plan(client, options, sql)
        assert "OBJECT_NOT_FOUND" in str(raised.value)  # the first call's error code
    assert count_rows(gw, name) == 0
    [job] = jobs_of(gw, sql)
    assert job["state"] == "FAILED"


def test_a_retried_offloaded_query_returns_the_same_parts(gw: RunningGateway) -> None:
    sql = f"select i as off_{tag()} from range(3000) t(i)"
    client, options = flight(gw, request_id=rid())
    options = with_headers(options, (DELIVERY_HEADER, "offload"))
    with client:
        first, second = plan(client, options, sql), plan(client, options, sql)
        assert first.total_records == second.total_records == 3000
        assert len(first.endpoints) == len(second.endpoints)
        table_ = client.do_get(second.endpoints[0].ticket, options).read_all()
        assert table_.num_rows == 3000
    [job] = jobs_of(gw, sql)
    assert job["delivery"] == "offload"


def test_the_window_ends_and_the_id_can_run_again(tmp_path: Path) -> None:
    clock = ManualClock()  # the window ends when the test moves the gateway's clock past it
    gateway = start_gateway(tmp_path, clock=clock, idempotency_window_seconds=600)
    try:
        sql = f"select 1 as w_{tag()}"
        client, options = flight(gateway, request_id=rid())
        with client:
            first = ticket_job(plan(client, options, sql))
            clock.advance(599)
            assert ticket_job(plan(client, options, sql)) == first  # inside the window: the same job
            clock.advance(1)
            later = ticket_job(plan(client, options, sql))
        assert later != first
    finally:
        gateway.gateway.shutdown()


def test_request_ids_window_with_an_injected_clock(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    now = [1000.0]
    try:
        ids = RequestIds(store, 60, clock=lambda: now[0])
        first = ids.claim("acme", "r1", "digest")
        assert first.first
        now[0] += 59
        assert ids.claim("acme", "r1", "digest") == type(first)(first.job_id, False)
        assert ids.claim("globex", "r1", "digest").first
        now[0] += 1  # exactly the window: the claim has expired
        renewed = ids.claim("acme", "r1", "other digest")
        assert renewed.first and renewed.job_id != first.job_id
        assert store.forget_requests(now[0] + 60) == 2
        assert ids.claim("acme", "r1", "digest").first
    finally:
        store.close()


def test_claims_are_atomic_across_stores_sharing_a_file(tmp_path: Path) -> None:
    """Replicas on one SQLite file, racing for one request id: exactly one claim holds."""
    path = tmp_path / "jobs.sqlite3"
    stores = [SqliteJobStore(path) for _ in range(6)]
    try:

        def claim(i: int) -> RequestClaim:
            return stores[i].claim_request(RequestClaim("acme", "race", "d", f"job-{i}", 10.0, 100.0))

        counter = iter(range(6))
        lock = threading.Lock()

        def call() -> RequestClaim:
            with lock:
                i = next(counter)
            return claim(i)

        held = _together(6, call)
        assert all(isinstance(h, RequestClaim) for h in held), held
        assert len({h.job_id for h in held}) == 1
    finally:
        for store in stores:
            store.close()


def test_an_unfinished_first_call_is_waited_for(gw: RunningGateway) -> None:
    """A retry that arrives while the first call's update is still running returns its count."""
    name = table(gw)
    sql = f"insert into {name} select count(*) from range(30000000) a, range(20) b"
    request_id = rid()
    results = _together(2, lambda: _update(gw, request_id, sql))
    assert results == [1, 1]
    assert count_rows(gw, name) == 1
    [job] = jobs_of(gw, sql)
    assert job["state"] == JobState.SUCCEEDED.value


def _update(gw: RunningGateway, request_id: str, sql: str) -> int:
    with adbc(gw, request_id) as conn, conn.cursor() as cur:
        cur.adbc_statement.set_sql_query(sql)
        return int(cur.adbc_statement.execute_update())


def test_adbc_request_ids_belong_on_statements_not_connections(gw: RunningGateway) -> None:
    """What the README's request-id section says about ADBC, checked."""
    name = table(gw)
    # A connection option rides on every statement: the second, different one is refused.
    with adbc(gw, rid()) as conn, conn.cursor() as cur:
        cur.execute(f"insert into {name} values (1)")
        with pytest.raises(flight_sql.Error, match="REQUEST_ID_REUSED"):
            cur.execute(f"insert into {name} values (2)")
    # A statement option on a fresh cursor: a retry with the same id inserts nothing more.
    request_id = rid()
    with gw.connect("acme") as conn:
        for _ in range(2):
            with conn.cursor() as cur:
                cur.adbc_statement.set_options(**{OPTION: request_id})
                cur.execute(f"insert into {name} values (3)")
        with conn.cursor() as cur:  # the header is not sent by other statements
            cur.execute(f"insert into {name} values (4)")
        # Set again on one cursor, the option adds a value (the first is read); "" removes it.
        with conn.cursor() as cur:
            cur.adbc_statement.set_options(**{OPTION: request_id})
            cur.adbc_statement.set_options(**{OPTION: rid()})
            with pytest.raises(flight_sql.Error, match="REQUEST_ID_REUSED"):
                cur.execute(f"insert into {name} values (5)")
            cur.adbc_statement.set_options(**{OPTION: ""})
            cur.execute(f"insert into {name} values (6)")
    assert count_rows(gw, name) == 4
