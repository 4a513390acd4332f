"""The job history a tenant reads through Flight actions (ListJobs, GetJob, CancelJob), restart
recovery, retention, schema migration, and the operator's `jobs show / cancel / list --state`."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_manager
import grpc
import pyarrow as pa
import pyarrow.flight as fl
import pytest
from conftest import RunningGateway, start_gateway
from flight_wire import RawFlight
from job_actions_support import (
    insert_jobs,
    job_action,
    list_all,
    make_job,
    read_job,
    run_jobs_cli,
    tag,
    wait_for,
)
from manual_clock import ManualClock
from serve_process import start_serve

from flight_gateway.jobs import Instance, JobState, SqliteJobStore, fingerprint
from flight_gateway.jobs.housekeeping import TICKET_GRACE_SECONDS
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack

JOB_FIELDS = {
    "id", "tenant", "subject", "kind", "fingerprint", "state", "created_at", "started_at", "finished_at",
    "expires_at", "rows", "bytes", "delivery", "error_code", "sqlstate", "error_message", "user_agent", "peer",
    "engine_query_id", "admission", "queued_ms", "truncated",
}  # fmt: skip
ENDLESS = "select count(*) as n_{} from range(100000000000) a"


@pytest.fixture(scope="module")
def jobs_gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """A gateway of its own, so listings hold only this module's statements."""
    running = start_gateway(tmp_path_factory.mktemp("job-actions"))
    yield running
    running.gateway.shutdown()


@pytest.fixture
def acme(jobs_gw: RunningGateway) -> Iterator[tuple[fl.FlightClient, fl.FlightCallOptions]]:
    client, options = jobs_gw.flight_client("acme")
    yield client, options
    client.close()


@pytest.fixture
def globex(jobs_gw: RunningGateway) -> Iterator[tuple[fl.FlightClient, fl.FlightCallOptions]]:
    client, options = jobs_gw.flight_client("globex")
    yield client, options
    client.close()


def _run(running: RunningGateway, tenant: str, *statements: str) -> None:
    """Run statements through ADBC (DB-API), as a pandas or BI user would."""
    with running.connect(tenant) as conn:
        for sql in statements:
            with conn.cursor() as cur:
                cur.execute(sql)
                cur.fetchall()


def _plan(client: fl.FlightClient, options: fl.FlightCallOptions, sql: str) -> fl.FlightInfo:
    descriptor = fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql)))
    return client.get_flight_info(descriptor, options)


def _job_of(client: fl.FlightClient, options: fl.FlightCallOptions, sql: str) -> dict[str, Any]:
    jobs = [j for page in list_all(client, options, limit=1000) for j in page if j["fingerprint"] == fingerprint(sql)]
    assert len(jobs) == 1, jobs
    return jobs[0]


# -- ListActions ---------------------------------------------------------------------------------


def test_list_actions_describes_the_job_actions(acme: tuple[fl.FlightClient, fl.FlightCallOptions]) -> None:
    client, options = acme
    actions = {a.type: a.description for a in client.list_actions(options)}
    for name in ("ListJobs", "GetJob", "CancelJob"):
        assert "JSON" in actions[name], (name, actions[name])
    assert "CancelFlightInfo" in actions  # the Flight SQL actions are still there


# -- ListJobs ------------------------------------------------------------------------------------


def test_list_jobs_pages_cover_every_job_once(
    jobs_gw: RunningGateway, acme: tuple[fl.FlightClient, fl.FlightCallOptions]
) -> None:
    client, options = acme
    statements = [f"select {i} as page_{tag()}" for i in range(7)]
    _run(jobs_gw, "acme", *statements)
    pages = list_all(client, options, limit=2)
    assert all(len(page) == 2 for page in pages[:-1]) and 1 <= len(pages[-1]) <= 2
    listed = [job for page in pages for job in page]
    ids = [job["id"] for job in listed]
    assert len(ids) == len(set(ids)), "a job appeared on two pages"
    # Exactly the tenant's jobs, newest first.
    assert set(ids) == {j.id for j in jobs_gw.gateway.jobs.list("acme", 10_000)}
    assert {fingerprint(sql) for sql in statements} <= {job["fingerprint"] for job in listed}
    created = [job["created_at"] for job in listed]
    assert created == sorted(created, reverse=True)
    # One page of everything says the same.
    whole = job_action(client, options, "ListJobs", {"limit": 1000})
    assert [j["id"] for j in whole["jobs"]] == ids and whole["next_page_token"] is None


