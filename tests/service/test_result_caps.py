"""Result caps through real clients on DuckDB: max_result_rows / max_result_bytes in both modes
(error: RESULT_LIMIT and a FAILED job; truncate: exactly the cap, marked in the FlightInfo, on the
last batch and in the job), crossed in the first batch and mid-stream, on streamed, prepared,
offloaded and detached results; the tenant's max_statement_bytes and max_offload_bytes."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as fl
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from job_actions_support import job_action, tag, wait_for

from auth import hash_password
from auth.flight import REQUEST_ID_HEADER
from flight_gateway.jobs import Job, SqliteJobStore, fingerprint
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack

BATCH_ROWS = 1024  # the smallest batch: a cap of 3000 rows is crossed in the third batch
CAP_ROWS = 3000
SMALL_CAP = 500  # crossed within the first batch
CAP_BYTES = 2500 * 8 + 3  # 2500 BIGINTs and a bit
ENDLESS = "select range as e_{} from range(100000000000)"
TENANTS: dict[str, dict[str, Any]] = {
    "rows_error": {"max_result_rows": CAP_ROWS},
    "rows_cut": {"max_result_rows": CAP_ROWS, "result_limit_mode": "truncate"},
    "bytes_error": {"max_result_bytes": CAP_BYTES},
    "bytes_cut": {"max_result_bytes": CAP_BYTES, "result_limit_mode": "truncate"},
    "small_text": {"max_statement_bytes": 64},
    "small_cut": {"max_result_rows": SMALL_CAP, "result_limit_mode": "truncate"},
    "small_error": {"max_result_rows": SMALL_CAP},
}
OFFLOADING: dict[str, dict[str, Any]] = {
    "off_cut": {"max_result_rows": CAP_ROWS, "result_limit_mode": "truncate"},
    "off_error": {"max_result_rows": CAP_ROWS},
    "off_small": {"max_offload_bytes": 20_000},
}
Client = tuple[fl.FlightClient, fl.FlightCallOptions]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    tenants = [{"id": name, "limits": limits} for name, limits in TENANTS.items()]
    tenants += [{"id": name, "offload": "always", "limits": limits} for name, limits in OFFLOADING.items()]
    running = start_gateway(
        tmp_path_factory.mktemp("caps"),
        batch_rows=BATCH_ROWS,
        tenants=tenants,
        users=[{"username": t["id"], "password_hash": hash_password(PASSWORD), "tenant": t["id"]} for t in tenants],
        offload_part_rows=1000,
    )
    yield running
    running.gateway.shutdown()


@pytest.fixture
def flight(gw: RunningGateway) -> Iterator[Any]:
    opened: list[fl.FlightClient] = []

    def factory(tenant: str) -> Client:
        client, options = gw.flight_client(tenant)
        opened.append(client)
        return client, options

    yield factory
    for client in opened:
        client.close()


def _info(client: Client, sql: str) -> fl.FlightInfo:
    return client[0].get_flight_info(
        fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql))), client[1]
    )


def _read(client: Client, info: fl.FlightInfo) -> tuple[pa.Table, list[bytes]]:
    """Every endpoint's batches, and the app_metadata of each message that carried some."""
    batches: list[pa.RecordBatch] = []
    marks: list[bytes] = []
    for endpoint in info.endpoints:
        for chunk in client[0].do_get(endpoint.ticket, client[1]):
            if chunk.data is not None:
                batches.append(chunk.data)
            if chunk.app_metadata is not None:
                marks.append(chunk.app_metadata.to_pybytes())
    return pa.Table.from_batches(batches, info.schema), marks


def _job(gw: RunningGateway, sql: str, finished: bool = True) -> Job:
    """The job of `sql` (unique per test), once finished, read from the gateway's job store."""

    def probe() -> Job | None:
        store = SqliteJobStore(gw.data_dir / "jobs.sqlite3")
        try:
            jobs = [j for j in store.list(limit=500) if j.fingerprint == fingerprint(sql)]
        finally:
            store.close()
        return jobs[0] if jobs and (jobs[0].state.finished or not finished) else None

    found: Job = wait_for(probe, f"the job of {sql!r}")
    return found


