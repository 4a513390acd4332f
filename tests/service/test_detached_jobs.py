"""Detached jobs through real clients: SubmitJob runs a query on the gateway, independent of the
submitting call; the finished result is fetched later with GetFlightInfo on a PATH descriptor
(or GetJobResult), from any replica; cancel, failure, tenant scoping and restart recovery."""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.flight as fl
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from job_actions_support import job_action, read_job, tag, wait_for
from manual_clock import ManualClock
from serve_process import start_serve
from services import MotoService

from flight_gateway.jobs import JobState

PART_ROWS = 40_000
# Rows trickle out (one in ~5000 passes the filter) for as long as anyone lets it run.
TRICKLE = "select i as t_{} from range(100000000000) t(i) where hash(i) % 5000 = 0"
ENDLESS = "select count(*) as n_{} from range(100000000000) a"
Options = fl.FlightCallOptions


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    # offload_mode stays "never": detached results are offloaded whatever the mode says.
    running = start_gateway(tmp_path_factory.mktemp("detached"), offload_part_rows=PART_ROWS, max_detached_jobs=3)
    yield running
    running.gateway.shutdown()


@pytest.fixture
def acme(gw: RunningGateway) -> Iterator[tuple[fl.FlightClient, Options]]:
    client, options = gw.flight_client("acme")
    yield client, options
    client.close()


