"""Offloaded results through real clients: Parquet parts in a local directory, one endpoint each."""

from __future__ import annotations

import errno
import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as fl
import pyarrow.parquet as pq
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from services import MotoService

from auth import Tenant, hash_password
from auth.flight import DELIVERY_HEADER
from flight_gateway.errors import GatewayError, Status
from flight_gateway.jobs import JobState
from flight_gateway.offload import LocalOffload
from flight_gateway.protocol import flight_actions_pb2 as wire
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack, unpack
from flight_gateway.protocol.tickets import TicketSigner

PART_ROWS = 250_000
BIG = "select range as id, range % 7 as k, 'v' || (range % 100)::varchar as s from range(1200000)"
FIVE_MILLION = BIG.replace("1200000", "5000000")
HINT_OPTION = f"adbc.flight.sql.rpc.call_header.{DELIVERY_HEADER}"


GATEWAY_SETTINGS: dict[str, Any] = {
    "demo": True,
    "offload_mode": "auto",
    "offload_part_rows": PART_ROWS,
    "offload_threshold_bytes": 1_000_000,
    "tenants": [{"id": "initech", "offload": "always", "offload_prefix": "custom/initech"}],
    "users": [{"username": "initech", "password_hash": hash_password(PASSWORD), "tenant": "initech"}],
}


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """Auto mode with a 1 MB threshold; tenant `initech` always offloads, below its own prefix."""
    running = start_gateway(tmp_path_factory.mktemp("offload"), **GATEWAY_SETTINGS)
    yield running
    running.gateway.shutdown()


@pytest.fixture(scope="module", params=["local", "s3"])
def any_gw(request: pytest.FixtureRequest) -> Iterator[RunningGateway]:
    """`gw`, and the same gateway offloading to S3 (moto): for tests that hold for every target."""
    if request.param == "local":
        yield request.getfixturevalue("gw")
        return
    moto: MotoService = request.getfixturevalue("moto")
    bucket = f"offload-{uuid.uuid4().hex[:12]}"
    moto.client("s3").create_bucket(Bucket=bucket)
    with pytest.MonkeyPatch.context() as env:  # the default credentials chain finds moto's
        env.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
        env.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
        running = start_gateway(
            request.getfixturevalue("tmp_path_factory").mktemp("offload-s3"),
            **GATEWAY_SETTINGS, offload_target=f"s3://{bucket}/results", offload_s3_endpoint_url=moto.endpoint_url,
            offload_s3_region=moto.region,
        )  # fmt: skip
        yield running
        running.gateway.shutdown()


def _client(gw: RunningGateway, tenant: str = "acme", hint: str | None = None) -> tuple[fl.FlightClient, Any]:
    client, options = gw.flight_client(tenant)
    if hint is not None:
        options = fl.FlightCallOptions(headers=[*options.headers, (DELIVERY_HEADER.encode(), hint.encode())])
    return client, options


def _info(gw: RunningGateway, sql: str, tenant: str = "acme", hint: str | None = None) -> fl.FlightInfo:
    client, options = _client(gw, tenant, hint)
    descriptor = fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql)))
    return client.get_flight_info(descriptor, options)


def _read(gw: RunningGateway, ticket: fl.Ticket, tenant: str = "acme") -> pa.Table:
    client, options = _client(gw, tenant)
    return client.do_get(ticket, options).read_all()


def _ticket_body(endpoint: fl.FlightEndpoint) -> dict[str, Any]:
    cmd = unpack(endpoint.ticket.ticket)
    assert isinstance(cmd, pb.TicketStatementQuery)
    return dict(json.loads(cmd.statement_handle[33:]))


def _signer(gw: RunningGateway) -> TicketSigner:
    return TicketSigner([(gw.data_dir / "signing-key").read_text().strip().encode()])


def _signed_ticket(gw: RunningGateway, tenant: str, ttl: float, fields: dict[str, Any]) -> fl.Ticket:
    handle = _signer(gw).sign("ticket", tenant, ttl, fields)
    return fl.Ticket(pack(pb.TicketStatementQuery(statement_handle=handle)))


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([(table.column_names[0], "ascending")])