def _announced(info: fl.FlightInfo) -> dict[str, Any]:
    facts: dict[str, Any] = json.loads(info.app_metadata)["result_limit"]
    return facts


# -- truncate ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [10_000, 100_000_000_000])
def test_truncate_ends_at_exactly_the_row_cap_mid_stream(gw: RunningGateway, flight: Any, rows: int) -> None:
    client = flight("rows_cut")
    sql = f"select range as id_{tag()} from range({rows})"
    info = _info(client, sql)
    assert _announced(info) == {"max_result_rows": CAP_ROWS, "mode": "truncate"}
    table, marks = _read(client, info)
    assert table.num_rows == CAP_ROWS and table.column(0).to_pylist() == list(range(CAP_ROWS))
    # The endless query too: the engine was stopped at the cap, not read to the end.
    assert [json.loads(m) for m in marks] == [
        {"result_limit": {"max_result_rows": CAP_ROWS, "mode": "truncate", "truncated": f"rows:{CAP_ROWS}"}}
    ]
    job = _job(gw, sql)
    assert (job.state.value, job.rows, job.truncated) == ("SUCCEEDED", CAP_ROWS, f"rows:{CAP_ROWS}")


def test_truncate_cut_within_the_first_batch(gw: RunningGateway, flight: Any) -> None:
    client = flight("small_cut")
    sql = f"select range as id_{tag()} from range(100000)"
    table, marks = _read(client, _info(client, sql))
    assert table.column(0).to_pylist() == list(range(SMALL_CAP))
    assert json.loads(marks[-1])["result_limit"]["truncated"] == f"rows:{SMALL_CAP}" and len(marks) == 1
    job = _job(gw, sql)
    assert (job.state.value, job.rows, job.truncated) == ("SUCCEEDED", SMALL_CAP, f"rows:{SMALL_CAP}")


def test_truncate_at_the_byte_cap(gw: RunningGateway, flight: Any) -> None:
    client = flight("bytes_cut")
    sql = f"select range as id_{tag()} from range(100000)"
    table, marks = _read(client, _info(client, sql))
    assert json.loads(marks[-1])["result_limit"]["truncated"] == f"bytes:{CAP_BYTES}"
    job = _job(gw, sql)
    # Arrow bytes as the gateway holds them (with validity bitmaps, which IPC may leave out):
    # the most rows that fit, one more would not (8 bytes and a bit per row).
    assert job.bytes is not None and job.bytes <= CAP_BYTES < job.bytes + 9
    assert job.rows == table.num_rows and table.column(0).to_pylist() == list(range(table.num_rows))
    assert BATCH_ROWS * 2 < table.num_rows < CAP_BYTES // 8  # crossed mid-stream, in the third batch


def test_a_result_of_exactly_the_cap_or_under_it_is_untouched(gw: RunningGateway, flight: Any) -> None:
    client = flight("rows_cut")
    for rows in (CAP_ROWS, 10):
        sql = f"select range as id_{tag()} from range({rows})"
        table, marks = _read(client, _info(client, sql))
        assert table.num_rows == rows and marks == []
        job = _job(gw, sql)
        assert job.state.value == "SUCCEEDED" and job.truncated is None and job.rows == rows


def test_adbc_sees_exactly_the_cap_on_prepared_and_plain_queries(gw: RunningGateway) -> None:
    with gw.connect("rows_cut") as conn, conn.cursor() as cursor:
        cursor.execute(f"select range as id_{tag()} from range(?)", parameters=(50_000,))
        assert cursor.fetch_arrow_table().num_rows == CAP_ROWS
        cursor.execute(f"select range as id_{tag()}, 'x' as s from range(7777)")
        assert cursor.fetch_arrow_table().num_rows == CAP_ROWS


# -- error ------------------------------------------------------------------------------------