def test_list_jobs_paging_is_stable_among_jobs_created_at_the_same_instant(jobs_gw: RunningGateway) -> None:
    """Ties on created_at are broken by id, so a page boundary inside a tie loses nothing."""
    running = start_gateway(jobs_gw.data_dir.parent / f"ties-{tag()}")
    try:
        instant = time.time()
        twins = [make_job("globex", JobState.SUCCEEDED, created_at=instant) for _ in range(5)]
        insert_jobs(running.data_dir / "jobs.sqlite3", *twins)
        client, options = running.flight_client("globex")
        with client:
            pages = list_all(client, options, limit=2)
        ids = [job["id"] for page in pages for job in page]
        assert ids == sorted((t.id for t in twins), reverse=True)
    finally:
        running.gateway.shutdown()


def test_list_jobs_filters(jobs_gw: RunningGateway, acme: tuple[fl.FlightClient, fl.FlightCallOptions]) -> None:
    client, options = acme
    since = time.time()
    good, bad = f"select 1 as filt_{tag()}", f"select * from no_such_table_{tag()}"
    _run(jobs_gw, "acme", good)
    with pytest.raises(adbc_driver_manager.Error):
        _run(jobs_gw, "acme", bad)

    failed = [j for page in list_all(client, options, state="FAILED") for j in page]
    assert failed and {j["state"] for j in failed} == {"FAILED"}
    assert fingerprint(bad) in {j["fingerprint"] for j in failed}
    assert fingerprint(good) not in {j["fingerprint"] for j in failed}

    recent = [j for page in list_all(client, options, since=since) for j in page]
    assert {j["fingerprint"] for j in recent} == {fingerprint(good), fingerprint(bad)}
    queries = [j for page in list_all(client, options, kind="query", since=since) for j in page]
    assert [j["fingerprint"] for j in queries] == [fingerprint(good)]
    assert job_action(client, options, "ListJobs", {"since": time.time() + 3600}) == {
        "jobs": [],
        "next_page_token": None,
    }
    lower = [j for page in list_all(client, options, state="succeeded", since=since) for j in page]
    assert [j["fingerprint"] for j in lower] == [fingerprint(good)]


# -- GetJob and tenant isolation -----------------------------------------------------------------


def test_get_job_returns_the_job_as_json(
    jobs_gw: RunningGateway, acme: tuple[fl.FlightClient, fl.FlightCallOptions]
) -> None:
    client, options = acme
    sql = f"select customer_id as get_{tag()} from customers where customer_id <= 3"
    _run(jobs_gw, "acme", sql)
    listed = _job_of(client, options, sql)
    job = job_action(client, options, "GetJob", {"job_id": listed["id"]})
    assert job == listed
    assert set(job) == JOB_FIELDS  # no sql_text: the gateway does not store it
    assert job["tenant"] == "acme" and job["subject"] == "acme"
    assert job["state"] == "SUCCEEDED" and job["rows"] == 3 and job["bytes"] > 0
    assert job["kind"] == "query" and job["delivery"] == "stream"
    assert job["sqlstate"] is None and job["engine_query_id"] is None and job["error_code"] is None
    assert job["user_agent"], "the client's user agent is recorded"
    assert job["peer"].startswith("ipv")
    for field in ("created_at", "started_at", "finished_at", "expires_at"):
        assert job[field].endswith("Z") and "T" in job[field], (field, job[field])
    assert job["created_at"] <= job["started_at"] <= job["finished_at"] < job["expires_at"]
    # The record itself carries the owning instance and a 30-day retention.
    record = jobs_gw.gateway.jobs.get(job["id"])
    assert record is not None and jobs_gw.gateway.housekeeper is not None
    assert record.instance_id == jobs_gw.gateway.housekeeper.instance_id
    assert record.expires_at is not None
    assert record.expires_at - record.created_at == pytest.approx(30 * 86_400)


