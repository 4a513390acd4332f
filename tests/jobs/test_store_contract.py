"""The JobStore contract, run against every store: SQLite (a file) and DynamoDB (moto's server).

`replicas` opens two stores on the same data (one file, one table): two gateway processes. Every
behaviour the gateway relies on is checked on both stores alike, including the races between
replicas (claims, cancellation, recovery) that the stores' conditional writes must settle.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import DomainDispatcherApplication, MotoRequestHandler, ThreadedMotoServer, create_backend_app
from services import MotoService
from werkzeug.serving import make_server

from flight_gateway.jobs import Instance, Job, JobHousekeeper, JobState, JobStore, SqliteJobStore
from flight_gateway.jobs.dynamodb import DynamoDBJobStore
from flight_gateway.jobs.models import RequestClaim
from flight_gateway.jobs.recovery import GATEWAY_RESTARTED

T0 = 1_700_000_000.0


def make_job(tenant: str = "acme", state: JobState = JobState.QUEUED, **fields: Any) -> Job:
    values: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "tenant": tenant,
        "subject": f"{tenant}-user",
        "kind": "query",
        "fingerprint": "0123456789abcdef",
        "state": state,
        "created_at": T0,
        "instance_id": "i-1",
    }
    return Job(**(values | fields))


Replicas = Callable[[], tuple[JobStore, JobStore]]


class _SerialMotoServer(ThreadedMotoServer):
    """moto answering one request at a time. moto's threaded server does not apply a conditional
    write atomically (two replicas' updates can both pass one condition); DynamoDB does, per
    item, and a server that serializes requests models exactly that, while the replicas' calls
    still interleave between requests as they would against DynamoDB."""

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(self._ip_address, self._port, app, False, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[MotoService]:
    server = _SerialMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield MotoService(f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "dynamodb"])
def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Replicas]:
    """Opens two stores over the same data; the first is `store`."""
    opened: list[JobStore] = []
    if request.param == "sqlite":

        def open_one() -> JobStore:
            return SqliteJobStore(tmp_path / "jobs.sqlite3")
    else:
        moto: MotoService = request.getfixturevalue("dynamodb")
        session = boto3.Session(
            aws_access_key_id=moto.access_key, aws_secret_access_key=moto.secret_key, region_name=moto.region
        )
        table = f"jobs-{uuid.uuid4().hex[:10]}"

        def open_one() -> JobStore:
            return DynamoDBJobStore(table, endpoint_url=moto.endpoint_url, create=True, session=session)

    def both() -> tuple[JobStore, JobStore]:
        while len(opened) < 2:
            opened.append(open_one())
        return opened[0], opened[1]

    yield both
    for store in opened:
        store.close()


@pytest.fixture
def store(replicas: Replicas) -> JobStore:
    return replicas()[0]


def synced(store: JobStore) -> JobStore:
    """SQLite queues writes; another process sees them once committed (reads of the same store
    always wait for them). DynamoDB commits every write before returning."""
    flush = getattr(store, "flush", None)
    if flush is not None:
        flush()
    return store


# -- records and state transitions ------------------------------------------------------------


def test_create_get_round_trips_every_field(store: JobStore) -> None:
    job = make_job(
        state=JobState.SUCCEEDED, started_at=T0 + 0.25, finished_at=T0 + 1.5, rows=12_345_678_901, bytes=7,
        error_code="E", error_message="m ü", sql_text="select 1", peer="ipv4:1.2.3.4:5", delivery="offload",
        user_agent="adbc", engine_query_id="q-9", sqlstate="42P01", expires_at=T0 + 86_400.125,
        offload_location="s3://b/p/acme/x/", offload_expires_at=T0 + 3600, label="nightly", result='{"a": 1}',
        admission="queued", queued_ms=1234, truncated="rows:10",
    )  # fmt: skip
    store.create(job)
    assert store.get(job.id) == job
    minimal = make_job(subject="", peer="", user_agent="")
    store.create(minimal)
    assert store.get(minimal.id) == minimal
    assert store.get(uuid.uuid4().hex) is None


def test_create_never_overwrites(store: JobStore) -> None:
    job = make_job()
    store.create(job)
    store.create(replace(job, tenant="globex", state=JobState.FAILED))
    assert store.get(job.id) == job


def test_start_only_from_queued(store: JobStore) -> None:
    queued, done = make_job(), make_job(state=JobState.CANCELLED, finished_at=T0 + 1)
    for job in (queued, done):
        store.create(job)
        store.start(job.id, T0 + 2, "i-2")
    started = store.get(queued.id)
    assert started is not None and started.state is JobState.RUNNING
    assert started.started_at == T0 + 2 and started.instance_id == "i-2"
    assert store.get(done.id) == done
    other = make_job()
    store.create(other)
    store.start(other.id, T0 + 3)  # no instance given: the planning instance keeps it
    assert (got := store.get(other.id)) is not None and got.instance_id == "i-1" and got.state is JobState.RUNNING


def test_finish_records_the_outcome_whatever_the_state(store: JobStore) -> None:
    job = make_job()
    store.create(job)
    store.finish(job.id, JobState.SUCCEEDED, T0 + 5, rows=3, bytes_=24)
    done = store.get(job.id)
    assert done is not None and (done.state, done.rows, done.bytes) == (JobState.SUCCEEDED, 3, 24)
    assert done.finished_at == T0 + 5 and done.started_at == T0 + 5  # never started: started = finished
    store.start(job.id, T0 + 6)
    assert store.get(job.id) == done
    # The process that ran it reports how it really ended, even after a sweep marked it.
    store.finish(
        job.id, JobState.FAILED, T0 + 7, error_code="X", error_message="boom", sqlstate="57014", engine_query_id="pid:7"
    )
    failed = store.get(job.id)
    assert failed is not None and failed.state is JobState.FAILED and failed.rows is None
    assert (failed.error_code, failed.error_message, failed.sqlstate) == ("X", "boom", "57014")
    assert failed.started_at == T0 + 5 and failed.engine_query_id == "pid:7"
    store.finish(job.id, JobState.FAILED, T0 + 8, error_code="X")  # no id this time: the known one stays
    assert (again := store.get(job.id)) is not None and again.engine_query_id == "pid:7"
    ghost = uuid.uuid4().hex
    store.finish(ghost, JobState.SUCCEEDED, T0)
    store.set_offload(ghost, "x", T0)
    store.set_result(ghost, "{}")
    store.set_admission(ghost, "admitted", 0)
    store.set_truncated(ghost, "rows:1")
    assert store.get(ghost) is None  # updates never create a job


def test_offload_and_result(store: JobStore) -> None:
    job = make_job()
    store.create(job)
    store.set_offload(job.id, "s3://bucket/p/acme/j/", T0 + 60)
    store.set_result(job.id, '{"parts": []}' + " " * 50_000)
    store.set_offload(job.id, "s3://bucket/p/acme/j/", T0 + 120)
    got = store.get(job.id)
    assert got is not None and got.delivery == "offload" and got.offload_expires_at == T0 + 120
    assert got.offload_location == "s3://bucket/p/acme/j/" and got.result is not None and len(got.result) > 50_000


def test_admission_decision_and_truncation(store: JobStore) -> None:
    job = make_job()
    store.create(job)
    assert (fresh := store.get(job.id)) is not None and (fresh.admission, fresh.queued_ms, fresh.truncated) == (
        None, None, None,
    )  # fmt: skip
    store.set_admission(job.id, "queued", 2500)
    store.start(job.id, T0 + 3)
    store.set_truncated(job.id, "bytes:1048576")
    store.finish(job.id, JobState.SUCCEEDED, T0 + 4, rows=10, bytes_=1_048_576)
    done = store.get(job.id)
    assert done is not None and done.state is JobState.SUCCEEDED
    assert (done.admission, done.queued_ms, done.truncated) == ("queued", 2500, "bytes:1048576")
    refused = make_job()
    store.create(refused)
    store.set_admission(refused.id, "refused")  # refused before it waited: no queued time
    store.finish(refused.id, JobState.FAILED, T0 + 1, error_code="RATE_LIMITED")
    got = store.get(refused.id)
    assert got is not None and (got.admission, got.queued_ms, got.truncated) == ("refused", None, None)


def test_cancel_unfinished(store: JobStore) -> None:
    queued, running, done = make_job(), make_job(state=JobState.RUNNING), make_job(state=JobState.SUCCEEDED)
    for job in (queued, running, done):
        store.create(job)
    for job in (queued, running):
        assert store.cancel_unfinished(job.id, T0 + 9, error_code="CANCELLED", error_message="by you")
        got = store.get(job.id)
        assert got is not None and got.state is JobState.CANCELLED and got.error_message == "by you"
        assert not store.cancel_unfinished(job.id, T0 + 10, error_code="C", error_message="again")
    assert not store.cancel_unfinished(done.id, T0 + 9, error_code="C", error_message="m")
    assert not store.cancel_unfinished(uuid.uuid4().hex, T0 + 9, error_code="C", error_message="m")
    assert store.get(done.id) == done


# -- listing ----------------------------------------------------------------------------------


def _ids(jobs: list[Job]) -> list[str]:
    return [job.id for job in jobs]


def test_list_filters_and_order(store: JobStore) -> None:
    jobs = [
        make_job("acme", JobState.SUCCEEDED, created_at=T0 + 1),
        make_job("acme", JobState.FAILED, created_at=T0 + 2, kind="update"),
        make_job("globex", JobState.SUCCEEDED, created_at=T0 + 3),
        make_job("acme", JobState.QUEUED, created_at=T0 + 4),
        make_job("acme", JobState.RUNNING, created_at=T0 + 5),
    ]
    for job in jobs:
        store.create(job)
    acme = [j for j in reversed(jobs) if j.tenant == "acme"]
    assert store.list("acme") == acme
    assert store.list("acme", 2) == acme[:2]
    assert _ids(store.list()) == _ids(list(reversed(jobs)))
    assert _ids(store.list("acme", state=JobState.SUCCEEDED)) == [jobs[0].id]
    assert _ids(store.list(state=JobState.SUCCEEDED)) == [jobs[2].id, jobs[0].id]
    assert _ids(store.list(state=JobState.QUEUED)) == [jobs[3].id]
    assert _ids(store.list("acme", kind="update")) == [jobs[1].id]
    assert _ids(store.list("acme", since=T0 + 2)) == [jobs[4].id, jobs[3].id, jobs[1].id]
    assert _ids(store.list("acme", since=T0 + 2, before=(T0 + 5, jobs[4].id))) == [jobs[3].id, jobs[1].id]
    assert store.list("initech") == []
    assert store.list("acme", since=T0 + 5, before=(T0 + 2, jobs[1].id)) == []


def test_paging_resumes_exactly_even_within_one_instant(store: JobStore) -> None:
    jobs = [make_job(created_at=T0 + (i // 3)) for i in range(14)]  # three jobs per instant
    for job in jobs:
        store.create(job)
    expected = sorted(jobs, key=lambda j: (j.created_at, j.id), reverse=True)
    seen: list[Job] = []
    before = None
    while page := store.list("acme", 4, before=before):
        seen += page
        before = (page[-1].created_at, page[-1].id)
    assert _ids(seen) == _ids(expected)
    filtered = store.list("acme", 100, state=JobState.QUEUED, before=(expected[5].created_at, expected[5].id))
    assert _ids(filtered) == _ids(expected[6:])


# -- housekeeping: instances, recovery, retention ---------------------------------------------


def _instance(instance_id: str, heartbeat_at: float, **fields: Any) -> Instance:
    return Instance(instance_id, "host-a", 4242, T0, heartbeat_at, 10.0, **fields)


def test_instances(store: JobStore) -> None:
    store.save_instance(_instance("a", T0))
    store.save_instance(_instance("b", T0 + 100))
    store.save_instance(_instance("a", T0 + 50, stopped_at=T0 + 50))  # a refresh replaces the row
    assert sorted(store.instances(), key=lambda i: i.id) == [
        _instance("a", T0 + 50, stopped_at=T0 + 50),
        _instance("b", T0 + 100),
    ]
    assert store.forget_instances(T0 + 200, keep="b") == 1
    assert [i.id for i in store.instances()] == ["b"]
    assert store.forget_instances(T0 + 50, keep="x") == 0


def test_recovery_primitives(store: JobStore) -> None:
    mine = [make_job(state=JobState.RUNNING, instance_id="dead") for _ in range(3)]
    others = [make_job(state=JobState.RUNNING, instance_id="alive"), make_job(instance_id="dead")]
    done = make_job(state=JobState.SUCCEEDED, instance_id="dead")
    for job in (*mine, *others, done):
        store.create(job)
    assert store.running_instance_ids() == {"dead", "alive"}
    assert store.fail_running("dead", T0 + 9, error_code=GATEWAY_RESTARTED, error_message="gone") == 3
    for job in mine:
        got = store.get(job.id)
        assert got is not None and got.state is JobState.FAILED and got.error_code == GATEWAY_RESTARTED
        assert got.finished_at == T0 + 9
    assert [store.get(j.id) for j in (*others, done)] == [*others, done]
    assert store.running_instance_ids() == {"alive"}
    assert store.fail_running("dead", T0 + 10, error_code="X", error_message="again") == 0


def test_cancel_queued_before_a_time(store: JobStore) -> None:
    old, new = make_job(created_at=T0), make_job(created_at=T0 + 100)
    running = make_job(state=JobState.RUNNING, created_at=T0)
    for job in (old, new, running):
        store.create(job)
    assert store.cancel_queued(T0 + 50, T0 + 200, error_code="NEVER_FETCHED", error_message="nobody came") == 1
    got = store.get(old.id)
    assert got is not None and got.state is JobState.CANCELLED and got.error_code == "NEVER_FETCHED"
    assert store.get(new.id) == new and store.get(running.id) == running


def test_purge_expired_keeps_unfinished_jobs(store: JobStore) -> None:
    expired = make_job(state=JobState.SUCCEEDED, expires_at=T0 + 10)
    live = make_job(state=JobState.FAILED, expires_at=T0 + 1000)
    forever = make_job(state=JobState.SUCCEEDED)
    running = make_job(state=JobState.RUNNING, expires_at=T0 + 10)
    for job in (expired, live, forever, running):
        store.create(job)
    assert store.purge_expired(T0 + 10) == 1
    assert store.get(expired.id) is None
    assert [store.get(j.id) for j in (live, forever, running)] == [live, forever, running]
    store.finish(running.id, JobState.SUCCEEDED, T0 + 20)
    assert store.purge_expired(T0 + 30) == 1 and store.get(running.id) is None


# -- client request ids -----------------------------------------------------------------------


def _claim(request_id: str, job_id: str, at: float, statement: str = "s1", tenant: str = "acme") -> RequestClaim:
    return RequestClaim(tenant, request_id, statement, job_id, at, at + 100)


def test_claim_request_binds_once_per_window(store: JobStore) -> None:
    first = _claim("r-1", "j1", T0)
    assert store.claim_request(first) == first
    assert store.claim_request(_claim("r-1", "j2", T0 + 5, "s2")) == first
    assert store.claim_request(_claim("r-1", "j3", T0 + 5, tenant="globex")).job_id == "j3"  # per tenant
    renewed = _claim("r-1", "j4", T0 + 100)  # the first binding has expired
    assert store.claim_request(renewed) == renewed
    assert store.forget_requests(T0 + 104) == 0
    assert store.forget_requests(T0 + 105) == 1  # globex's
    assert store.claim_request(_claim("r-1", "j5", T0 + 150)) == renewed
    assert store.forget_requests(T0 + 500) == 1


# -- two replicas on the same data ------------------------------------------------------------


def test_replicas_see_each_others_jobs(replicas: Replicas) -> None:
    one, two = replicas()
    job = make_job()
    one.create(job)
    one.start(job.id, T0 + 1, "i-one")
    synced(one)
    assert _ids(two.list("acme")) == [job.id]
    assert two.cancel_unfinished(job.id, T0 + 2, error_code="CANCELLED", error_message="from two")
    got = one.get(job.id)
    assert got is not None and got.state is JobState.CANCELLED


def _race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls at once (released together by a barrier): their results, in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_concurrent_claims_from_two_replicas_bind_exactly_one(replicas: Replicas) -> None:
    one, two = replicas()
    for round_ in range(3):
        claims = [_claim(f"race-{round_}", f"job-{i}", T0) for i in range(8)]
        results = _race([lambda s=(one, two)[i % 2], c=claim: s.claim_request(c) for i, claim in enumerate(claims)])
        assert len(set(results)) == 1 and results[0] in claims


def test_concurrent_cancel_and_recovery_act_once(replicas: Replicas) -> None:
    one, two = replicas()
    job = make_job(state=JobState.RUNNING)
    one.create(job)
    synced(one)
    wins = _race([lambda s=s: s.cancel_unfinished(job.id, T0, error_code="C", error_message="m") for s in (one, two)])
    assert sorted(wins) == [False, True]
    running = [make_job(state=JobState.RUNNING, instance_id="dead") for _ in range(6)]
    for j in running:
        one.create(j)
    synced(one)
    counts = _race([lambda s=s: s.fail_running("dead", T0, error_code="X", error_message="m") for s in (one, two)])
    assert sum(counts) == 6


def test_a_replica_fails_the_running_jobs_of_a_dead_one(replicas: Replicas) -> None:
    one, two = replicas()
    now = [time.time()]

    def keeper(store: JobStore, instance_id: str) -> JobHousekeeper:
        return JobHousekeeper(
            store, instance_id, heartbeat_seconds=1, sweep_seconds=3600, retention_seconds=86_400,
            ticket_ttl_seconds=3600, clock=lambda: now[0],
        )  # fmt: skip

    dead, alive = keeper(one, "replica-1"), keeper(two, "replica-2")
    one.save_instance(dead.instance)
    two.save_instance(alive.instance)
    orphan = make_job(state=JobState.RUNNING, instance_id="replica-1", created_at=now[0])
    own = make_job(state=JobState.RUNNING, instance_id="replica-2", created_at=now[0])
    one.create(orphan)
    two.create(own)
    synced(one), synced(two)
    assert alive.sweep(now[0]).recovered == 0  # replica-1's heartbeat is fresh
    now[0] += 10  # replica-1 stopped beating (3 heartbeats = 3 s)
    two.save_instance(replace(alive.instance, heartbeat_at=now[0]))
    assert alive.sweep(now[0]).recovered == 1
    got = two.get(orphan.id)
    assert got is not None and got.state is JobState.FAILED and got.error_code == GATEWAY_RESTARTED
    assert (mine := two.get(own.id)) is not None and mine.state is JobState.RUNNING
