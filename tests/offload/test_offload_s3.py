"""S3Offload against moto's S3 server: layout, multipart streaming, SSE, renew, sweep, failed
writes, and adopting parts written by Redshift UNLOAD (the hook the Redshift engine uses)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as fl
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError
from conftest import PASSWORD, RunningGateway, start_gateway
from job_actions_support import job_action, wait_for
from manual_clock import ManualClock
from serve_process import ServeProcess, _first_line
from services import MotoService

from auth import Tenant
from auth.flight import DELIVERY_HEADER
from flight_gateway.errors import GatewayError, Status
from flight_gateway.jobs import JobState
from flight_gateway.offload import s3io
from flight_gateway.offload.s3 import S3Offload, parse_target, s3_client
from flight_gateway.protocol import flight_actions_pb2 as wire
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack, unpack
from flight_gateway.protocol.tickets import TicketSigner

ACME = Tenant(id="acme")
SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("s", pa.string())])


def _batch(start: int, rows: int) -> pa.RecordBatch:
    ids = pa.array(range(start, start + rows), pa.int64())
    return pa.record_batch([ids, pa.array([f"value-{i % 977}-{i}" for i in range(start, start + rows)])], schema=SCHEMA)


@pytest.fixture
def s3(moto: MotoService) -> Any:
    return moto.client("s3")


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"offload-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def _keys(s3: Any, bucket: str) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def _read_all(store: S3Offload, tenant: Tenant, parts: list[str]) -> pa.Table:
    tables = []
    for part in parts:
        schema, batches = store.read(tenant, part, 10_000)
        tables.append(pa.Table.from_batches(list(batches), schema))
    return pa.concat_tables(tables)


def test_target_parsing() -> None:
    assert parse_target("s3://bucket/a/b/") == ("bucket", "a/b")
    assert parse_target("s3://bucket") == ("bucket", "")
    for bad in ("bucket/prefix", "s3:///prefix"):
        with pytest.raises(ValueError):
            parse_target(bad)


def test_write_read_layout_and_sse(s3: Any, bucket: str) -> None:
    store = S3Offload(f"s3://{bucket}/results", ttl_seconds=60, part_rows=25_000, client=s3, sse="AES256")
    job = "a" * 32
    result = store.write(ACME, job, SCHEMA, (_batch(i, 10_000) for i in range(0, 60_000, 10_000)))
    assert result.location == f"s3://{bucket}/results/acme/{job}/"
    assert [p.rows for p in result.parts] == [25_000, 25_000, 10_000] and result.rows == 60_000
    prefix = f"results/acme/{job}/"
    assert _keys(s3, bucket) == sorted(
        [prefix + "expires.json", prefix + "schema.arrow"] + [f"{prefix}part-{i:05d}.parquet" for i in range(3)]
    )
    assert s3.head_object(Bucket=bucket, Key=prefix + "part-00000.parquet")["ServerSideEncryption"] == "AES256"
    baseline = pa.total_allocated_bytes()
    table = _read_all(store, ACME, [p.path for p in result.parts])
    assert table.schema == SCHEMA and table["id"].to_pylist() == list(range(60_000))
    del table
    assert pa.total_allocated_bytes() == baseline  # readers leave no Arrow memory behind


def test_sse_kms_with_a_key(s3: Any, bucket: str, moto: MotoService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3io, "CHUNK", 5 * 1024 * 1024)  # the multipart path carries the settings too
    key_id = moto.client("kms").create_key(Description="offload")["KeyMetadata"]["KeyId"]
    store = S3Offload(f"s3://{bucket}/k", ttl_seconds=60, part_rows=10**9, client=s3, sse="aws:kms", kms_key_id=key_id)
    result = store.write(ACME, "9" * 32, SCHEMA, (_batch(i, 100_000) for i in range(0, 400_000, 100_000)))
    for key in _keys(s3, bucket):
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms" and key_id in head["SSEKMSKeyId"], key
    assert _read_all(store, ACME, [p.path for p in result.parts]).num_rows == 400_000


def test_big_parts_stream_as_multipart_uploads(s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A part goes up in chunks while the engine still produces batches: memory holds a chunk, not the part."""
    monkeypatch.setattr(s3io, "CHUNK", 5 * 1024 * 1024)  # S3's smallest part: several per Parquet file
    uploads: list[int] = []
    real = s3.upload_part

    def counting(**kwargs: Any) -> Any:
        uploads.append(len(kwargs["Body"]))
        return real(**kwargs)

    monkeypatch.setattr(s3, "upload_part", counting)
    uploaded_before_the_last_batch = []

    def batches() -> Iterator[pa.RecordBatch]:
        for start in range(0, 600_000, 100_000):
            if start == 500_000:
                uploaded_before_the_last_batch.append(len(uploads))
            yield _batch(start, 100_000)

    store = S3Offload(f"s3://{bucket}", ttl_seconds=60, part_rows=10**9, client=s3)
    result = store.write(ACME, "b" * 32, SCHEMA, batches())
    assert len(result.parts) == 1 and len(uploads) >= 2  # one file, uploaded in chunks
    assert uploaded_before_the_last_batch[0] >= 1  # streaming, not buffering the whole part
    assert max(uploads) == s3io.CHUNK  # no request body larger than a chunk
    assert _read_all(store, ACME, [result.parts[0].path])["id"].to_pylist() == list(range(600_000))