def _streamed(gw: RunningGateway, sql: str) -> pa.Table:
    kwargs = {"username": "acme", "password": PASSWORD, HINT_OPTION: "stream"}
    with flight_sql.connect(gw.uri, db_kwargs=kwargs, autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetch_arrow_table()


def test_five_million_rows_offloaded_in_parts_identical_to_the_stream(gw: RunningGateway) -> None:
    info = _info(gw, FIVE_MILLION)
    assert len(info.endpoints) == 20  # 5M rows, 250k per part
    assert info.total_records == 5_000_000 and info.total_bytes > 0
    job_id = _ticket_body(info.endpoints[0])["j"]
    for endpoint in info.endpoints:
        assert endpoint.expiration_time is not None and endpoint.locations == []
        assert _ticket_body(endpoint)["k"] == "o"
    job_dir = gw.data_dir / "offload" / "acme" / job_id
    assert sorted(p.name for p in job_dir.glob("part-*.parquet")) == [f"part-{i:05d}.parquet" for i in range(20)]
    job = gw.gateway.jobs.get(job_id)
    assert job is not None and job.state is JobState.SUCCEEDED and job.delivery == "offload"
    assert job.rows == 5_000_000 and job.bytes == info.total_bytes
    assert job.offload_location == str(job_dir) and job.offload_expires_at is not None

    streamed = _sorted(_streamed(gw, FIVE_MILLION))
    assert streamed.num_rows == 5_000_000
    with gw.connect("acme") as conn, conn.cursor() as cur:
        cur.execute(FIVE_MILLION)
        assert _sorted(cur.fetch_arrow_table()).equals(streamed)
        partitions, schema = cur.adbc_execute_partitions(FIVE_MILLION)
    assert len(partitions) == 20 and schema == streamed.schema

    def read_partition(partition: bytes) -> pa.Table:
        with gw.connect("acme") as conn, conn.cursor() as cur:
            cur.adbc_read_partition(partition)
            return cur.fetch_arrow_table()

    with ThreadPoolExecutor(max_workers=4) as pool:
        tables = list(pool.map(read_partition, partitions))
    assert [t.num_rows for t in tables] == [PART_ROWS] * 20
    assert _sorted(pa.concat_tables(tables)).equals(streamed)


def test_hint_header_forces_stream_or_offload(any_gw: RunningGateway) -> None:
    streamed = _info(any_gw, BIG, hint="stream")
    assert len(streamed.endpoints) == 1 and streamed.endpoints[0].expiration_time is None
    assert _ticket_body(streamed.endpoints[0])["k"] == "q"
    small = _info(any_gw, "select 42 as answer", hint="offload")
    assert len(small.endpoints) == 1 and small.endpoints[0].expiration_time is not None
    assert _ticket_body(small.endpoints[0])["k"] == "o"
    assert _read(any_gw, small.endpoints[0].ticket).to_pylist() == [{"answer": 42}]
    with pytest.raises((fl.FlightError, pa.ArrowException), match="BAD_DELIVERY_HINT|must be one of"):
        _info(any_gw, "select 1", hint="carrier-pigeon")


def test_auto_mode_offloads_big_and_streams_small(any_gw: RunningGateway) -> None:
    assert _ticket_body(_info(any_gw, BIG).endpoints[0])["k"] == "o"
    small = _info(any_gw, "select range as id from range(1000)")
    assert _ticket_body(small.endpoints[0])["k"] == "q"


def test_auto_mode_streams_results_beyond_the_offload_cap(any_gw: RunningGateway) -> None:
    endless = "select range as id from range(100000000000)"  # read lazily, cancelled by the client
    assert _ticket_body(_info(any_gw, endless).endpoints[0])["k"] == "q"


def test_offload_growing_past_the_cap_fails_and_leaves_nothing(tmp_path: Path) -> None:
    store = LocalOffload(tmp_path, ttl_seconds=60, part_rows=10, max_bytes=100)
    schema = pa.schema([pa.field("v", pa.int64())])
    batch = pa.record_batch([pa.array(range(10), pa.int64())], schema=schema)
    with pytest.raises(GatewayError) as err:
        store.write(Tenant(id="acme"), "f" * 32, schema, [batch] * 3)
    assert err.value.code == "OFFLOAD_TOO_LARGE"
    assert not (tmp_path / "acme" / ("f" * 32)).exists()


def test_tenant_mode_always_and_offload_prefix(gw: RunningGateway) -> None:
    info = _info(gw, "select 7 as x", tenant="initech")
    body = _ticket_body(info.endpoints[0])
    assert body["k"] == "o"
    assert (gw.data_dir / "offload" / "custom" / "initech" / body["f"]).is_file()
    assert _read(gw, info.endpoints[0].ticket, "initech").to_pylist() == [{"x": 7}]
    # The caller's hint wins over the tenant's mode.
    assert _ticket_body(_info(gw, "select 7 as x", tenant="initech", hint="stream").endpoints[0])["k"] == "q"


def test_doget_schema_equals_flightinfo_schema_after_parquet(any_gw: RunningGateway) -> None:
    sql = (
        "select 12.345::decimal(18,3) as d18, 123456789012345678901.5::decimal(38,10) as d38, "
        "timestamptz '2024-03-01 12:34:56.789+02' as tz, timestamp '2024-03-01 01:02:03' as ts, "
        "date '2024-02-29' as day, 'héllo' as s, [1, 2, null]::int[] as l, "
        "{'a': 1, 'b': 'x'} as st, null::varchar as n, true as b, 1.5::float as f, 7::tinyint as t "
        "from range(3)"
    )
    info = _info(any_gw, sql, hint="offload")
    assert _ticket_body(info.endpoints[0])["k"] == "o"
    table = _read(any_gw, info.endpoints[0].ticket)
    assert table.schema == info.schema
    assert table.schema == _streamed(any_gw, sql).schema
    assert table.equals(_streamed(any_gw, sql))
    assert pa.types.is_timestamp(table.schema.field("tz").type) and table.schema.field("tz").type.tz
    assert table.schema.field("d38").type == pa.decimal128(38, 10)


def test_unsupported_types_stay_streamed(any_gw: RunningGateway) -> None:
    info = _info(any_gw, "select interval 3 day as i", hint="offload")
    assert _ticket_body(info.endpoints[0])["k"] == "q"


def test_offload_ticket_refused_for_another_tenant(any_gw: RunningGateway) -> None:
    info = _info(any_gw, "select 1 as x", hint="offload")
    with pytest.raises(fl.FlightUnauthorizedError, match="another tenant"):
        _read(any_gw, info.endpoints[0].ticket, "globex")
    client, options = _client(any_gw, "globex")
    request = wire.RenewFlightEndpointRequest(endpoint=info.endpoints[0].serialize())
    with pytest.raises(fl.FlightUnauthorizedError, match="another tenant"):
        list(client.do_action(fl.Action("RenewFlightEndpoint", request.SerializeToString()), options))


def test_path_traversal_in_a_ticket_is_refused(any_gw: RunningGateway) -> None:
    info = _info(any_gw, "select 1 as x", tenant="globex", hint="offload")
    part = _ticket_body(info.endpoints[0])["f"]
    ticket = _signed_ticket(any_gw, "acme", 600, {"k": "o", "j": "0" * 32, "f": f"../globex/{part}"})
    with pytest.raises((fl.FlightError, pa.ArrowException), match="names no offloaded result"):
        _read(any_gw, ticket)


def _renew(gw: RunningGateway, endpoint: fl.FlightEndpoint) -> fl.FlightEndpoint:
    client, options = _client(gw)
    request = wire.RenewFlightEndpointRequest(endpoint=endpoint.serialize())
    results = list(client.do_action(fl.Action("RenewFlightEndpoint", request.SerializeToString()), options))
    assert len(results) == 1
    return fl.FlightEndpoint.deserialize(results[0].body.to_pybytes())


def test_renewal_extends_the_expiry_and_the_renewed_ticket_works(gw: RunningGateway) -> None:
    info = _info(gw, "select range as id from range(10)", hint="offload")
    endpoint = info.endpoints[0]
    body = _ticket_body(endpoint)
    marker = gw.data_dir / "offload" / "acme" / body["j"] / "expires.json"
    soon = time.time() + 5  # as if most of the TTL had passed
    marker.write_text(json.dumps({"expires_at": soon}))
    renewed = _renew(gw, endpoint)
    assert renewed.expiration_time.as_py() > endpoint.expiration_time.as_py()
    assert json.loads(marker.read_text())["expires_at"] > soon + 3000
    job = gw.gateway.jobs.get(body["j"])
    assert job is not None and job.offload_expires_at is not None and job.offload_expires_at > soon + 3000
    assert _ticket_body(renewed)["f"] == body["f"]
    assert _read(gw, renewed.ticket).num_rows == 10
    # A streamed result's endpoint has nothing to renew.
    with pytest.raises((fl.FlightError, pa.ArrowException), match="NOT_RENEWABLE|only endpoints of offloaded"):
        _renew(gw, _info(gw, "select 1", hint="stream").endpoints[0])


def test_expired_offload_ticket_says_run_again(any_gw: RunningGateway) -> None:
    info = _info(any_gw, "select 1 as x", hint="offload")
    body = _ticket_body(info.endpoints[0])
    expired = _signed_ticket(any_gw, "acme", -5, {"k": "o", "j": body["j"], "f": body["f"]})
    with pytest.raises((fl.FlightError, pa.ArrowException), match="expired; run the statement again") as err:
        _read(any_gw, expired)
    assert "TICKET_EXPIRED" in str(err.value) or isinstance(err.value, fl.FlightTimedOutError)


def test_sweeper_deletes_expired_results(gw: RunningGateway) -> None:
    info = _info(gw, "select 1 as x", hint="offload")
    body = _ticket_body(info.endpoints[0])
    job_dir = gw.data_dir / "offload" / "acme" / body["j"]
    assert job_dir.is_dir()
    offload = gw.gateway.offload
    assert offload is not None
    assert offload.sweep(now=time.time() + 2 * 3600) >= 1
    assert not job_dir.exists()
    with pytest.raises((fl.FlightError, pa.ArrowException), match="expired or was deleted"):
        _read(gw, info.endpoints[0].ticket)


def test_startup_sweep_deletes_expired_and_keeps_live_results(tmp_path: Path) -> None:
    expired, live = tmp_path / "offload" / "acme" / ("a" * 32), tmp_path / "offload" / "acme" / ("b" * 32)
    for job_dir, at in ((expired, time.time() - 1), (live, time.time() + 600)):
        job_dir.mkdir(parents=True)
        (job_dir / "part-00000.parquet").write_bytes(b"x")
        (job_dir / "expires.json").write_text(json.dumps({"expires_at": at}))
    running = start_gateway(tmp_path)
    try:
        assert not expired.exists() and live.is_dir()
    finally:
        running.gateway.shutdown()


def test_failure_mid_write_fails_the_job_and_leaves_nothing(gw: RunningGateway) -> None:
    sql = "select case when range = 700000 then error('boom') else range end as v from range(1000000)"
    with pytest.raises((fl.FlightError, pa.ArrowException), match="boom"):
        _info(gw, sql, hint="offload")
    failed = [j for j in gw.gateway.jobs.list(tenant="acme", limit=20) if j.state is JobState.FAILED]
    assert failed and failed[0].error_message is not None and "boom" in failed[0].error_message
    assert not (gw.data_dir / "offload" / "acme" / failed[0].id).exists()


def test_disk_failure_mid_write_removes_the_parts(tmp_path: Path) -> None:
    store = LocalOffload(tmp_path, ttl_seconds=60, part_rows=10)
    schema = pa.schema([pa.field("v", pa.int64())])

    def batches() -> Iterator[pa.RecordBatch]:
        yield pa.record_batch([pa.array(range(25), pa.int64())], schema=schema)
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(GatewayError) as err:
        store.write(Tenant(id="acme"), "c" * 32, schema, batches())
    assert err.value.status is Status.RESOURCE_EXHAUSTED and err.value.code == "OFFLOAD_FAILED"
    assert "nothing was kept" in err.value.message
    assert not (tmp_path / "acme" / ("c" * 32)).exists()


def test_parts_roll_every_part_rows(tmp_path: Path) -> None:
    store = LocalOffload(tmp_path, ttl_seconds=60, part_rows=10)
    schema = pa.schema([pa.field("v", pa.int64())])
    batch = pa.record_batch([pa.array(range(7), pa.int64())], schema=schema)
    result = store.write(Tenant(id="acme"), "d" * 32, schema, [batch] * 4)
    assert [p.rows for p in result.parts] == [10, 10, 8] and result.rows == 28
    read = pa.concat_tables(
        pa.Table.from_batches(list(store.read(Tenant(id="acme"), p.path, 1000)[1]), schema) for p in result.parts
    )
    assert pc.sum(read["v"]).as_py() == 4 * sum(range(7))
    empty = store.write(Tenant(id="acme"), "e" * 32, schema, [])
    assert [p.rows for p in empty.parts] == [0]


def test_adopt_parts_an_engine_wrote_into_the_job_directory(tmp_path: Path) -> None:
    """The hook for engines that write Parquet themselves (Redshift UNLOAD ... MANIFEST)."""
    store = LocalOffload(tmp_path, ttl_seconds=60, part_rows=10)
    acme, job = Tenant(id="acme"), "9" * 32
    job_dir = Path(store.location(acme, job))
    job_dir.mkdir(parents=True)
    entries = []
    for i, ids in enumerate((range(0, 4), range(4, 10))):
        path = job_dir / f"{i:04d}_part_00.parquet"
        pq.write_table(pa.table({"v": pa.array(ids, pa.int32())}), path)
        meta = {"content_length": path.stat().st_size, **({"record_count": len(ids)} if i == 0 else {})}
        entries.append({"url": str(path), "meta": meta})
    (job_dir / "manifest").write_text(json.dumps({"entries": entries}))
    schema = pa.schema([pa.field("v", pa.int64())])
    result = store.adopt(acme, job, schema)
    assert [(p.path, p.rows) for p in result.parts] == [
        (f"{job}/0000_part_00.parquet", 4),
        (f"{job}/0001_part_00.parquet", 6),
    ]
    read = [pa.Table.from_batches(list(store.read(acme, p.path, 100)[1]), schema) for p in result.parts]
    assert pa.concat_tables(read)["v"].to_pylist() == list(range(10))
    assert store.sweep(now=time.time() + 120) == 1 and not job_dir.exists()