def submit(client: fl.FlightClient, options: Options, sql: str, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = job_action(client, options, "SubmitJob", {"sql": sql, **fields})
    return result


def finished(client: fl.FlightClient, options: Options, job_id: str, timeout: float = 60) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        job: dict[str, Any] = job_action(client, options, "GetJob", {"job_id": job_id})
        return job if job["state"] in ("SUCCEEDED", "FAILED", "CANCELLED") else None

    result: dict[str, Any] = wait_for(probe, f"job {job_id} to finish", timeout)
    return result


def running(client: fl.FlightClient, options: Options, job_id: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        job: dict[str, Any] = job_action(client, options, "GetJob", {"job_id": job_id})
        assert job["state"] in ("QUEUED", "RUNNING"), job
        return job if job["state"] == "RUNNING" else None

    result: dict[str, Any] = wait_for(probe, f"job {job_id} to be RUNNING")
    return result


def result_info(client: fl.FlightClient, options: Options, job_id: str) -> fl.FlightInfo:
    return client.get_flight_info(fl.FlightDescriptor.for_path("jobs", job_id), options)


def read_all(client: fl.FlightClient, options: Options, info: fl.FlightInfo) -> pa.Table:
    return pa.concat_tables([client.do_get(endpoint.ticket, options).read_all() for endpoint in info.endpoints])


def job_dirs(gw: RunningGateway, job_id: str) -> list[Path]:
    return [path for path in (gw.data_dir / "offload").rglob(job_id) if path.is_dir()]


def test_list_actions_offers_submit_and_result(acme: tuple[fl.FlightClient, Options]) -> None:
    client, options = acme
    actions = {action.type: action.description for action in client.list_actions(options)}
    assert '{"sql"' in actions["SubmitJob"] and "for_path" in actions["SubmitJob"]
    assert "FlightInfo" in actions["GetJobResult"]


def test_a_detached_job_outlives_its_client_and_its_result_is_fetched_later(gw: RunningGateway) -> None:
    sql = f"select i as id_{tag()}, i % 7 as k, 'v' || (i % 100)::varchar as s from range(150000) t(i)"
    client, options = gw.flight_client("acme")
    submitted = submit(client, options, sql, label="nightly export")
    client.close()  # the submitting client is gone; the job is not
    assert set(submitted) == {"job_id", "state"} and submitted["state"] in ("RUNNING", "SUCCEEDED")

    other, other_options = gw.flight_client("acme")
    with other:
        job = finished(other, other_options, submitted["job_id"])
        assert job["state"] == "SUCCEEDED", job
        assert job["kind"] == "detached" and job["label"] == "nightly export" and job["delivery"] == "offload"
        assert job["rows"] == 150_000 and job["offload_expires_at"] is not None
        info = result_info(other, other_options, submitted["job_id"])
        assert len(info.endpoints) == 4  # 150 000 rows in parts of 40 000
        assert info.total_records == 150_000 and info.total_bytes > 0
        assert all(endpoint.expiration_time is not None for endpoint in info.endpoints)
        fetched = read_all(other, other_options, info)
        assert fetched.schema == info.schema
    with gw.connect("acme") as conn, conn.cursor() as cur:
        cur.execute(sql)
        direct = cur.fetch_arrow_table()
    assert fetched.sort_by(fetched.schema.names[0]).equals(direct.sort_by(direct.schema.names[0]))


def test_get_job_result_returns_the_same_flight_info(acme: tuple[fl.FlightClient, Options]) -> None:
    client, options = acme
    job_id = submit(client, options, f"select i as r_{tag()} from range(1000) t(i)")["job_id"]
    assert finished(client, options, job_id)["state"] == "SUCCEEDED"
    raw = list(client.do_action(fl.Action("GetJobResult", json.dumps({"job_id": job_id}).encode()), options))
    assert len(raw) == 1
    info = fl.FlightInfo.deserialize(raw[0].body.to_pybytes())
    assert info.descriptor.path == [b"jobs", job_id.encode()]
    assert client.get_schema(info.descriptor, options).schema == info.schema
    assert info.total_records == 1000
    assert read_all(client, options, info).num_rows == 1000


def test_parameters_are_bound_to_the_placeholders(acme: tuple[fl.FlightClient, Options]) -> None:
    client, options = acme
    sql = f"select i as p_{tag()}, ? as s, ? as b, cast(? as integer) as n from range(?) t(i) where i >= ?"
    job_id = submit(client, options, sql, parameters=["text", True, None, 10, 4])["job_id"]
    assert finished(client, options, job_id)["state"] == "SUCCEEDED"
    result = read_all(client, options, result_info(client, options, job_id))
    assert result.column(0).to_pylist() == [4, 5, 6, 7, 8, 9]
    assert set(result.column("s").to_pylist()) == {"text"} and set(result.column("b").to_pylist()) == {True}
    assert set(result.column("n").to_pylist()) == {None}


def test_fetching_before_the_job_finished_says_to_poll(acme: tuple[fl.FlightClient, Options]) -> None:
    client, options = acme
    job_id = submit(client, options, ENDLESS.format(tag()))["job_id"]
    try:
        running(client, options, job_id)
        with pytest.raises(fl.FlightUnavailableError, match="poll GetJob") as raised:
            result_info(client, options, job_id)
        assert "JOB_NOT_FINISHED" in str(raised.value)
    finally:
        job_action(client, options, "CancelJob", {"job_id": job_id})
    assert finished(client, options, job_id)["state"] == "CANCELLED"


def test_cancel_job_interrupts_the_engine_and_deletes_written_parts(
    gw: RunningGateway, acme: tuple[fl.FlightClient, Options]
) -> None:
    client, options = acme
    job_id = submit(client, options, TRICKLE.format(tag()))["job_id"]
    running(client, options, job_id)
    wait_for(lambda: any(path.glob("part-*.parquet") for path in job_dirs(gw, job_id)), "a first Parquet part")
    assert job_action(client, options, "CancelJob", {"job_id": job_id})["status"] == "CANCELLING"
    job = finished(client, options, job_id)
    assert job["state"] == "CANCELLED" and job["error_code"] == "CANCELLED", job
    assert job_dirs(gw, job_id) == []
    with pytest.raises(pa.ArrowKeyError, match="JOB_CANCELLED"):
        result_info(client, options, job_id)
    assert job_action(client, options, "CancelJob", {"job_id": job_id})["status"] == "NOT_CANCELLABLE"


def test_a_failing_job_ends_failed_and_has_no_result(acme: tuple[fl.FlightClient, Options]) -> None:
    client, options = acme
    # Valid SQL with a valid result type: it fails only while running, at the 51st row.
    sql = f"select case when i < 50 then i::varchar else 'x' || i end::integer as f_{tag()} from range(100) t(i)"
    job_id = submit(client, options, sql)["job_id"]
    job = finished(client, options, job_id)
    assert job["state"] == "FAILED" and job["error_code"] is not None and job["error_message"], job
    with pytest.raises(pa.ArrowKeyError, match="JOB_FAILED") as raised:
        result_info(client, options, job_id)
    assert "submit the statement again" in str(raised.value)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"sql": "select * from no_such_table_anywhere"}, "INVALID_ARGUMENT|NOT_FOUND"),
        ({"sql": "create table t_never (i int)"}, "NOT_A_QUERY"),
        ({"sql": "select ? as p"}, "PARAMETER_MISMATCH"),
        ({"sql": "select ? as p", "parameters": [{"a": 1}]}, "'parameters' must be a list"),
        ({"sql": "select ? as p", "parameters": [2**70]}, "PARAMETER_OUT_OF_RANGE"),
        ({"sql": "   "}, "EMPTY_STATEMENT"),
        ({"sql": "select 1", "limit": 1}, "unknown field 'limit'"),
        ({"label": "no sql"}, "'sql' is required"),
    ],
)
def test_submit_refuses_what_it_cannot_run(acme: tuple[fl.FlightClient, Options], body: Any, code: str) -> None:
    client, options = acme
    with pytest.raises((pa.ArrowInvalid, pa.ArrowKeyError, fl.FlightError), match=code):
        submit(client, options, **body) if "sql" in body else job_action(client, options, "SubmitJob", body)


