"""Streaming: bounded server memory, cancellation (disconnect and CancelFlightInfo), concurrency,
and no leaked Arrow memory."""

from __future__ import annotations

import gc
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as fl
import pytest
from conftest import PASSWORD, RunningGateway
from serve_process import ServeProcess, start_serve

from flight_gateway.jobs import Job, JobState, SqliteJobStore, fingerprint
from flight_gateway.protocol import flight_actions_pb2 as wire
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack

GiB = 1 << 30
BIG_QUERY = "select range as id, range * 2 as v, 'x' || range as s from range(50000000)"
BIG_ROWS = 50_000_000
CANCEL_OUTCOMES = {1, 2}  # CANCEL_STATUS_CANCELLED, CANCEL_STATUS_CANCELLING


def _endless(tag: str) -> str:
    """A query far too big to finish during a test; the alias makes its fingerprint unique."""
    return f"select range as id_{tag}, range * 3 as v, 'y' || range as s from range(100000000000)"


def _tag() -> str:
    return uuid.uuid4().hex.translate(str.maketrans("0123456789", "ghijklmnop"))


def _wait_for_job(data_dir: Path, sql: str, done: Callable[[Job], bool], timeout: float = 30.0) -> Job:
    """Poll the job store (as an operator would, through its own connection) until `done`."""
    wanted = fingerprint(sql)
    store = SqliteJobStore(data_dir / "jobs.sqlite3")
    try:
        deadline = time.monotonic() + timeout
        seen: list[Job] = []
        while time.monotonic() < deadline:
            seen = [j for j in store.list(limit=200) if j.fingerprint == wanted]
            if seen and done(seen[0]):
                return seen[0]
            time.sleep(0.05)
        raise AssertionError(f"job for {sql!r} did not reach the expected state in {timeout}s: {seen}")
    finally:
        store.close()


# -- memory-bounded streaming (separate server process) ----------------------------------------


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServeProcess]:
    running = start_serve(tmp_path, demo_rows=1000)
    try:
        yield running
    finally:
        running.stop()