def test_failed_write_deletes_everything_and_aborts_uploads(
    s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3io, "CHUNK", 5 * 1024 * 1024)
    store = S3Offload(f"s3://{bucket}/p", ttl_seconds=60, part_rows=100_000, client=s3)

    def batches() -> Iterator[pa.RecordBatch]:
        for start in range(0, 350_000, 50_000):
            yield _batch(start, 50_000)
        raise GatewayError(Status.INTERNAL, "ENGINE_ERROR", "the engine failed mid-result")

    with pytest.raises(GatewayError, match="mid-result"):
        store.write(ACME, "c" * 32, SCHEMA, batches())
    assert _keys(s3, bucket) == []
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_write_to_a_missing_bucket_fails_clearly(s3: Any) -> None:
    store = S3Offload(f"s3://missing-{uuid.uuid4().hex[:8]}/p", ttl_seconds=60, part_rows=10, client=s3)
    with pytest.raises(GatewayError) as err:
        store.write(ACME, "d" * 32, SCHEMA, [_batch(0, 5)])
    assert err.value.code == "OFFLOAD_FAILED" and err.value.status is Status.UNAVAILABLE
    assert "NoSuchBucket" in err.value.message and "nothing was kept" in err.value.message


def test_s3_unreachable_on_read_is_a_retryable_error(moto: MotoService) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
            env.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
            client = s3_client(f"http://127.0.0.1:{closed.getsockname()[1]}", moto.region)
            store = S3Offload("s3://offload-gone/p", ttl_seconds=60, part_rows=10, client=client)
            for call in (
                lambda: store.read(ACME, "a" * 32 + "/part-00000.parquet", 10),
                lambda: store.renew(ACME, "a" * 32),
            ):
                with pytest.raises(GatewayError) as err:
                    call()
                assert err.value.status is Status.UNAVAILABLE and err.value.code == "OFFLOAD_UNAVAILABLE"
                assert "S3 could not be reached" in err.value.message and "127.0.0.1" not in err.value.message
    finally:
        closed.close()