def test_sql_text_appears_only_when_stored(tmp_path: Path) -> None:
    running = start_gateway(tmp_path, store_sql_text=True)
    try:
        sql = f"select 42 as stored_{tag()}"
        _run(running, "acme", sql)
        client, options = running.flight_client("acme")
        with client:
            assert _job_of(client, options, sql)["sql_text"] == sql
    finally:
        running.gateway.shutdown()


def test_a_tenant_never_sees_another_tenants_jobs(
    jobs_gw: RunningGateway,
    acme: tuple[fl.FlightClient, fl.FlightCallOptions],
    globex: tuple[fl.FlightClient, fl.FlightCallOptions],
) -> None:
    sql = f"select 1 as theirs_{tag()}"
    _run(jobs_gw, "globex", sql)
    theirs = _job_of(*globex, sql)
    client, options = acme
    assert all(j["tenant"] == "acme" for page in list_all(client, options, limit=1000) for j in page)
    assert theirs["id"] not in {j["id"] for page in list_all(client, options, limit=1000) for j in page}
    # Another tenant's job and no job at all get the very same answer.
    answers = []
    for job_id in (theirs["id"], "0" * 32):
        for action in ("GetJob", "CancelJob"):
            with pytest.raises(pa.ArrowKeyError) as caught:
                job_action(client, options, action, {"job_id": job_id})
            answers.append(str(caught.value).split(" request_id=")[0])
    assert len(set(answers)) == 1 and "JOB_NOT_FOUND" in answers[0], answers
    assert job_action(*globex, "GetJob", {"job_id": theirs["id"]})["state"] == "SUCCEEDED"


# -- CancelJob -----------------------------------------------------------------------------------


def test_cancel_job_ends_a_running_query(acme: tuple[fl.FlightClient, fl.FlightCallOptions]) -> None:
    client, options = acme
    sql = ENDLESS.format(tag())
    info = _plan(client, options, sql)
    reader = client.do_get(info.endpoints[0].ticket, options)
    cancelled: list[dict[str, Any]] = []

    def cancel_once_running() -> None:
        job = wait_for(
            lambda: next(
                (j for j in list_all(client, options, state="RUNNING")[0] if j["fingerprint"] == fingerprint(sql)), None
            ),
            "the endless query to be RUNNING",
        )
        cancelled.append(job_action(client, options, "CancelJob", {"job_id": job["id"]}))

    canceller = threading.Thread(target=cancel_once_running, daemon=True)
    canceller.start()
    # The client's stream ends in an error, never as if the endless result were complete.
    with pytest.raises(fl.FlightCancelledError):
        while True:
            reader.read_chunk()
    canceller.join(timeout=60)
    [result] = cancelled
    assert result["status"] == "CANCELLING", result
    job_id = result["job_id"]
    ended = wait_for(
        lambda: (j := job_action(client, options, "GetJob", {"job_id": job_id}))["state"] != "RUNNING" and j,
        "the job to end",
    )
    assert ended["state"] == "CANCELLED" and ended["error_code"] == "CANCELLED", ended
    assert job_action(client, options, "CancelJob", {"job_id": job_id})["status"] == "NOT_CANCELLABLE"
    # The tenant keeps working.
    ok = client.do_get(_plan(client, options, "select 7 as x").endpoints[0].ticket, options).read_all()
    assert ok.column("x").to_pylist() == [7]