@pytest.mark.parametrize("tenant", ["rows_error", "bytes_error"])
def test_error_mid_stream_fails_the_stream_and_the_job(gw: RunningGateway, flight: Any, tenant: str) -> None:
    client = flight(tenant)
    sql = ENDLESS.format(tag())  # endless: only a stopped engine lets the job end
    info = _info(client, sql)
    assert _announced(info)["mode"] == "error"
    reader = client[0].do_get(info.endpoints[0].ticket, client[1])
    assert reader.schema == info.schema  # the stream had started: the error comes in it
    received = 0
    with pytest.raises(fl.FlightError, match="RESULT_LIMIT") as raised:
        for chunk in reader:
            received += chunk.data.num_rows
    setting = "max_result_rows" if tenant == "rows_error" else "max_result_bytes"
    assert setting in str(raised.value) and "add a LIMIT" in str(raised.value) and "offload" in str(raised.value)
    assert 0 < received <= CAP_ROWS  # the first batches were sent; the crossing one was not
    job = _job(gw, sql)
    assert (job.state.value, job.error_code, job.truncated) == ("FAILED", "RESULT_LIMIT", None)


def test_error_in_the_first_batch_is_the_call_status(gw: RunningGateway, flight: Any) -> None:
    client = flight("small_error")
    sql = f"select range as id_{tag()} from range(100000)"
    info = _info(client, sql)
    with pytest.raises(fl.FlightError, match="RESULT_LIMIT") as raised:
        reader = client[0].do_get(info.endpoints[0].ticket, client[1])
        reader.schema  # noqa: B018 - the call failed before even the schema was sent
    assert f"more than {SMALL_CAP} rows" in str(raised.value)
    job = _job(gw, sql)
    assert (job.state.value, job.error_code) == ("FAILED", "RESULT_LIMIT")


def test_adbc_gets_result_limit(gw: RunningGateway) -> None:
    with gw.connect("rows_error") as conn, conn.cursor() as cursor:
        with pytest.raises(flight_sql.Error, match="RESULT_LIMIT"):
            cursor.execute(f"select range as id_{tag()} from range(20000)")
            cursor.fetch_arrow_table()
        cursor.execute(f"select range as id_{tag()} from range({CAP_ROWS})")
        assert cursor.fetch_arrow_table().num_rows == CAP_ROWS


def test_a_capped_stream_leaks_no_arrow_memory(gw: RunningGateway, flight: Any) -> None:
    client = flight("rows_cut")
    gc.collect()
    baseline = pa.total_allocated_bytes()
    for _ in range(3):
        table, _ = _read(client, _info(client, ENDLESS.format(tag())))
        assert table.num_rows == CAP_ROWS
        del table
    error_client = flight("rows_error")
    with pytest.raises(fl.FlightError, match="RESULT_LIMIT"):
        _read(error_client, _info(error_client, ENDLESS.format(tag())))

    def settled() -> bool:
        gc.collect()
        return pa.total_allocated_bytes() - baseline <= 1 << 20

    wait_for(settled, "Arrow memory back to its baseline", timeout=10)


# -- statement size ---------------------------------------------------------------------------


def test_the_tenant_statement_size_limit_is_the_smaller(gw: RunningGateway, flight: Any) -> None:
    sql = f"select 1 as one_{tag()}, 'a fairly long literal to pass 64 bytes' as padding"
    assert len(sql.encode()) > 64
    with pytest.raises(pa.ArrowInvalid, match="STATEMENT_TOO_LARGE") as raised:
        _info(flight("small_text"), sql)
    assert "the tenant's limits.max_statement_bytes" in str(raised.value) and "64 bytes" in str(raised.value)
    table, _ = _read(flight("rows_cut"), _info(flight("rows_cut"), sql))  # no tenant limit: the gateway's
    assert table.num_rows == 1


# -- offloaded and detached results ----------------------------------------------------------


def _offload_dir(gw: RunningGateway, tenant: str, job_id: str) -> Path:
    return gw.data_dir / "offload" / tenant / job_id


def test_an_offloaded_result_is_cut_and_says_so(gw: RunningGateway, flight: Any) -> None:
    client = flight("off_cut")
    sql = f"select range as id_{tag()} from range(20000)"
    info = _info(client, sql)
    assert info.total_records == CAP_ROWS and len(info.endpoints) == 3  # parts of 1000 rows
    assert _announced(info) == {"max_result_rows": CAP_ROWS, "mode": "truncate", "truncated": f"rows:{CAP_ROWS}"}
    table, _ = _read(client, info)
    assert sorted(table.column(0).to_pylist()) == list(range(CAP_ROWS))
    job = _job(gw, sql)
    assert (job.rows, job.truncated, job.delivery) == (CAP_ROWS, f"rows:{CAP_ROWS}", "offload")