def test_renew_and_sweep(s3: Any, bucket: str) -> None:
    now = [1_000_000.0]
    store = S3Offload(f"s3://{bucket}/p", ttl_seconds=100, part_rows=10, client=s3, clock=lambda: now[0])
    kept, dropped = "e" * 32, "f" * 32
    for job in (kept, dropped):
        store.write(ACME, job, SCHEMA, [_batch(0, 5)])
    now[0] += 90
    assert store.renew(ACME, kept) == now[0] + 100
    s3.put_object(Bucket=bucket, Key="p/acme/not-a-job/keep.txt", Body=b"x")  # not ours: never deleted
    assert store.sweep(now[0] + 20) == 1
    assert all(dropped not in key for key in _keys(s3, bucket)) and any(kept in k for k in _keys(s3, bucket))
    assert "p/acme/not-a-job/keep.txt" in _keys(s3, bucket)
    with pytest.raises(GatewayError) as err:
        store.renew(ACME, dropped)
    assert err.value.code == "OFFLOAD_GONE"
    with pytest.raises(GatewayError, match="expired or was deleted"):
        store.read(ACME, f"{dropped}/part-00000.parquet", 10)


def test_tickets_cannot_name_paths_outside_the_tenant(s3: Any, bucket: str) -> None:
    store = S3Offload(f"s3://{bucket}/p", ttl_seconds=100, part_rows=10, client=s3)
    for part in (
        "../globex/" + "a" * 32 + "/part-00000.parquet",
        "a" * 32 + "/../x.parquet",
        "a" * 32 + "/schema.arrow",
    ):
        with pytest.raises(GatewayError, match="names no offloaded result"):
            store.read(ACME, part, 10)


def _unload(s3: Any, bucket: str, prefix: str, tables: list[pa.Table], record_count: bool) -> None:
    """What Redshift UNLOAD ... FORMAT PARQUET MANIFEST [VERBOSE] leaves under its prefix."""
    entries = []
    for i, table in enumerate(tables):
        sink = io.BytesIO()
        pq.write_table(table, sink)
        key = f"{prefix}{i:04d}_part_00.parquet"
        s3.put_object(Bucket=bucket, Key=key, Body=sink.getvalue())
        meta: dict[str, int] = {"content_length": len(sink.getvalue())}
        if record_count:
            meta["record_count"] = table.num_rows
        entries.append({"url": f"s3://{bucket}/{key}", "meta": meta})
    s3.put_object(Bucket=bucket, Key=f"{prefix}manifest", Body=json.dumps({"entries": entries}).encode())


@pytest.mark.parametrize("verbose", [True, False])
def test_adopt_unloaded_parts(s3: Any, bucket: str, verbose: bool) -> None:
    store = S3Offload(f"s3://{bucket}/gw", ttl_seconds=300, part_rows=10, client=s3)
    job = uuid.uuid4().hex
    location = store.location(ACME, job)
    assert location == f"s3://{bucket}/gw/acme/{job}/"
    # Redshift writes its own types (int32 here); reads give back the gateway's schema.
    unloaded = [pa.table({"id": pa.array(range(s, s + n), pa.int32()), "s": [str(i) for i in range(n)]})
                for s, n in ((0, 7), (7, 5))]  # fmt: skip
    _unload(s3, bucket, f"gw/acme/{job}/", unloaded, verbose)
    result = store.adopt(ACME, job, SCHEMA)
    assert [p.path for p in result.parts] == [f"{job}/0000_part_00.parquet", f"{job}/0001_part_00.parquet"]
    assert [p.rows for p in result.parts] == [7, 5] and result.rows == 12 and result.bytes > 0
    assert result.expires_at > time.time() + 200
    table = _read_all(store, ACME, [p.path for p in result.parts])
    assert table.schema == SCHEMA and table["id"].to_pylist() == list(range(12))
    assert store.renew(ACME, job) >= result.expires_at
    assert store.sweep(time.time() + 1000) == 1 and _keys(s3, bucket) == []


def test_adopt_refuses_parts_outside_the_job_and_missing_manifests(s3: Any, bucket: str) -> None:
    store = S3Offload(f"s3://{bucket}/gw", ttl_seconds=300, part_rows=10, client=s3)
    job = uuid.uuid4().hex
    with pytest.raises(GatewayError) as err:
        store.adopt(ACME, job, SCHEMA)
    assert err.value.code == "OFFLOAD_GONE"
    manifest = {"entries": [{"url": f"s3://{bucket}/gw/globex/{job}/0000_part_00.parquet", "meta": {}}]}
    s3.put_object(Bucket=bucket, Key=f"gw/acme/{job}/manifest", Body=json.dumps(manifest).encode())
    with pytest.raises(GatewayError) as err:
        store.adopt(ACME, job, SCHEMA)
    assert err.value.code == "BAD_MANIFEST"