def test_another_tenant_cannot_see_fetch_or_cancel_the_job(gw: RunningGateway) -> None:
    acme, acme_options = gw.flight_client("acme")
    globex, globex_options = gw.flight_client("globex")
    with acme, globex:
        job_id = submit(acme, acme_options, f"select i as x_{tag()} from range(10) t(i)")["job_id"]
        assert finished(acme, acme_options, job_id)["state"] == "SUCCEEDED"
        for attempt in (
            lambda: result_info(globex, globex_options, job_id),
            lambda: job_action(globex, globex_options, "GetJobResult", {"job_id": job_id}),
            lambda: job_action(globex, globex_options, "GetJob", {"job_id": job_id}),
            lambda: job_action(globex, globex_options, "CancelJob", {"job_id": job_id}),
        ):
            with pytest.raises(pa.ArrowKeyError, match="no job with this id for this tenant"):
                attempt()
        # The owner still reads it; a ticket minted for acme is refused to globex.
        info = result_info(acme, acme_options, job_id)
        with pytest.raises(fl.FlightError):
            globex.do_get(info.endpoints[0].ticket, globex_options).read_all()


def test_bad_path_descriptors_are_invalid_argument(acme: tuple[fl.FlightClient, Options]) -> None:
    client, options = acme
    for path in (["jobs"], ["results", "abc"], ["jobs", "a", "b"]):
        with pytest.raises(pa.ArrowInvalid, match="for_path"):
            client.get_flight_info(fl.FlightDescriptor.for_path(*path), options)
    with pytest.raises(pa.ArrowKeyError, match="no job with this id"):
        result_info(client, options, "0" * 32)


def test_a_full_pool_refuses_more_submits(tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path, max_detached_jobs=1)
    try:
        client, options = gateway.flight_client("acme")
        with client:
            first = submit(client, options, ENDLESS.format(tag()))["job_id"]
            with pytest.raises(fl.FlightUnavailableError, match="DETACHED_JOBS_BUSY"):
                submit(client, options, "select 1 as one")
            job_action(client, options, "CancelJob", {"job_id": first})
            assert finished(client, options, first)["state"] == "CANCELLED"
            # The slot is free again.
            second = wait_for(lambda: _try_submit(client, options, "select 2 as two"), "a free worker")
            assert finished(client, options, second["job_id"])["state"] == "SUCCEEDED"
    finally:
        gateway.gateway.shutdown()


