"""Result caps on PostgreSQL through real clients: exactly the cap in mode `truncate` (first batch
and mid-stream, rows and bytes), RESULT_LIMIT in mode `error`, and the server's query stopped
when the gateway stops reading."""

from __future__ import annotations

import json
from collections.abc import Iterator

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as fl
import pytest
from conftest import RunningGateway
from job_actions_support import tag, wait_for
from pg_support import PgDatabase, pg_database, pg_gateway, tenant
from services import PostgresService

from flight_gateway.jobs import Job, SqliteJobStore, fingerprint
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack

BATCH_ROWS = 1024
CAP = 2500  # crossed mid-stream (third batch)
SMALL = 100  # crossed in the first batch
CAP_BYTES = 2000 * 8 + 5
# A set-returning function in the SELECT list streams (in FROM, PostgreSQL materializes it first).
ENDLESS = "select generate_series(1, 100000000000) as n_{}"


@pytest.fixture(scope="module")
def db(postgres: PostgresService) -> Iterator[PgDatabase]:
    with pg_database(postgres, "caps") as database:
        yield database


@pytest.fixture(scope="module")
def gw(db: PgDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    password = db.role("caps_user")
    limits = {
        "cut": {"max_result_rows": CAP, "result_limit_mode": "truncate"},
        "small_cut": {"max_result_rows": SMALL, "result_limit_mode": "truncate"},
        "bytes_cut": {"max_result_bytes": CAP_BYTES, "result_limit_mode": "truncate"},
        "fail": {"max_result_rows": CAP},
        "small_fail": {"max_result_rows": SMALL},
        "short_text": {"max_statement_bytes": 40},
    }
    tenants = [tenant(name, "caps_user", password, limits=value) for name, value in limits.items()]
    running = pg_gateway(tmp_path_factory.mktemp("pg-caps"), [db.engine()], tenants, batch_rows=BATCH_ROWS)
    yield running
    running.gateway.shutdown()


def _stream(gw: RunningGateway, tenant_id: str, sql: str) -> tuple[fl.FlightInfo, pa.Table, list[bytes]]:
    client, options = gw.flight_client(tenant_id)
    try:
        info = client.get_flight_info(
            fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql))), options
        )
        batches, marks = [], []
        for chunk in client.do_get(info.endpoints[0].ticket, options):
            batches.append(chunk.data)
            if chunk.app_metadata is not None:
                marks.append(chunk.app_metadata.to_pybytes())
        return info, pa.Table.from_batches(batches, info.schema), marks
    finally:
        client.close()


def _job(gw: RunningGateway, sql: str) -> Job:
    def probe() -> Job | None:
        store = SqliteJobStore(gw.data_dir / "jobs.sqlite3")
        try:
            jobs = [j for j in store.list(limit=500) if j.fingerprint == fingerprint(sql)]
        finally:
            store.close()
        return jobs[0] if jobs and jobs[0].state.finished else None

    found: Job = wait_for(probe, f"the job of {sql!r}")
    return found


@pytest.mark.parametrize(("tenant_id", "cap"), [("cut", CAP), ("small_cut", SMALL)])
def test_truncate_gives_exactly_the_cap(gw: RunningGateway, db: PgDatabase, tenant_id: str, cap: int) -> None:
    sql = ENDLESS.format(tag())
    info, table, marks = _stream(gw, tenant_id, sql)
    assert json.loads(info.app_metadata) == {"result_limit": {"max_result_rows": cap, "mode": "truncate"}}
    assert table.column(0).to_pylist() == list(range(1, cap + 1))
    assert json.loads(marks[-1])["result_limit"]["truncated"] == f"rows:{cap}" and len(marks) == 1
    job = _job(gw, sql)
    assert (job.state.value, job.rows, job.truncated) == ("SUCCEEDED", cap, f"rows:{cap}")
    # The endless query no longer runs on the server: the gateway stopped it at the cap.
    running = "select count(*) from pg_stat_activity where usename = 'caps_user' and state <> 'idle'"
    wait_for(lambda: db.one(running) == 0, "the capped query to stop on the server")


def test_truncate_by_bytes(gw: RunningGateway) -> None:
    sql = f"select generate_series(1, 50000)::bigint as b_{tag()}"
    _, table, marks = _stream(gw, "bytes_cut", sql)
    job = _job(gw, sql)
    assert job.bytes is not None and job.bytes <= CAP_BYTES < job.bytes + 9 and job.rows == table.num_rows
    assert table.column(0).to_pylist() == list(range(1, table.num_rows + 1))
    assert job.truncated == f"bytes:{CAP_BYTES}" and json.loads(marks[-1])["result_limit"]["truncated"] == job.truncated


def test_under_and_at_the_cap_is_untouched(gw: RunningGateway) -> None:
    for rows in (CAP, 10):
        sql = f"select generate_series(1, {rows}) as u_{tag()}"
        _, table, marks = _stream(gw, "cut", sql)
        assert table.num_rows == rows and marks == []
        assert _job(gw, sql).truncated is None


@pytest.mark.parametrize("tenant_id", ["fail", "small_fail"])
def test_error_mode_fails_with_result_limit(gw: RunningGateway, tenant_id: str) -> None:
    sql = ENDLESS.format(tag())
    with pytest.raises(fl.FlightError, match="RESULT_LIMIT") as raised:
        _stream(gw, tenant_id, sql)
    assert "max_result_rows" in str(raised.value)
    job = _job(gw, sql)
    assert (job.state.value, job.error_code) == ("FAILED", "RESULT_LIMIT")


def test_adbc_prepared_query_is_capped(gw: RunningGateway) -> None:
    with gw.connect("cut") as conn, conn.cursor() as cursor:
        cursor.execute(f"select generate_series(1, $1::bigint) as p_{tag()}", parameters=(100_000,))
        assert cursor.fetch_arrow_table().num_rows == CAP
    with gw.connect("fail") as conn, conn.cursor() as cursor:
        with pytest.raises(flight_sql.Error, match="RESULT_LIMIT"):
            cursor.execute(f"select generate_series(1, $1::bigint) as p_{tag()}", parameters=(100_000,))
            cursor.fetch_arrow_table()


def test_the_tenant_statement_size_limit(gw: RunningGateway) -> None:
    sql = f"select 'forty bytes and then some more' as t_{tag()}"
    with pytest.raises(pa.ArrowInvalid, match="STATEMENT_TOO_LARGE") as raised:
        _stream(gw, "short_text", sql)
    assert "over the limit of 40 bytes (the tenant's limits.max_statement_bytes)" in str(raised.value)
    assert _stream(gw, "cut", sql)[1].num_rows == 1