def test_cancel_job_before_the_result_is_fetched(acme: tuple[fl.FlightClient, fl.FlightCallOptions]) -> None:
    client, options = acme
    sql = ENDLESS.format(tag())
    info = _plan(client, options, sql)
    job = _job_of(client, options, sql)
    assert job["state"] == "QUEUED"
    assert job_action(client, options, "CancelJob", {"job_id": job["id"]}) == {
        "job_id": job["id"],
        "status": "CANCELLED",
    }
    assert job_action(client, options, "GetJob", {"job_id": job["id"]})["state"] == "CANCELLED"
    with pytest.raises(fl.FlightCancelledError):
        client.do_get(info.endpoints[0].ticket, options).read_all()


# -- malformed bodies ----------------------------------------------------------------------------

MALFORMED: list[tuple[str, bytes | dict[str, Any] | list[Any], str]] = [
    ("ListJobs", b"{not json", "JSON"),
    ("ListJobs", b"\xff\xfe\x00", "JSON"),
    ("ListJobs", [1, 2], "JSON object"),
    ("ListJobs", {"limit": 0}, "'limit'"),
    ("ListJobs", {"limit": 1001}, "'limit'"),
    ("ListJobs", {"limit": "5"}, "'limit'"),
    ("ListJobs", {"limit": True}, "'limit'"),
    ("ListJobs", {"limit": 2.5}, "'limit'"),
    ("ListJobs", {"state": "DONE"}, "'state'"),
    ("ListJobs", {"state": 3}, "'state'"),
    ("ListJobs", {"kind": ["query"]}, "'kind'"),
    ("ListJobs", {"since": "yesterday"}, "'since'"),
    ("ListJobs", b'{"since": NaN}', "JSON"),
    ("ListJobs", {"page_token": "not-a-token!"}, "'page_token'"),
    ("ListJobs", {"page_token": 7}, "'page_token'"),
    ("ListJobs", {"limt": 5}, "'limt'"),
    ("GetJob", b"", "'job_id'"),
    ("GetJob", {}, "'job_id'"),
    ("GetJob", {"job_id": 12}, "'job_id'"),
    ("GetJob", {"job_id": ""}, "'job_id'"),
    ("GetJob", {"job_id": "x", "tenant": "globex"}, "'tenant'"),
    ("CancelJob", b"null", "JSON object"),
    ("CancelJob", {"id": "x"}, "'id'"),
]


@pytest.mark.parametrize(
    ("action", "body", "names"), MALFORMED, ids=[f"{a}-{i}" for i, (a, *_) in enumerate(MALFORMED)]
)
def test_malformed_bodies_are_invalid_argument(
    acme: tuple[fl.FlightClient, fl.FlightCallOptions], action: str, body: Any, names: str
) -> None:
    client, options = acme
    with pytest.raises(pa.ArrowInvalid) as caught:
        job_action(client, options, action, body)
    message = str(caught.value)
    assert names in message and action in message and "INVALID_ACTION_BODY" in message, message
    assert "Traceback" not in message


def test_malformed_body_status_on_the_wire(
    jobs_gw: RunningGateway, acme: tuple[fl.FlightClient, fl.FlightCallOptions]
) -> None:
    """The exact gRPC codes, as any client (Go, Java) sees them."""
    _, options = acme
    header = [(k.decode(), v.decode()) for k, v in options.headers]
    raw = RawFlight.connect(jobs_gw.uri)
    try:
        with pytest.raises(grpc.RpcError) as caught:
            raw.do_action("ListJobs", b'{"limit": -1}', header)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as caught:
            raw.do_action("GetJob", b'{"job_id": "nope"}', header)
        assert caught.value.code() is grpc.StatusCode.NOT_FOUND
        [body] = raw.do_action("ListJobs", b"", header)
        assert set(json.loads(body)) == {"jobs", "next_page_token"}
    finally:
        raw.close()


# -- restart recovery ----------------------------------------------------------------------------