def test_unadopted_unload_is_swept_one_ttl_after_it_was_written(s3: Any, bucket: str) -> None:
    store = S3Offload(f"s3://{bucket}/gw", ttl_seconds=300, part_rows=10, client=s3)
    job = uuid.uuid4().hex
    _unload(s3, bucket, f"gw/acme/{job}/", [pa.table({"id": [1]})], True)
    assert store.sweep(time.time() + 10) == 0 and len(_keys(s3, bucket)) == 2
    assert store.sweep(time.time() + 400) == 1 and _keys(s3, bucket) == []


# -- through real clients: gateways offloading to S3 (moto) -----------------------------------

BIG_ROWS = 5_000_000
BIG_PART_ROWS = 1_250_000
BIG = f"select range as id, range % 7 as k, 'v' || (range % 100)::varchar as s from range({BIG_ROWS})"
HINT_OPTION = f"adbc.flight.sql.rpc.call_header.{DELIVERY_HEADER}"


@pytest.fixture(scope="module")
def aws_env(moto: MotoService) -> Iterator[None]:
    """The default credentials chain finds moto's (any) credentials in the environment."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", moto.access_key)
        patch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_key)
        patch.setenv("AWS_DEFAULT_REGION", moto.region)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
            patch.delenv(name, raising=False)
        yield


def _s3_settings(moto: MotoService, bucket: str, **extra: Any) -> dict[str, Any]:
    return {
        "offload_target": f"s3://{bucket}/results",
        "offload_s3_endpoint_url": moto.endpoint_url,
        "offload_s3_region": moto.region,
        **extra,
    }


@pytest.fixture(scope="module")
def s3gw(moto: MotoService, aws_env: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    bucket = f"gw-{uuid.uuid4().hex[:12]}"
    moto.client("s3").create_bucket(Bucket=bucket)
    settings = _s3_settings(moto, bucket, offload_mode="auto", offload_part_rows=BIG_PART_ROWS,
                            offload_threshold_bytes=1_000_000, offload_sse="AES256")  # fmt: skip
    running = start_gateway(tmp_path_factory.mktemp("s3gw"), **settings)
    yield running
    running.gateway.shutdown()


def _bucket_of(gw: RunningGateway) -> str:
    offload = gw.gateway.offload
    assert isinstance(offload, S3Offload)
    return offload.bucket


def _plan(gw: RunningGateway, sql: str, tenant: str = "acme", hint: str | None = None) -> fl.FlightInfo:
    client, options = gw.flight_client(tenant)
    if hint is not None:
        options = fl.FlightCallOptions(headers=[*options.headers, (DELIVERY_HEADER.encode(), hint.encode())])
    return client.get_flight_info(fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql))), options)


def _doget(gw: RunningGateway, ticket: fl.Ticket, tenant: str = "acme") -> pa.Table:
    client, options = gw.flight_client(tenant)
    return client.do_get(ticket, options).read_all()


def _body(endpoint: fl.FlightEndpoint) -> dict[str, Any]:
    cmd = unpack(endpoint.ticket.ticket)
    assert isinstance(cmd, pb.TicketStatementQuery)
    return dict(json.loads(cmd.statement_handle[33:]))


def _by_id(table: pa.Table) -> pa.Table:
    return table.sort_by([("id", "ascending")])


def test_five_million_rows_offloaded_to_s3_read_whole_and_in_parallel(s3gw: RunningGateway, moto: MotoService) -> None:
    s3, bucket = moto.client("s3"), _bucket_of(s3gw)
    kwargs = {"username": "acme", "password": s3gw.password, HINT_OPTION: "stream"}
    with flight_sql.connect(s3gw.uri, db_kwargs=kwargs, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(BIG)
        streamed = _by_id(cur.fetch_arrow_table())
    assert streamed.num_rows == BIG_ROWS

    with s3gw.connect("acme") as conn, conn.cursor() as cur:
        cur.execute(BIG)
        assert _by_id(cur.fetch_arrow_table()).equals(streamed)
        partitions, schema = cur.adbc_execute_partitions(BIG)
    assert len(partitions) == 4 and schema == streamed.schema

    def read_partition(partition: bytes) -> pa.Table:
        with s3gw.connect("acme") as conn, conn.cursor() as cur:
            cur.adbc_read_partition(partition)
            return cur.fetch_arrow_table()

    with ThreadPoolExecutor(max_workers=4) as pool:
        tables = list(pool.map(read_partition, partitions))
    assert [t.num_rows for t in tables] == [BIG_PART_ROWS] * 4
    assert _by_id(pa.concat_tables(tables)).equals(streamed)

    info = _plan(s3gw, BIG)
    job_id = _body(info.endpoints[0])["j"]
    assert len(info.endpoints) == 4 and info.total_records == BIG_ROWS
    prefix = f"results/acme/{job_id}/"
    assert [k for k in _keys(s3, bucket) if k.startswith(prefix)] == sorted(
        [prefix + "expires.json", prefix + "schema.arrow"] + [f"{prefix}part-{i:05d}.parquet" for i in range(4)]
    )
    assert s3.head_object(Bucket=bucket, Key=prefix + "part-00003.parquet")["ServerSideEncryption"] == "AES256"
    job = s3gw.gateway.jobs.get(job_id)
    assert job is not None and job.state is JobState.SUCCEEDED and job.delivery == "offload"
    assert job.offload_location == f"s3://{bucket}/{prefix}" and job.rows == BIG_ROWS


def test_s3_ticket_refused_for_another_tenant(s3gw: RunningGateway) -> None:
    info = _plan(s3gw, "select 1 as x", hint="offload")
    assert _body(info.endpoints[0])["k"] == "o"
    with pytest.raises(fl.FlightUnauthorizedError, match="another tenant"):
        _doget(s3gw, info.endpoints[0].ticket, "globex")
    assert _doget(s3gw, info.endpoints[0].ticket).to_pylist() == [{"x": 1}]


def _renew(gw: RunningGateway, endpoint: fl.FlightEndpoint) -> fl.FlightEndpoint:
    client, options = gw.flight_client("acme")
    request = wire.RenewFlightEndpointRequest(endpoint=endpoint.serialize())
    results = list(client.do_action(fl.Action("RenewFlightEndpoint", request.SerializeToString()), options))
    return fl.FlightEndpoint.deserialize(results[0].body.to_pybytes())


def test_s3_renewal_expiry_and_sweep(s3gw: RunningGateway, moto: MotoService) -> None:
    s3, bucket = moto.client("s3"), _bucket_of(s3gw)
    info = _plan(s3gw, "select range as id from range(10)", hint="offload")
    endpoint, body = info.endpoints[0], _body(info.endpoints[0])
    marker = f"results/acme/{body['j']}/expires.json"
    soon = time.time() + 5  # as if most of the TTL had passed
    s3.put_object(Bucket=bucket, Key=marker, Body=json.dumps({"expires_at": soon}).encode())
    renewed = _renew(s3gw, endpoint)
    assert renewed.expiration_time.as_py() > endpoint.expiration_time.as_py()
    assert json.loads(s3.get_object(Bucket=bucket, Key=marker)["Body"].read())["expires_at"] > soon + 3000
    assert _doget(s3gw, renewed.ticket).num_rows == 10

    signer = TicketSigner([(s3gw.data_dir / "signing-key").read_text().strip().encode()])
    expired = signer.sign("ticket", "acme", -5, {"k": "o", "j": body["j"], "f": body["f"]})
    with pytest.raises((fl.FlightError, pa.ArrowException), match="expired; run the statement again"):
        _doget(s3gw, fl.Ticket(pack(pb.TicketStatementQuery(statement_handle=expired))))

    offload = s3gw.gateway.offload
    assert offload is not None and offload.sweep(now=time.time() + 3 * 3600) >= 1
    assert not [k for k in _keys(s3, bucket) if body["j"] in k]
    with pytest.raises((fl.FlightError, pa.ArrowException), match="expired or was deleted; run the statement again"):
        _doget(s3gw, renewed.ticket)


def test_startup_sweep_deletes_expired_s3_results(moto: MotoService, aws_env: None, tmp_path: Path) -> None:
    s3, bucket = moto.client("s3"), f"gw-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    expired, live = f"results/acme/{'a' * 32}/", f"results/acme/{'b' * 32}/"
    for prefix, at in ((expired, time.time() - 1), (live, time.time() + 600)):
        s3.put_object(Bucket=bucket, Key=prefix + "part-00000.parquet", Body=b"x")
        s3.put_object(Bucket=bucket, Key=prefix + "expires.json", Body=json.dumps({"expires_at": at}).encode())
    running = start_gateway(tmp_path, **_s3_settings(moto, bucket))
    try:
        assert all(k.startswith(live) for k in _keys(s3, bucket)) and len(_keys(s3, bucket)) == 2
    finally:
        running.gateway.shutdown()


class BreakableProxy:
    """A TCP proxy in front of moto that cuts every connection, and refuses new ones, from the
    moment a request carries `trigger` until `heal()`: S3 becoming unreachable mid-job."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self._upstream = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.trigger: bytes | None = None
        self.broken = threading.Event()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.broken.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self._upstream)
            with self._lock:
                self._open |= {client, upstream}
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, outbound: bool) -> None:
        try:
            while data := source.recv(65536):
                if outbound and self.trigger is not None and self.trigger in data:
                    self.cut()
                    return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.broken.set()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._open.clear()

    def heal(self) -> None:
        self.trigger = None
        self.broken.clear()

    def close(self) -> None:
        self.cut()
        self._listener.close()