def _try_submit(client: fl.FlightClient, options: Options, sql: str) -> dict[str, Any] | None:
    try:
        return submit(client, options, sql)
    except fl.FlightUnavailableError:
        return None  # the cancelled job's worker has not let go of its slot yet


def test_an_offloaded_statement_result_can_be_fetched_again_by_job_id(gw: RunningGateway) -> None:
    client, options = gw.flight_client("acme")
    offload = fl.FlightCallOptions(headers=[*options.headers, (b"x-flight-gateway-delivery", b"offload")])
    with client:
        sql = f"select i as o_{tag()} from range(5000) t(i)"
        with gw.connect("acme") as conn, conn.cursor() as cur:
            cur.adbc_statement.set_options(**{"adbc.flight.sql.rpc.call_header.x-flight-gateway-delivery": "offload"})
            cur.execute(sql)
            first = cur.fetch_arrow_table()
        job = next(j for j in job_action(client, offload, "ListJobs", {"kind": "query"})["jobs"] if j["rows"] == 5000)
        again = read_all(client, options, result_info(client, options, job["id"]))
        assert again.equals(first)


def test_the_result_is_fetched_from_another_replica(gw: RunningGateway, tmp_path: Path) -> None:
    """Two gateways sharing the job store and offload directory (and keys, via the data dir)."""
    client, options = gw.flight_client("acme")
    with client:
        job_id = submit(client, options, f"select i as rep_{tag()} from range(90000) t(i)")["job_id"]
        assert finished(client, options, job_id)["state"] == "SUCCEEDED"
    replica = start_gateway(gw.data_dir)
    try:
        other, other_options = replica.flight_client("acme")
        with other:
            info = result_info(other, other_options, job_id)
            assert info.total_records == 90_000 and len(info.endpoints) == 3
            assert read_all(other, other_options, info).num_rows == 90_000
    finally:
        replica.gateway.shutdown()


def test_a_result_past_its_expiry_says_run_again(tmp_path: Path) -> None:
    clock = ManualClock()  # the result expires when the test says, not when a slow machine lets it
    gateway = start_gateway(tmp_path, clock=clock, offload_ttl_seconds=60)
    try:
        client, options = gateway.flight_client("acme")
        with client:
            job_id = submit(client, options, "select 1 as one")["job_id"]
            assert finished(client, options, job_id)["state"] == "SUCCEEDED"
            clock.advance(59)
            assert result_info(client, options, job_id).total_records == 1  # still there
            clock.advance(2)
            with pytest.raises(pa.ArrowKeyError, match="RESULT_EXPIRED"):
                result_info(client, options, job_id)
    finally:
        gateway.gateway.shutdown()


def test_a_detached_job_of_a_killed_gateway_fails_after_restart(tmp_path: Path) -> None:
    serve = start_serve(tmp_path, demo_rows=1000)
    try:
        client = fl.FlightClient(serve.uri)
        options = fl.FlightCallOptions(headers=[client.authenticate_basic_token("acme", PASSWORD)])
        job_id = submit(client, options, ENDLESS.format(tag()))["job_id"]
        running(client, options, job_id)
        serve.process.send_signal(signal.SIGKILL)
        client.close()
    finally:
        serve.stop()  # reaps the killed process
    stored = read_job(serve.data_dir / "jobs.sqlite3", job_id)
    assert stored is not None and stored.state is JobState.RUNNING  # nobody has cleaned up yet

    restarted = start_gateway(serve.data_dir, demo_rows=1000)
    try:
        client, options = restarted.flight_client("acme")
        with client:
            job = job_action(client, options, "GetJob", {"job_id": job_id})
            assert job["state"] == "FAILED" and job["error_code"] == "GATEWAY_RESTARTED", job
            with pytest.raises(pa.ArrowKeyError, match="JOB_FAILED|ended FAILED"):
                result_info(client, options, job_id)
    finally:
        restarted.gateway.shutdown()


