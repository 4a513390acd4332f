"""Result caps on the Redshift simulator: streamed results (exact cap, RESULT_LIMIT), and offloaded
ones, where UNLOAD cannot be cut mid-way: with a row cap in mode `error` or max_offload_bytes it
runs and its totals are checked after (over a cap: its files deleted, the job FAILED); in mode
`truncate` the gateway writes the parts itself, cut at exactly the cap."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as fl
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from job_actions_support import tag, wait_for
from services import REDSHIFT_SIM_BUCKET, MotoService

from auth import hash_password
from flight_gateway.jobs import Job, SqliteJobStore, fingerprint
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack
from flight_gateway.simulation.simulator import RedshiftSimulator

ROLE = "arn:aws:iam::123456789012:role/redshift-unload"
USER, USER_PW = "rs_capped", "Capped-pass1"
CAP = 2500
LIMITS: dict[str, dict[str, Any]] = {
    "cut": {"max_result_rows": CAP, "result_limit_mode": "truncate"},
    "fail": {"max_result_rows": CAP},
    "unl_fail": {"max_result_rows": CAP},
    "unl_cut": {"max_result_rows": CAP, "result_limit_mode": "truncate"},
    "unl_small": {"max_offload_bytes": 20_000},
    # Mode truncate: the gateway writes the parts to S3 itself, and stops at max_offload_bytes
    # (after its first batch of 1024 rows, with a part open).
    "gw_small": {"max_result_rows": CAP, "result_limit_mode": "truncate", "max_offload_bytes": 12_000},
}


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, redshift_sim: RedshiftSimulator, moto: MotoService
) -> Iterator[tuple[RunningGateway, str]]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
        env.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
        database = f"caps_{uuid.uuid4().hex[:8]}"
        redshift_sim.create_database(database)
        with redshift_sim.backend_connect(database) as conn:
            for statement in (
                f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{USER}') THEN "
                f"CREATE USER {USER} PASSWORD '{USER_PW}'; END IF; END $$",
                "CREATE TABLE sales AS SELECT g::bigint AS id, 'item ' || g AS label FROM generate_series(1, 40000) g",
                f"GRANT SELECT ON sales TO {USER}",
            ):
                conn.execute(statement)  # type: ignore[arg-type]  # test SQL, literal
        engine = {
            "name": "rs", "type": "redshift", "host": redshift_sim.host, "port": redshift_sim.port,
            "database": database, "sslmode": "disable", "unload_iam_role": ROLE, "unload_max_file_size_mb": 5,
        }  # fmt: skip
        tenants = [
            {"id": name, "engine": "rs", "db_user": USER, "db_password": USER_PW, "limits": limits}
            | ({"offload": "always"} if name.startswith(("unl_", "gw_")) else {})
            for name, limits in LIMITS.items()
        ]
        running = start_gateway(
            tmp_path_factory.mktemp("rs-caps"),
            engines=[engine],
            tenants=tenants,
            users=[{"username": t, "password_hash": hash_password(PASSWORD), "tenant": t} for t in LIMITS],
            batch_rows=1024,
            offload_target=f"s3://{REDSHIFT_SIM_BUCKET}/caps",
            offload_s3_endpoint_url=moto.endpoint_url,
            offload_s3_region=moto.region,
        )
        try:
            yield running, database
        finally:
            running.gateway.shutdown()


def _info(gw: RunningGateway, tenant_id: str, sql: str) -> tuple[fl.FlightClient, fl.FlightCallOptions, fl.FlightInfo]:
    client, options = gw.flight_client(tenant_id)
    descriptor = fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql)))
    return client, options, client.get_flight_info(descriptor, options)


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


def _keys(moto: MotoService, tenant_id: str, job_id: str) -> list[str]:
    listed = moto.client("s3").list_objects_v2(Bucket=REDSHIFT_SIM_BUCKET, Prefix=f"caps/{tenant_id}/{job_id}/")
    return [item["Key"].rsplit("/", 1)[-1] for item in listed.get("Contents", [])]


def _unloaded_files(sim: RedshiftSimulator, database: str, job_id: str) -> int:
    with sim.backend_connect(database) as conn:
        row = conn.execute("SELECT count(*) FROM redshift_sim.unload_log WHERE path LIKE %s", (f"%{job_id}%",))
        return int(row.fetchone()[0])


def test_streamed_results_are_cut_at_exactly_the_cap(gw: tuple[RunningGateway, str]) -> None:
    running, _ = gw
    sql = f"SELECT id AS c_{tag()} FROM sales ORDER BY id"
    client, options, info = _info(running, "cut", sql)
    assert json.loads(info.app_metadata) == {"result_limit": {"max_result_rows": CAP, "mode": "truncate"}}
    batches, marks = [], []
    for chunk in client.do_get(info.endpoints[0].ticket, options):
        batches.append(chunk.data)
        if chunk.app_metadata is not None:
            marks.append(json.loads(chunk.app_metadata.to_pybytes()))
    client.close()
    table = pa.Table.from_batches(batches, info.schema)
    assert table.column(0).to_pylist() == list(range(1, CAP + 1))
    assert [m["result_limit"]["truncated"] for m in marks] == [f"rows:{CAP}"]
    job = _job(running, sql)
    assert (job.state.value, job.rows, job.truncated) == ("SUCCEEDED", CAP, f"rows:{CAP}")
    with running.connect("cut") as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT id AS a_{tag()} FROM sales WHERE id > $1", parameters=(100,))
        assert cursor.fetch_arrow_table().num_rows == CAP


def test_streamed_results_over_the_cap_fail(gw: tuple[RunningGateway, str]) -> None:
    running, _ = gw
    sql = f"SELECT id AS f_{tag()}, label FROM sales"
    with running.connect("fail") as conn, conn.cursor() as cursor:
        with pytest.raises(flight_sql.Error, match="RESULT_LIMIT"):
            cursor.execute(sql)
            cursor.fetch_arrow_table()
    job = _job(running, sql)
    assert (job.state.value, job.error_code) == ("FAILED", "RESULT_LIMIT")


@pytest.mark.parametrize(("tenant_id", "code"), [("unl_fail", "RESULT_LIMIT"), ("unl_small", "OFFLOAD_TOO_LARGE")])
def test_an_unload_over_a_cap_is_deleted_and_fails(
    gw: tuple[RunningGateway, str], redshift_sim: RedshiftSimulator, moto: MotoService, tenant_id: str, code: str
) -> None:
    running, database = gw
    sql = f"SELECT id AS u_{tag()}, label FROM sales"
    with pytest.raises(fl.FlightError, match=code):
        _info(running, tenant_id, sql)
    job = _job(running, sql)
    assert (job.state.value, job.error_code) == ("FAILED", code)
    assert _unloaded_files(redshift_sim, database, job.id) > 0  # Redshift wrote it: checked on its totals
    assert _keys(moto, tenant_id, job.id) == []  # and nothing of it was kept


def test_an_unload_within_the_caps_is_kept(gw: tuple[RunningGateway, str], redshift_sim: RedshiftSimulator) -> None:
    running, database = gw
    sql = f"SELECT id AS k_{tag()} FROM sales WHERE id <= {CAP}"
    client, options, info = _info(running, "unl_fail", sql)
    client.close()
    assert info.total_records == CAP
    job = _job(running, sql)
    assert job.state.value == "SUCCEEDED" and _unloaded_files(redshift_sim, database, job.id) > 0


def test_a_truncated_offload_is_written_by_the_gateway_at_exactly_the_cap(
    gw: tuple[RunningGateway, str], redshift_sim: RedshiftSimulator, moto: MotoService
) -> None:
    running, database = gw
    sql = f"SELECT id AS t_{tag()} FROM sales ORDER BY id"
    client, options, info = _info(running, "unl_cut", sql)
    assert info.total_records == CAP
    assert json.loads(info.app_metadata)["result_limit"]["truncated"] == f"rows:{CAP}"
    table = pa.concat_tables([client.do_get(e.ticket, options).read_all() for e in info.endpoints])
    client.close()
    assert sorted(table.column(0).to_pylist()) == list(range(1, CAP + 1))
    job = _job(running, sql)
    assert (job.rows, job.truncated) == (CAP, f"rows:{CAP}")
    assert _unloaded_files(redshift_sim, database, job.id) == 0
    assert "part-00000.parquet" in _keys(moto, "unl_cut", job.id)  # the gateway's part names


def test_a_gateway_written_offload_over_max_offload_bytes_leaves_nothing_on_s3(
    gw: tuple[RunningGateway, str], redshift_sim: RedshiftSimulator, moto: MotoService
) -> None:
    running, database = gw
    sql = f"SELECT id AS g_{tag()} FROM sales ORDER BY id"
    with pytest.raises(fl.FlightError, match="OFFLOAD_TOO_LARGE") as raised:
        _info(running, "gw_small", sql)
    assert "max_offload_bytes (12000 bytes)" in str(raised.value)
    job = _job(running, sql)
    assert (job.state.value, job.error_code) == ("FAILED", "OFFLOAD_TOO_LARGE")
    assert _unloaded_files(redshift_sim, database, job.id) == 0  # the gateway wrote, and stopped
    assert _keys(moto, "gw_small", job.id) == []
    uploads = moto.client("s3").list_multipart_uploads(Bucket=REDSHIFT_SIM_BUCKET, Prefix=f"caps/gw_small/{job.id}/")
    assert uploads.get("Uploads", []) == []  # the part being written was aborted, not left open
