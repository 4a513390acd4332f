"""Huge Redshift results offloaded by UNLOAD: the simulator writes Parquet parts and a manifest to
moto's S3, the gateway adopts them and serves one endpoint per part, DoGet in the FlightInfo's
schema. Plus the UNLOAD statement's quoting rules, which the simulator's parser reads back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.flight as fl
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from services import REDSHIFT_SIM_BUCKET, MotoService

from auth import hash_password
from flight_gateway.engines.redshift.session import RedshiftSession
from flight_gateway.engines.redshift.unload import unload_statement
from flight_gateway.errors import GatewayError, Status
from flight_gateway.jobs import JobState
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack
from flight_gateway.simulation.simulator import RedshiftSimulator
from flight_gateway.simulation.unload import parse_unload

ROLE = "arn:aws:iam::123456789012:role/redshift-unload"
USER, USER_PW = "rs_unloader", "Unload-pass1"


def test_unload_statement_quotes_the_query_as_redshift_reads_it() -> None:
    sql = "SELECT 'it''s' AS a, 'back\\slash' AS b FROM t LIMIT 5;  -- last"
    statement = unload_statement(sql, "s3://bucket/offload/acme/job/", ROLE, 64)
    spec = parse_unload(statement)
    assert spec.query == "SELECT * FROM (SELECT 'it''s' AS a, 'back\\slash' AS b FROM t LIMIT 5\n) AS unloaded"
    assert (spec.bucket, spec.prefix, spec.manifest) == ("bucket", "offload/acme/job/", True)
    assert spec.max_file_bytes == 64 * 1024 * 1024
    assert f"IAM_ROLE '{ROLE}'" in statement and "FORMAT AS PARQUET" in statement


@pytest.mark.parametrize(
    ("target", "role"),
    [("s3://bucket/x/' IAM_ROLE 'y/", ROLE), ("s3://bucket/job/", "arn:aws:iam::123:role/x' x")],
)
def test_unload_refuses_targets_and_roles_that_are_not_plain(target: str, role: str) -> None:
    with pytest.raises(GatewayError):
        unload_statement("SELECT 1", target, role, 64)


@pytest.fixture
def gw(
    tmp_path_factory: pytest.TempPathFactory,
    redshift_sim: RedshiftSimulator,
    moto: MotoService,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[RunningGateway, str]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
    database = f"unl_{uuid.uuid4().hex[:8]}"
    redshift_sim.create_database(database)
    with redshift_sim.backend_connect(database) as conn:
        for statement in (
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{USER}') THEN "
            f"CREATE USER {USER} PASSWORD '{USER_PW}'; END IF; END $$",
            "CREATE TABLE sales AS SELECT g::bigint AS id, (g % 97)::numeric(10, 2) AS amount, 'item ' || g AS label, "
            "timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute' AS at FROM generate_series(1, 40000) g",
            f"GRANT SELECT ON sales TO {USER}",
        ):
            conn.execute(statement)  # type: ignore[arg-type]  # test SQL, literal
    engine = {
        "name": "rs", "type": "redshift", "host": redshift_sim.host, "port": redshift_sim.port, "database": database,
        "sslmode": "disable", "unload_iam_role": ROLE, "unload_max_file_size_mb": 5,
    }  # fmt: skip
    running = start_gateway(
        tmp_path_factory.mktemp("rs-unload"),
        engines=[engine],
        tenants=[
            {"id": "big", "engine": "rs", "db_user": USER, "db_password": USER_PW, "offload": "always"},
            {"id": "auto", "engine": "rs", "db_user": USER, "db_password": USER_PW, "offload": "auto"},
        ],
        users=[{"username": t, "password_hash": hash_password(PASSWORD), "tenant": t} for t in ("big", "auto")],
        offload_threshold_bytes=100_000,
        offload_target=f"s3://{REDSHIFT_SIM_BUCKET}/offload",
        offload_s3_endpoint_url=moto.endpoint_url,
        offload_s3_region=moto.region,
    )
    try:
        yield running, database
    finally:
        running.gateway.shutdown()


def _info(client: fl.FlightClient, options: fl.FlightCallOptions, sql: str) -> fl.FlightInfo:
    descriptor = fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql)))
    return client.get_flight_info(descriptor, options)


def test_offloaded_result_is_unloaded_by_redshift(gw: tuple[RunningGateway, str], moto: MotoService) -> None:
    running, _ = gw
    client, options = running.flight_client("big")
    info = _info(client, options, "SELECT id, amount, label, at FROM sales WHERE id <= 30000 ORDER BY id LIMIT 25000")
    assert len(info.endpoints) >= 2  # one per Parquet file UNLOAD wrote (a file per slice at least)
    assert all(e.expiration_time is not None for e in info.endpoints)
    tables = [client.do_get(e.ticket, options).read_all() for e in info.endpoints]
    assert all(t.schema == info.schema for t in tables)
    result = pa.concat_tables(tables).sort_by("id")
    assert result.num_rows == info.total_records == 25000
    assert result.column("id").to_pylist() == list(range(1, 25001))
    first: dict[str, Any] = result.slice(0, 1).to_pylist()[0]
    assert first["amount"] == Decimal("1.00") and first["label"] == "item 1"
    listed = moto.client("s3").list_objects_v2(Bucket=REDSHIFT_SIM_BUCKET, Prefix="offload/big/")["Contents"]
    names = {item["Key"].rsplit("/", 1)[-1] for item in listed}
    assert "manifest" in names and any(n.endswith("_part_00.parquet") for n in names)  # Redshift's names


def test_queries_with_parameters_are_offloaded_by_the_gateway(gw: tuple[RunningGateway, str]) -> None:
    running, _ = gw
    with running.connect("big") as conn, conn.cursor() as cursor:
        cursor.execute("SELECT id FROM sales WHERE id <= $1 ORDER BY id", parameters=(1500,))
        table = cursor.fetch_arrow_table()
    assert table.column("id").to_pylist() == list(range(1, 1501))


def test_auto_offload_unloads_what_explain_says_is_big(gw: tuple[RunningGateway, str], moto: MotoService) -> None:
    running, _ = gw
    client, options = running.flight_client("auto")
    small = _info(client, options, "SELECT id FROM sales WHERE id = 7")
    assert len(small.endpoints) == 1 and small.endpoints[0].expiration_time is None  # streamed
    big = _info(client, options, "SELECT id, label FROM sales")
    assert len(big.endpoints) >= 2 and big.total_records == 40000
    listed = moto.client("s3").list_objects_v2(Bucket=REDSHIFT_SIM_BUCKET, Prefix="offload/auto/")
    assert any(item["Key"].endswith("/manifest") for item in listed.get("Contents", []))


def test_a_failed_unload_leaves_nothing_behind(
    gw: tuple[RunningGateway, str], moto: MotoService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An UNLOAD that fails after writing a part (and opening a multipart upload) is cleaned up at
    once, and its job is recorded as a failed offload."""
    s3 = moto.client("s3")

    def failing_unload(self: RedshiftSession, sql: str, params: pa.RecordBatch | None, s3_prefix: str) -> bool:
        key = s3_prefix.removeprefix(f"s3://{REDSHIFT_SIM_BUCKET}/")
        s3.put_object(Bucket=REDSHIFT_SIM_BUCKET, Key=key + "0000_part_00.parquet", Body=b"partial")
        s3.create_multipart_upload(Bucket=REDSHIFT_SIM_BUCKET, Key=key + "0001_part_00.parquet")
        raise GatewayError(Status.UNAVAILABLE, "ENGINE_UNAVAILABLE", "the cluster went away mid-UNLOAD")

    monkeypatch.setattr(RedshiftSession, "unload", failing_unload)
    running, _ = gw
    client, options = running.flight_client("big")
    with pytest.raises(fl.FlightUnavailableError, match="mid-UNLOAD"):
        _info(client, options, "SELECT id FROM sales")
    failed = running.gateway.jobs.list("big", 1)[0]
    assert (failed.state, failed.error_code, failed.delivery) == (JobState.FAILED, "ENGINE_UNAVAILABLE", "offload")
    prefix = f"offload/big/{failed.id}/"
    assert s3.list_objects_v2(Bucket=REDSHIFT_SIM_BUCKET, Prefix=prefix).get("KeyCount") == 0
    assert s3.list_multipart_uploads(Bucket=REDSHIFT_SIM_BUCKET, Prefix=prefix).get("Uploads", []) == []