def test_a_stopping_gateway_cancels_its_detached_jobs(tmp_path: Path) -> None:
    gateway = start_gateway(tmp_path)
    client, options = gateway.flight_client("acme")
    try:
        job_id = submit(client, options, ENDLESS.format(tag()))["job_id"]
        running(client, options, job_id)
    finally:
        client.close()
        gateway.gateway.shutdown()  # returns only once the worker has ended
    stored = read_job(tmp_path / "jobs.sqlite3", job_id)
    assert stored is not None and stored.state is JobState.CANCELLED, stored


def test_cancel_through_another_replica_interrupts_the_job(tmp_path: Path) -> None:
    """The job runs on `first`; CancelJob reaches `second`, which shares the job store."""
    first = start_gateway(tmp_path)
    second = start_gateway(tmp_path)
    try:
        client, options = first.flight_client("acme")
        other, other_options = second.flight_client("acme")
        with client, other:
            job_id = submit(client, options, TRICKLE.format(tag()))["job_id"]
            running(client, options, job_id)
            wait_for(lambda: job_dirs(first, job_id), "the job to write its parts")
            assert job_action(other, other_options, "CancelJob", {"job_id": job_id})["status"] == "CANCELLED"
            detached = first.gateway.detached
            assert detached is not None
            wait_for(lambda: detached.running() == 0, "the first gateway to interrupt its worker")
            assert finished(client, options, job_id)["state"] == "CANCELLED"
            assert job_dirs(first, job_id) == []
    finally:
        second.gateway.shutdown()
        first.gateway.shutdown()


def test_replicas_on_dynamodb_and_s3_share_results_and_cancels(moto: MotoService, tmp_path: Path) -> None:
    """Two gateways with nothing on a shared disk: the job store is DynamoDB and results go to S3
    (both moto's), keys are configured. A job submitted to one is fetched, and another cancelled,
    through the other."""
    bucket = f"detached-{uuid.uuid4().hex[:12]}"
    moto.client("s3").create_bucket(Bucket=bucket)
    shared = {
        "token_keys": {"k1": "74e21d1171efd973ee7b232d7ddde276b8772aa5fc2a3798c06ef43973c90c93"},
        "job_store": "dynamodb",
        "dynamodb_table": f"jobs-{uuid.uuid4().hex[:10]}",
        "dynamodb_endpoint_url": moto.endpoint_url,
        "dynamodb_region": moto.region,
        "dynamodb_create_table": True,
        "offload_target": f"s3://{bucket}/results",
        "offload_s3_endpoint_url": moto.endpoint_url,
        "offload_s3_region": moto.region,
        "offload_part_rows": 25_000,
    }
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
        env.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
        env.setenv("AWS_DEFAULT_REGION", moto.region)
        first = start_gateway(tmp_path / "first", **shared)
        second = start_gateway(tmp_path / "second", **shared)
        try:
            client, options = first.flight_client("acme")
            other, other_options = second.flight_client("acme")
            with client, other:
                job_id = submit(client, options, f"select i as s3_{tag()} from range(60000) t(i)")["job_id"]
                assert finished(other, other_options, job_id)["state"] == "SUCCEEDED"
                info = result_info(other, other_options, job_id)
                assert info.total_records == 60_000 and len(info.endpoints) == 3
                assert sorted(read_all(other, other_options, info).column(0).to_pylist()) == list(range(60_000))

                endless = submit(client, options, ENDLESS.format(tag()))["job_id"]
                running(other, other_options, endless)
                assert job_action(other, other_options, "CancelJob", {"job_id": endless})["status"] == "CANCELLED"
                detached = first.gateway.detached
                assert detached is not None
                wait_for(lambda: detached.running() == 0, "the first gateway to interrupt its worker")
                assert finished(client, options, endless)["state"] == "CANCELLED"
        finally:
            second.gateway.shutdown()
            first.gateway.shutdown()