def test_jobs_of_dead_instances_fail_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    now = time.time()
    stale = Instance("stale" + "0" * 27, "elsewhere", 4242, now - 3600, now - 600, 10.0)
    live = Instance("live" + "0" * 28, "elsewhere", 4242, now - 3600, now, 10.0)
    store = SqliteJobStore(path)
    store.save_instance(stale)
    store.save_instance(live)
    store.close()
    unknown_job = make_job(instance_id="f" * 32)
    stale_job = make_job(instance_id=stale.id)
    live_job = make_job(instance_id=live.id)
    # Queued jobs keep their tickets across restarts (any replica redeems them): left for the ticket sweep.
    queued_job = make_job(state=JobState.QUEUED, instance_id=stale.id)
    insert_jobs(path, unknown_job, stale_job, live_job, queued_job)

    running = start_gateway(tmp_path)
    try:
        client, options = running.flight_client("acme")
        with client:
            for job in (unknown_job, stale_job):
                seen = job_action(client, options, "GetJob", {"job_id": job.id})
                assert seen["state"] == "FAILED" and seen["error_code"] == "GATEWAY_RESTARTED", seen
                assert "stopped" in seen["error_message"] and seen["finished_at"], seen
            assert job_action(client, options, "GetJob", {"job_id": live_job.id})["state"] == "RUNNING"
            assert job_action(client, options, "GetJob", {"job_id": queued_job.id})["state"] == "QUEUED"
    finally:
        running.gateway.shutdown()


def test_a_query_running_when_the_gateway_was_killed_fails_after_restart(tmp_path: Path) -> None:
    serve = start_serve(tmp_path, demo_rows=1000)
    sql = ENDLESS.format(tag())
    path = serve.data_dir / "jobs.sqlite3"
    try:
        client = fl.FlightClient(serve.uri)
        options = fl.FlightCallOptions(
            headers=[client.authenticate_basic_token("acme", "correct horse battery staple")]
        )
        info = _plan(client, options, sql)
        reader = client.do_get(info.endpoints[0].ticket, options)
        job = wait_for(
            lambda: next(
                (j for j in list_all(client, options, state="RUNNING")[0] if j["fingerprint"] == fingerprint(sql)), None
            ),
            "the query to be RUNNING",
        )
        serve.process.send_signal(signal.SIGKILL)
        with pytest.raises(fl.FlightError):
            reader.read_all()
        client.close()
    finally:
        serve.stop()  # reaps the killed process
    stored = read_job(path, job["id"])
    assert stored is not None and stored.state is JobState.RUNNING  # nobody has cleaned up yet

    running = start_gateway(serve.data_dir, demo_rows=1000)
    try:
        client, options = running.flight_client("acme")
        with client:
            seen = job_action(client, options, "GetJob", {"job_id": job["id"]})
        assert seen["state"] == "FAILED" and seen["error_code"] == "GATEWAY_RESTARTED", seen
        assert "stopped" in seen["error_message"]
    finally:
        running.gateway.shutdown()


def test_never_fetched_jobs_are_cancelled_once_their_ticket_expired(tmp_path: Path) -> None:
    clock = ManualClock()  # the ticket expires when the test says, however slow the machine
    running = start_gateway(tmp_path, clock=clock, ticket_ttl_seconds=10)
    try:
        client, options = running.flight_client("acme")
        with client:
            sql = f"select 1 as unfetched_{tag()}"
            _plan(client, options, sql)
            job = _job_of(client, options, sql)
            housekeeper = running.gateway.housekeeper
            assert housekeeper is not None
            assert housekeeper.sweep().never_fetched == 0  # its ticket is still good
            report = housekeeper.sweep(clock() + 10 + TICKET_GRACE_SECONDS + 1)
            assert report.never_fetched == 1 and report.recovered == 0
            seen = job_action(client, options, "GetJob", {"job_id": job["id"]})
        assert seen["state"] == "CANCELLED" and seen["error_code"] == "NEVER_FETCHED", seen
    finally:
        running.gateway.shutdown()


# -- retention -----------------------------------------------------------------------------------