def test_s3_outage_mid_write_fails_the_job_and_leaves_nothing(moto: MotoService, aws_env: None, tmp_path: Path) -> None:
    s3, bucket = moto.client("s3"), f"gw-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    proxy = BreakableProxy(moto.endpoint_url)
    settings = _s3_settings(moto, bucket, offload_part_rows=100_000)
    running = start_gateway(tmp_path, **(settings | {"offload_s3_endpoint_url": proxy.url}))
    try:
        proxy.trigger = b"part-00002.parquet"  # two parts are up when S3 goes away
        sql = "select range as id, 'x' || range::varchar as s from range(1000000)"
        with pytest.raises(fl.FlightUnavailableError, match="nothing was kept, run the statement again") as err:
            _plan(running, sql, hint="offload")
        assert "S3 could not be reached" in str(err.value) and "Traceback" not in str(err.value)
        assert proxy.broken.is_set()
        failed = running.gateway.jobs.list("acme", 1)[0]
        assert failed.state is JobState.FAILED and failed.error_code == "OFFLOAD_FAILED"
        assert failed.delivery == "offload" and failed.offload_location == f"s3://{bucket}/results/acme/{failed.id}/"
        assert failed.offload_expires_at is not None and failed.finished_at is not None
        assert failed.offload_expires_at <= failed.finished_at  # nothing to serve: expired as it failed
        left = _keys(s3, bucket)  # S3 was away when the failed write tried to delete its parts
        assert f"results/acme/{failed.id}/part-00001.parquet" in left
        proxy.heal()
        offload = running.gateway.offload
        assert offload is not None
        offload.sweep()  # deletes what the failed write could not while S3 was away
        assert _keys(s3, bucket) == [] and s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    finally:
        running.gateway.shutdown()
        proxy.close()


