"""Big results stream from PostgreSQL in bounded memory; bulk ingest; EXPLAIN row estimates."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import psutil
import pyarrow as pa
import pyarrow.flight as fl
import pytest
from conftest import RunningGateway
from pg_support import PgDatabase, pg_database, pg_gateway, tenant
from services import PostgresService

from auth import Tenant
from flight_gateway.config import PostgresEngineConfig
from flight_gateway.engines.postgres.engine import PostgresEngine, TenantLogin
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack

MiB = 1 << 20
BIG_ROWS = 5_000_000
# A set-returning function in the SELECT list streams (in FROM, PostgreSQL materializes it first).
BIG_QUERY = f"select generate_series(1, {BIG_ROWS}) as id, repeat('x', 100) as s, now() as ts"


@pytest.fixture(scope="module")
def db(postgres: PostgresService) -> Iterator[PgDatabase]:
    with pg_database(postgres, "stream") as database:
        yield database


@pytest.fixture(scope="module")
def gw(db: PgDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    password = db.role("stream_user", grants=["grant create on schema public to stream_user"])
    running = pg_gateway(tmp_path_factory.mktemp("stream"), [db.engine()], [tenant("s", "stream_user", password)])
    running.password_of_user = password  # type: ignore[attr-defined]
    yield running
    running.gateway.shutdown()


class RssPeak:
    """Samples this process's resident set size: the gateway runs in it, and the client (which
    keeps no batch) too, so a result held in memory anywhere would show."""

    def __init__(self) -> None:
        self._process = psutil.Process(os.getpid())
        self.baseline = self.peak = self._process.memory_info().rss
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self.samples += 1
            self._stop.wait(0.005)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sql", "params"),
    [(BIG_QUERY, None), (BIG_QUERY.replace(str(BIG_ROWS), "$1::int8"), pa.record_batch([pa.array([BIG_ROWS])], ["n"]))],
    ids=["copy", "bound-parameters-cursor"],
)
def test_five_million_rows_stream_in_bounded_memory(
    gw: RunningGateway, sql: str, params: pa.RecordBatch | None
) -> None:
    arrow_baseline = pa.total_allocated_bytes()
    rows = total_bytes = batches = 0
    with gw.connect("s") as conn, conn.cursor() as cur, RssPeak() as sampler:
        cur.execute(sql, params)
        for batch in cur.fetch_record_batch():  # one batch at a time, nothing kept
            rows += batch.num_rows
            total_bytes += batch.nbytes
            batches += 1
    assert rows == BIG_ROWS
    assert batches > 50
    assert sampler.samples > 10
    assert total_bytes > 500 * MiB
    growth = sampler.peak - sampler.baseline
    # Over half a GiB streamed; gateway and client together may hold a few batches of it.
    assert growth < total_bytes / 4, f"RSS grew {growth / MiB:.0f} MiB for a {total_bytes / MiB:.0f} MiB result"
    assert pa.total_allocated_bytes() - arrow_baseline < 8 * MiB  # nothing leaked


def test_bulk_ingest_modes(gw: RunningGateway, db: PgDatabase) -> None:
    data = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", None, "c"]})
    with gw.connect("s") as conn, conn.cursor() as cur:
        assert cur.adbc_ingest("ingested", data, mode="create") == 3
        assert cur.adbc_ingest("ingested", data, mode="append") == 3
        with pytest.raises(Exception, match="already exists"):
            cur.adbc_ingest("ingested", data, mode="create")
        assert cur.adbc_ingest("ingested", data.slice(0, 1), mode="replace") == 1
        assert cur.adbc_ingest("ingested", data, mode="create_append") == 3
        with pytest.raises(Exception, match="does not exist"):
            cur.adbc_ingest("missing_table", data, mode="append")
    # The table belongs to the tenant's database user: the database saw who created it.
    assert db.one("select tableowner from pg_tables where tablename = 'ingested'") == "stream_user"
    assert db.one("select count(*) from ingested") == 4


def test_estimate_rows_from_explain(db: PgDatabase, gw: RunningGateway) -> None:
    config = PostgresEngineConfig(**db.engine())
    password: Any = gw.password_of_user  # type: ignore[attr-defined]
    engine = PostgresEngine("pg", config, {"s": TenantLogin("stream_user", lambda: password)})
    try:
        with engine.session(Tenant(id="s", engine="pg")) as session:
            assert session.estimate_rows("select * from generate_series(1, 1000)", None) == 1000
            params = pa.record_batch([pa.array([5000], pa.int64())], names=["n"])
            # The bound value reaches the planner (a custom plan), so the estimate follows it.
            assert session.estimate_rows("select * from generate_series(1, $1::int8)", params) == 5000
    finally:
        engine.close()


def test_offload_auto_uses_the_explain_estimate(db: PgDatabase, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A result PostgreSQL estimates (EXPLAIN) as big goes to Parquet parts, one endpoint each."""
    password = db.role("offload_user")
    running = pg_gateway(
        tmp_path_factory.mktemp("offload"),
        [db.engine()],
        [tenant("o", "offload_user", password, offload="auto")],
        offload_threshold_bytes=100_000,
        offload_part_rows=100_000,
    )
    try:
        client, options = running.flight_client("o")
        sql = "select g, g * 2 as twice from generate_series(1, 250000) g"
        info = client.get_flight_info(
            fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql))), options
        )
        assert len(info.endpoints) == 3
        assert info.total_records == 250_000
        tables = [client.do_get(e.ticket, options).read_all() for e in info.endpoints]
        assert sum(t.num_rows for t in tables) == 250_000
        small = client.get_flight_info(
            fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query="select 1 as one"))), options
        )
        assert len(small.endpoints) == 1 and small.total_records == -1  # streamed, not offloaded
        client.close()
    finally:
        running.gateway.shutdown()