def test_expired_jobs_disappear_after_a_sweep(tmp_path: Path) -> None:
    running = start_gateway(tmp_path)
    try:
        past = time.time() - 1
        expired = make_job(state=JobState.SUCCEEDED, expires_at=past, finished_at=past)
        kept = make_job(state=JobState.SUCCEEDED, expires_at=time.time() + 3600)
        assert running.gateway.housekeeper is not None
        still_running = make_job(expires_at=past, instance_id=running.gateway.housekeeper.instance_id)
        insert_jobs(tmp_path / "jobs.sqlite3", expired, kept, still_running)
        assert running.gateway.housekeeper.sweep().purged == 1
        store = running.gateway.jobs
        assert store.get(expired.id) is None
        assert store.get(kept.id) is not None
        assert store.get(still_running.id) is not None  # a running query never vanishes from the listing
    finally:
        running.gateway.shutdown()


def test_the_sweeper_thread_deletes_expired_jobs(tmp_path: Path) -> None:
    # The gateway's clock stands still until the test moves it: the job cannot expire (on a loaded
    # machine, before the test lists it) until the retention has passed on that clock. The thread
    # looks every 50 ms (real time) whether a sweep is due on it.
    clock = ManualClock()
    running = start_gateway(tmp_path, clock=clock, job_retention_days=1, job_sweep_seconds=0.05)
    try:
        sql = f"select 1 as brief_{tag()}"
        _run(running, "acme", sql)
        [job] = [j for j in running.gateway.jobs.list(limit=100) if j.fingerprint == fingerprint(sql)]
        clock.advance(86_400 - 1)
        assert running.gateway.jobs.get(job.id) is not None  # kept for all of its retention
        clock.advance(2)
        wait_for(lambda: running.gateway.jobs.get(job.id) is None, "the sweeper thread to delete the job")
    finally:
        running.gateway.shutdown()


# -- schema migration ----------------------------------------------------------------------------

# The schema the first release created; files written by it must keep working.
FIRST_RELEASE_DDL = """
create table jobs (
    id text primary key, tenant text not null, subject text not null, kind text not null,
    fingerprint text not null, state text not null, created_at real not null, started_at real,
    finished_at real, rows integer, bytes integer, error_code text, error_message text, sql_text text,
    peer text not null default '', delivery text not null default 'stream'
);
create index jobs_tenant_created on jobs (tenant, created_at);
create index jobs_created on jobs (created_at);
insert into jobs (id, tenant, subject, kind, fingerprint, state, created_at, finished_at, rows)
values ('old-job', 'acme', 'acme', 'query', 'feedfacefeedface', 'SUCCEEDED', 1700000000.5, 1700000001.0, 9);
insert into jobs (id, tenant, subject, kind, fingerprint, state, created_at, started_at)
values ('old-running', 'acme', 'acme', 'query', 'feedfacefeedface', 'RUNNING', 1700000002.0, 1700000002.0);
"""


def test_a_job_store_from_the_first_release_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    con = sqlite3.connect(path)
    con.executescript(FIRST_RELEASE_DDL)
    con.close()
    running = start_gateway(tmp_path)
    try:
        old = running.gateway.jobs.get("old-job")
        assert old is not None and old.rows == 9 and old.user_agent == "" and old.expires_at is None
        assert (old.admission, old.queued_ms, old.truncated) == (None, None, None)
        # A RUNNING record from before the upgrade belongs to no live instance: its gateway stopped.
        orphan = running.gateway.jobs.get("old-running")
        assert orphan is not None and orphan.state is JobState.FAILED and orphan.error_code == "GATEWAY_RESTARTED"
        client, options = running.flight_client("acme")
        with client:
            seen = job_action(client, options, "GetJob", {"job_id": "old-job"})
            assert seen["created_at"] == "2023-11-14T22:13:20.500Z" and seen["expires_at"] is None
            sql = f"select 1 as migrated_{tag()}"
            _run(running, "acme", sql)
            assert _job_of(client, options, sql)["state"] == "SUCCEEDED"
    finally:
        running.gateway.shutdown()
    columns = {row[1] for row in sqlite3.connect(path).execute("pragma table_info(jobs)")}
    assert {"user_agent", "engine_query_id", "sqlstate", "instance_id", "expires_at"} <= columns
    assert {"admission", "queued_ms", "truncated"} <= columns
    SqliteJobStore(path).close()  # opening a migrated file again changes nothing