def _refuse_after(client: Any, operation: str, allowed: int) -> list[str]:
    """Make `client` refuse `operation` (AccessDenied, not retried) after `allowed` calls: the keys it was asked for."""
    asked: list[str] = []

    def refuse(params: dict[str, Any], **_: Any) -> None:
        asked.append(str(params.get("Key")))
        if len(asked) > allowed:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "refused"}}, operation)

    client.meta.events.register(f"before-parameter-build.s3.{operation}", refuse)
    return asked


# Three parts of ~1M rows (several 5 MiB chunks each); the query fails in the third.
FAILING_QUERY = (
    "select range as id, case when range < 2500000 then 'x' || range::varchar else error('the query failed') end "
    "as s from range(3000000)"
)
PLAIN_QUERY = "select range as id, 'x' || range::varchar as s from range(3000000)"


@pytest.mark.parametrize(
    ("fault", "code"),
    [("query fails mid-write", "INVALID_INPUT"), ("S3 refuses after some chunks", "OFFLOAD_FAILED"),
     ("S3 refuses to complete a part", "OFFLOAD_FAILED")],
)  # fmt: skip
def test_a_failed_offload_leaves_nothing_and_is_recorded_as_a_failed_offload(
    moto: MotoService, aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str, code: str
) -> None:
    """Parts written, a multipart upload open: all of it goes at once, not at a later sweep."""
    monkeypatch.setattr(s3io, "CHUNK", 5 * 1024 * 1024)
    s3, bucket = moto.client("s3"), f"gw-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    running = start_gateway(tmp_path, **_s3_settings(moto, bucket, offload_part_rows=1_000_000))
    try:
        offload = running.gateway.offload
        assert isinstance(offload, S3Offload)
        client = offload._client
        sql = FAILING_QUERY
        if fault == "S3 refuses after some chunks":
            asked = _refuse_after(client, "UploadPart", 4)
            sql = PLAIN_QUERY
        elif fault == "S3 refuses to complete a part":
            asked = _refuse_after(client, "CompleteMultipartUpload", 1)
            sql = PLAIN_QUERY
        with pytest.raises((fl.FlightError, pa.ArrowInvalid)) as err:
            _plan(running, sql, hint="offload")
        assert "Traceback" not in str(err.value)
        if code == "OFFLOAD_FAILED":
            assert "nothing was kept, run the statement again" in str(err.value)
            assert any(key.endswith("part-00001.parquet") for key in asked)  # a part was complete, one open
        failed = running.gateway.jobs.list("acme", 1)[0]
        assert (failed.state, failed.error_code, failed.delivery) == (JobState.FAILED, code, "offload")
        prefix = f"results/acme/{failed.id}/"
        assert failed.offload_location == f"s3://{bucket}/{prefix}"
        assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount") == 0
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
        assert offload.sweep() == 0  # nothing was left for the sweeper
    finally:
        running.gateway.shutdown()