def test_an_offload_over_a_cap_fails_and_keeps_nothing(gw: RunningGateway, flight: Any) -> None:
    for tenant, code in (("off_error", "RESULT_LIMIT"), ("off_small", "OFFLOAD_TOO_LARGE")):
        sql = f"select range as id_{tag()} from range(20000)"
        with pytest.raises(fl.FlightError, match=code):
            _info(flight(tenant), sql)
        job = _job(gw, sql)
        assert (job.state.value, job.error_code) == ("FAILED", code)
        assert job.offload_location is not None and not Path(job.offload_location).exists()
        assert _offload_dir(gw, tenant, job.id).parent.is_dir()  # the tenant's directory, without the job


def test_an_offload_under_the_byte_cap_is_kept(gw: RunningGateway, flight: Any) -> None:
    client = flight("off_small")
    info = _info(client, f"select range as id_{tag()} from range(2000)")
    assert info.total_records == 2000 and info.app_metadata == b""


def test_detached_jobs_are_cut_or_failed(gw: RunningGateway, flight: Any) -> None:
    cut, failed = flight("rows_cut"), flight("rows_error")

    def finished(client: Client, job_id: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            job: dict[str, Any] = job_action(client[0], client[1], "GetJob", {"job_id": job_id})
            return job if job["state"] in ("SUCCEEDED", "FAILED", "CANCELLED") else None

        found: dict[str, Any] = wait_for(probe, f"job {job_id}")
        return found

    sql = f"select range as id_{tag()} from range(50000)"
    job_id = job_action(cut[0], cut[1], "SubmitJob", {"sql": sql})["job_id"]
    job = finished(cut, job_id)
    assert (job["state"], job["rows"], job["truncated"]) == ("SUCCEEDED", CAP_ROWS, f"rows:{CAP_ROWS}")
    raw = list(cut[0].do_action(fl.Action("GetJobResult", json.dumps({"job_id": job_id}).encode()), cut[1]))
    info = fl.FlightInfo.deserialize(raw[0].body.to_pybytes())
    assert info.total_records == CAP_ROWS and _announced(info)["truncated"] == f"rows:{CAP_ROWS}"
    job_id = job_action(failed[0], failed[1], "SubmitJob", {"sql": sql})["job_id"]
    job = finished(failed, job_id)
    assert (job["state"], job["error_code"]) == ("FAILED", "RESULT_LIMIT")


def test_an_endless_offload_is_cut_and_stops(gw: RunningGateway, flight: Any) -> None:
    client = flight("off_cut")
    sql = ENDLESS.format(tag())  # only a stopped engine lets the offload finish
    info = _info(client, sql)
    assert info.total_records == CAP_ROWS and _announced(info)["truncated"] == f"rows:{CAP_ROWS}"
    assert _job(gw, sql).truncated == f"rows:{CAP_ROWS}"


def test_a_retried_call_gets_the_same_capped_result(gw: RunningGateway, flight: Any) -> None:
    client, options = flight("rows_cut")
    retried = fl.FlightCallOptions(headers=[*options.headers, (REQUEST_ID_HEADER.encode(), tag().encode())])
    sql = f"select range as id_{tag()} from range(10000)"
    first = _info((client, retried), sql)
    again = _info((client, retried), sql)
    assert first.app_metadata == again.app_metadata and _announced(again)["mode"] == "truncate"
    table, marks = _read((client, retried), again)
    assert table.num_rows == CAP_ROWS and json.loads(marks[-1])["result_limit"]["truncated"] == f"rows:{CAP_ROWS}"
    assert _job(gw, sql).truncated == f"rows:{CAP_ROWS}"
    store = SqliteJobStore(gw.data_dir / "jobs.sqlite3")
    try:  # one job: the retry was answered from the first call's
        assert len([j for j in store.list(limit=500) if j.fingerprint == fingerprint(sql)]) == 1
    finally:
        store.close()