# -- operator CLI --------------------------------------------------------------------------------


def test_cli_jobs_show(jobs_gw: RunningGateway) -> None:
    sql = f"select 1 as shown_{tag()}"
    _run(jobs_gw, "globex", sql)
    [job] = [j for j in jobs_gw.gateway.jobs.list(limit=1000) if j.fingerprint == fingerprint(sql)]
    data_dir = str(jobs_gw.data_dir)
    text = run_jobs_cli("show", job.id, "--data-dir", data_dir)
    assert text.returncode == 0, text.stderr
    assert job.id in text.stdout and "globex" in text.stdout and "SUCCEEDED" in text.stdout
    assert "alive" in text.stdout  # its instance is this test's gateway
    as_json = run_jobs_cli("show", job.id, "--data-dir", data_dir, "--json")
    assert as_json.returncode == 0, as_json.stderr
    record = json.loads(as_json.stdout)
    assert record["id"] == job.id and record["state"] == "SUCCEEDED" and record["instance_alive"] is True
    assert jobs_gw.gateway.housekeeper is not None
    assert record["instance_id"] == jobs_gw.gateway.housekeeper.instance_id
    missing = run_jobs_cli("show", "0" * 32, "--data-dir", data_dir)
    assert missing.returncode == 1 and "no job" in missing.stderr


def test_cli_jobs_cancel(jobs_gw: RunningGateway, acme: tuple[fl.FlightClient, fl.FlightCallOptions]) -> None:
    client, options = acme
    data_dir = str(jobs_gw.data_dir)
    sql = f"select 1 as queued_{tag()}"
    info = _plan(client, options, sql)
    job = _job_of(client, options, sql)
    result = run_jobs_cli("cancel", job["id"], "--data-dir", data_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("CANCELLED")
    seen = job_action(client, options, "GetJob", {"job_id": job["id"]})
    assert seen["state"] == "CANCELLED" and "operator" in seen["error_message"]
    again = run_jobs_cli("cancel", job["id"], "--data-dir", data_dir)
    assert again.returncode == 0 and again.stdout.startswith("NOT_CANCELLABLE"), again
    assert run_jobs_cli("cancel", "0" * 32, "--data-dir", data_dir).returncode == 1
    del info

    # A job RUNNING in a live gateway: the record is marked, and the operator is told the query goes on.
    assert jobs_gw.gateway.housekeeper is not None
    live = make_job(instance_id=jobs_gw.gateway.housekeeper.instance_id)
    insert_jobs(jobs_gw.data_dir / "jobs.sqlite3", live)
    marked = run_jobs_cli("cancel", live.id, "--data-dir", data_dir)
    assert marked.returncode == 0 and marked.stdout.startswith("CANCELLED"), marked
    assert "live gateway" in marked.stderr and "CancelJob" in marked.stderr, marked.stderr
    help_text = run_jobs_cli("cancel", "--help").stdout
    assert "CancelJob" in help_text and "CancelFlightInfo" in help_text


def test_cli_jobs_list_state_filter(jobs_gw: RunningGateway) -> None:
    bad = f"select * from missing_{tag()}"
    with pytest.raises(adbc_driver_manager.Error):
        _run(jobs_gw, "acme", bad)
    result = run_jobs_cli("list", "--data-dir", str(jobs_gw.data_dir), "--state", "failed", "--json", "--limit", "1000")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert listed and {item["state"] for item in listed} == {"FAILED"}
    assert fingerprint(bad) in {item["fingerprint"] for item in listed}
    text = run_jobs_cli("list", "--data-dir", str(jobs_gw.data_dir), "--state", "RUNNING", "--tenant", "nobody")
    assert text.returncode == 0 and len(text.stdout.splitlines()) == 1  # just the header