# -- two replicas: shared S3 prefix, token keys and DynamoDB job store ------------------------


def _replica_env(settings: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHT_GATEWAY_")}
    env["FLIGHT_GATEWAY_DEMO_PASSWORD"] = PASSWORD
    for key, value in settings.items():
        env[f"FLIGHT_GATEWAY_{key.upper()}"] = json.dumps(value) if isinstance(value, dict | bool) else str(value)
    return env


def _serve(tmp_path: Path, settings: dict[str, Any]) -> ServeProcess:
    """`flight-gateway serve` configured by environment variables, as a container would be."""
    data_dir, stderr_path = tmp_path / "replica-1", tmp_path / "replica-1.stderr"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed argv
            [sys.executable, "-m", "flight_gateway.cli", "serve", "--port", "0", "--data-dir", str(data_dir),
             "--demo-rows", "1000", "--demo"],
            stdout=subprocess.PIPE, stderr=stderr, text=True, env=_replica_env(settings),
        )  # fmt: skip
    assert process.stdout is not None
    match = re.search(r"listening on (grpc://127\.0\.0\.1:\d+)", _first_line(process.stdout, 60))
    serve = ServeProcess(process, match.group(1) if match else "", data_dir, stderr_path)
    if match is None:
        serve.stop()
        raise AssertionError(f"replica 1 did not start; stderr:\n{serve.stderr()}")
    return serve