class RssSampler:
    """Samples a process's resident set size in a background thread."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self._process = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self.peak = self._process.memory_info().rss
        self.samples = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self.samples += 1
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.mark.slow
def test_big_result_streams_in_bounded_server_memory(server_process: ServeProcess) -> None:
    conn = flight_sql.connect(server_process.uri, db_kwargs={"username": "acme", "password": PASSWORD}, autocommit=True)
    try:
        baseline = psutil.Process(server_process.pid).memory_info().rss
        rows = total_bytes = batches = 0
        with RssSampler(server_process.pid) as sampler, conn.cursor() as cur:
            cur.execute(BIG_QUERY)
            reader = cur.fetch_record_batch()
            assert reader.schema.names == ["id", "v", "s"]
            for batch in reader:  # one batch at a time; nothing is kept
                rows += batch.num_rows
                total_bytes += batch.nbytes
                batches += 1
        assert rows == BIG_ROWS
        assert batches > 100
        assert sampler.samples > 10
        # The whole result is well over a GiB; the server may only hold a few batches of it.
        assert total_bytes > 1.2 * GiB
        assert sampler.peak < 1.5 * GiB, f"server peak RSS {sampler.peak / GiB:.2f} GiB"
        assert sampler.peak - baseline < total_bytes / 2, (
            f"server RSS grew by {(sampler.peak - baseline) / GiB:.2f} GiB for a {total_bytes / GiB:.2f} GiB result"
        )
        with conn.cursor() as cur:  # and the server is still fine
            cur.execute("select count(*) from customers")
            assert cur.fetchone() == (max(10, 1000 // 20),)
    finally:
        conn.close()
    job = _wait_for_job(server_process.data_dir, BIG_QUERY, lambda j: j.state.finished)
    assert job.state is JobState.SUCCEEDED
    assert job.rows == BIG_ROWS


# -- cancellation ------------------------------------------------------------------------------


def test_adbc_disconnect_mid_stream_cancels_the_query(gateway: RunningGateway) -> None:
    sql = _endless(_tag())
    conn = gateway.connect("acme")
    try:
        cur = conn.cursor()
        cur.execute(sql)
        reader = cur.fetch_record_batch()
        for _ in range(3):
            assert reader.read_next_batch().num_rows > 0
        _wait_for_job(gateway.data_dir, sql, lambda j: j.state is JobState.RUNNING)
        reader.close()
        cur.close()
    finally:
        conn.close()
    job = _wait_for_job(gateway.data_dir, sql, lambda j: j.state.finished)
    assert job.state is JobState.CANCELLED, job
    assert job.rows is not None and 0 < job.rows < 100_000_000_000


def _plan(client: fl.FlightClient, options: fl.FlightCallOptions, sql: str) -> fl.FlightInfo:
    return client.get_flight_info(fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql))), options)


def test_flight_client_cancel_mid_stream_cancels_the_query(gateway: RunningGateway) -> None:
    sql = _endless(_tag())
    client, options = gateway.flight_client("acme")
    try:
        info = _plan(client, options, sql)
        reader = client.do_get(info.endpoints[0].ticket, options)
        for _ in range(2):
            assert reader.read_chunk().data.num_rows > 0
        reader.cancel()
    finally:
        client.close()
    job = _wait_for_job(gateway.data_dir, sql, lambda j: j.state.finished)
    assert job.state is JobState.CANCELLED, job


def _cancel_flight_info(client: fl.FlightClient, options: fl.FlightCallOptions, info: fl.FlightInfo) -> int:
    body = wire.CancelFlightInfoRequest(info=info.serialize()).SerializeToString()
    results = list(client.do_action(fl.Action("CancelFlightInfo", body), options))
    assert len(results) == 1
    result = wire.CancelFlightInfoResult()
    result.ParseFromString(results[0].body.to_pybytes())
    return int(result.status)


def test_cancel_flight_info_ends_a_running_query(gateway: RunningGateway) -> None:
    sql = _endless(_tag())
    client, options = gateway.flight_client("acme")
    try:
        info = _plan(client, options, sql)
        reader = client.do_get(info.endpoints[0].ticket, options)
        assert reader.read_chunk().data.num_rows > 0
        assert _cancel_flight_info(client, options, info) in CANCEL_OUTCOMES
        # The stream must end in an error, never as if the (endless) result were complete.
        deadline = time.monotonic() + 30
        with pytest.raises(fl.FlightCancelledError):
            while time.monotonic() < deadline:
                reader.read_chunk()
        job = _wait_for_job(gateway.data_dir, sql, lambda j: j.state.finished)
        assert job.state is JobState.CANCELLED, job
        # Cancelling again is harmless: the query is over.
        assert _cancel_flight_info(client, options, info) == 3  # CANCEL_STATUS_NOT_CANCELLABLE
        # And the tenant keeps working.
        ok = client.get_flight_info(
            fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query="select 7 as x"))), options
        )
        assert client.do_get(ok.endpoints[0].ticket, options).read_all().column("x").to_pylist() == [7]
    finally:
        client.close()


def test_cancel_flight_info_before_the_stream_starts(gateway: RunningGateway) -> None:
    sql = _endless(_tag())
    client, options = gateway.flight_client("acme")
    try:
        info = _plan(client, options, sql)
        assert _cancel_flight_info(client, options, info) == 1  # CANCEL_STATUS_CANCELLED
        job = _wait_for_job(gateway.data_dir, sql, lambda j: j.state.finished)
        assert job.state is JobState.CANCELLED
        with pytest.raises(fl.FlightCancelledError):
            client.do_get(info.endpoints[0].ticket, options).read_all()
    finally:
        client.close()


def test_cancel_flight_info_of_another_tenant_is_refused(gateway: RunningGateway) -> None:
    sql = _endless(_tag())
    acme, acme_options = gateway.flight_client("acme")
    globex, globex_options = gateway.flight_client("globex")
    try:
        info = acme.get_flight_info(
            fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql))), acme_options
        )
        with pytest.raises(fl.FlightUnauthorizedError):
            _cancel_flight_info(globex, globex_options, info)
        job = _wait_for_job(gateway.data_dir, sql, lambda j: True)
        assert not job.state.finished
        assert _cancel_flight_info(acme, acme_options, info) == 1
    finally:
        acme.close()
        globex.close()


# -- concurrency -------------------------------------------------------------------------------


def test_concurrent_connections_get_correct_results(gateway: RunningGateway) -> None:
    threads = 8
    with gateway.connect("acme") as conn, conn.cursor() as cur:
        cur.execute("select order_id, line_no, quantity, price from line_items order by order_id, line_no")
        reference = cur.fetch_arrow_table()
    barrier = threading.Barrier(threads, timeout=60)

    def work(i: int) -> tuple[int, list[tuple[int, ...]], pa.Table, int]:
        with gateway.connect("acme") as conn, conn.cursor() as cur:
            barrier.wait()
            cur.execute("select count(*), sum(customer_id) from customers where customer_id % ? = ?", (threads, i))
            counts = cur.fetchall()
            cur.execute("select order_id, line_no, quantity, price from line_items order by order_id, line_no")
            table = cur.fetch_arrow_table()
            cur.execute(f"select sum(range) from range({100_000 * (i + 1)})")
            (big,) = cur.fetchone() or (None,)
            return i, counts, table, int(big)

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(work, range(threads)))
    assert [r[0] for r in results] == list(range(threads))
    for i, counts, table, big in results:
        ids = [c for c in range(1, 101) if c % threads == i]
        assert counts == [(len(ids), sum(ids))]
        assert table.equals(reference)
        n = 100_000 * (i + 1)
        assert big == n * (n - 1) // 2


def test_concurrent_writers_to_one_table(gateway: RunningGateway) -> None:
    threads, rows = 8, 100
    table = f"concurrent_{_tag()}"
    with gateway.connect("acme") as conn, conn.cursor() as cur:
        cur.execute(f"create table {table} (writer integer, i integer)")
    barrier = threading.Barrier(threads, timeout=60)

    def work(writer: int) -> int:
        with gateway.connect("acme") as conn, conn.cursor() as cur:
            barrier.wait()
            cur.executemany(f"insert into {table} values (?, ?)", [(writer, i) for i in range(rows)])
            inserted = cur.rowcount
            cur.execute(f"update {table} set i = -i where writer = ? and i < 10", (writer,))
            return int(inserted)

    try:
        with ThreadPoolExecutor(threads) as pool:
            assert list(pool.map(work, range(threads))) == [rows] * threads
        with gateway.connect("acme") as conn, conn.cursor() as cur:
            cur.execute(f"select writer, count(*), count(*) filter (where i < 0) from {table} group by 1 order by 1")
            assert cur.fetchall() == [(w, rows, 9) for w in range(threads)]  # i = 0 stays 0
    finally:
        with gateway.connect("acme") as conn, conn.cursor() as cur:
            cur.execute(f"drop table {table}")


# -- no leaked Arrow memory --------------------------------------------------------------------


def test_streaming_does_not_leak_arrow_memory(gateway: RunningGateway) -> None:
    gc.collect()
    baseline = pa.total_allocated_bytes()
    peak = baseline
    client, options = gateway.flight_client("acme")
    try:
        for _ in range(2):
            info = client.get_flight_info(
                fl.FlightDescriptor.for_command(
                    pack(pb.CommandStatementQuery(query=BIG_QUERY.replace("50000000", "3000000")))
                ),
                options,
            )
            rows = 0
            for chunk in client.do_get(info.endpoints[0].ticket, options):
                doubled = pc.multiply(chunk.data.column("v"), 2)  # allocates from the default pool
                peak = max(peak, pa.total_allocated_bytes())
                rows += len(doubled)
                del doubled, chunk
            assert rows == 3_000_000
        # Server-side Arrow allocations too: parameters, metadata tables, an abandoned stream.
        for n in range(20):
            with gateway.connect("acme") as conn, conn.cursor() as cur:
                cur.execute("select ? as n, ? as s", (n, "x" * 1000))
                assert cur.fetchone() == (n, "x" * 1000)
                conn.adbc_get_objects(depth="all").read_all()
        info = client.get_flight_info(
            fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=_endless(_tag())))), options
        )
        reader = client.do_get(info.endpoints[0].ticket, options)
        reader.read_chunk()
        reader.cancel()
        del reader
    finally:
        client.close()
    assert peak > baseline, "the measurement must see the stream's allocations"
    gc.collect()
    deadline = time.monotonic() + 10
    while pa.total_allocated_bytes() - baseline > 1 << 20 and time.monotonic() < deadline:
        time.sleep(0.05)
        gc.collect()
    leaked = pa.total_allocated_bytes() - baseline
    assert leaked <= 1 << 20, f"{leaked} bytes of Arrow memory still allocated after streaming"