def test_two_replicas_share_results_jobs_and_recovery(moto: MotoService, aws_env: None, tmp_path: Path) -> None:
    bucket = f"gw-{uuid.uuid4().hex[:12]}"
    moto.client("s3").create_bucket(Bucket=bucket)
    shared = _s3_settings(moto, bucket, offload_part_rows=100_000) | {
        "token_keys": {"shared": "6f1c0e9a4b7d28e35a90c4f1d6b2e87310a5c9f4e2b6d8a07c3e5f1b9d4a2c86"},
        "job_store": "dynamodb",
        "dynamodb_table": f"jobs-{uuid.uuid4().hex[:10]}",
        "dynamodb_endpoint_url": moto.endpoint_url,
        "dynamodb_region": moto.region,
        "dynamodb_create_table": True,
        # Replica 1 stays a zombie until reaped: its stale heartbeat, as on another host, tells it died.
        "instance_heartbeat_seconds": 1,
    }
    one = _serve(tmp_path, shared)
    # Replica 2's clock stands still until the test moves it: replica 1's heartbeat goes stale
    # when the test says, not when a loaded machine falls behind.
    clock = ManualClock()
    two = start_gateway(tmp_path / "replica-2", **shared, clock=clock, job_sweep_seconds=0.05)
    client1, client2 = fl.FlightClient(one.uri), fl.FlightClient(two.uri)
    try:
        # Replica 1's bearer token is good on replica 2: both sign with the shared keys.
        options = fl.FlightCallOptions(headers=[client1.authenticate_basic_token("acme", PASSWORD)])
        offload = fl.FlightCallOptions(headers=[*options.headers, (DELIVERY_HEADER.encode(), b"offload")])
        sql = "select range as id, range * 2 as twice from range(250000)"
        info = client1.get_flight_info(
            fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql))), offload
        )
        assert len(info.endpoints) == 3
        served = pa.concat_tables(client2.do_get(e.ticket, options).read_all() for e in info.endpoints)
        assert served.schema == info.schema and served["id"].to_pylist() == list(range(250_000))
        job_id = _body(info.endpoints[0])["j"]
        for client in (client1, client2):
            assert job_id in [j["id"] for j in job_action(client, options, "ListJobs", {"limit": 10})["jobs"]]
            job = job_action(client, options, "GetJob", {"job_id": job_id})
            assert job["state"] == "SUCCEEDED" and job["delivery"] == "offload" and job["rows"] == 250_000

        # A query running on replica 1 when it dies is failed by replica 2's recovery.
        endless = "select count(*) as n from range(100000000000) a"
        planned = client1.get_flight_info(
            fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=endless))), options
        )
        reader = client1.do_get(planned.endpoints[0].ticket, options)
        running_id = _body(planned.endpoints[0])["j"]
        wait_for(
            lambda: job_action(client2, options, "GetJob", {"job_id": running_id})["state"] == "RUNNING",
            "the query to run on replica 1",
        )
        one.process.send_signal(signal.SIGKILL)
        with pytest.raises(fl.FlightError):
            reader.read_all()
        clock.advance(60)  # replica 1's last heartbeat is a minute old on replica 2's clock (stale after 3 s)
        failed = wait_for(
            lambda: (j := job_action(client2, options, "GetJob", {"job_id": running_id}))["state"] == "FAILED" and j,
            "replica 2 to recover replica 1's job",
        )
        assert failed["error_code"] == "GATEWAY_RESTARTED" and "stopped before it finished" in failed["error_message"]
    finally:
        client1.close()
        client2.close()
        one.stop()
        two.gateway.shutdown()
