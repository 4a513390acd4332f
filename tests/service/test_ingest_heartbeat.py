"""Bulk ingestion through ADBC (CommandStatementIngest) and heartbeat batches on slow streams."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import pandas as pd
import pyarrow as pa
import pyarrow.flight as fl
import pytest
from conftest import start_gateway

from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack

Connect = Callable[..., flight_sql.Connection]


def _count(conn: flight_sql.Connection, table: str) -> int:
    cur = conn.cursor()
    cur.execute(f"select count(*) from {table}")
    (n,) = cur.fetchone()  # type: ignore[misc]
    return int(n)


def test_ingest_modes(connect: Connect) -> None:
    conn = connect("globex")
    cur = conn.cursor()
    data = pa.table({"a": [1, 2, 3], "b": ["x", "y", None]})
    assert cur.adbc_ingest("ingested", data, mode="create") == 3
    assert cur.adbc_ingest("ingested", data, mode="append") == 3
    assert _count(conn, "ingested") == 6
    with pytest.raises(flight_sql.ProgrammingError, match="already exists"):
        cur.adbc_ingest("ingested", data, mode="create")
    assert cur.adbc_ingest("ingested", data.slice(0, 1), mode="replace") == 1
    cur.execute("select a, b from ingested")
    assert cur.fetch_arrow_table().to_pylist() == [{"a": 1, "b": "x"}]
    assert cur.adbc_ingest("ingested_ca", data, mode="create_append") == 3
    assert cur.adbc_ingest("ingested_ca", data, mode="create_append") == 3
    assert _count(conn, "ingested_ca") == 6


def test_ingest_append_to_missing_table_is_not_found(connect: Connect) -> None:
    cur = connect("globex").cursor()
    with pytest.raises(flight_sql.Error, match="does not exist"):
        cur.adbc_ingest("never_created", pa.table({"a": [1]}), mode="append")


def test_pandas_to_sql_and_tenant_isolation(connect: Connect) -> None:
    frame = pd.DataFrame({"x": [1.5, 2.5], "label": ["p", "q"]})
    acme = connect("acme")
    assert frame.to_sql("from_pandas", acme, index=False) == 2
    assert _count(acme, "from_pandas") == 2
    globex = connect("globex").cursor()
    with pytest.raises(flight_sql.Error, match="from_pandas"):
        globex.execute("select * from from_pandas")


def test_slow_query_sends_heartbeats_before_its_result(tmp_path: Path) -> None:
    running = start_gateway(tmp_path, demo_rows=200, heartbeat_seconds=0.01)
    try:
        client, options = running.flight_client("acme")
        # An aggregate over a large cross join: no row can be sent until all input is read.
        query = "select sum(a.range * b.range) as s from range(12000) a, range(12000) b"
        info = client.get_flight_info(
            fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=query))), options
        )
        started = time.monotonic()
        reader = client.do_get(info.endpoints[0].ticket, options)
        assert reader.schema == info.schema
        sizes: list[int] = []
        values: list[int] = []
        while True:
            try:
                chunk = reader.read_chunk()
            except StopIteration:
                break
            sizes.append(chunk.data.num_rows)
            values += chunk.data.column(0).to_pylist()
        expected = (12000 * 11999 // 2) ** 2
        assert values == [expected]
        assert sizes[-1] == 1
        # The query runs far longer than two heartbeats (the settle wait plus one), so the
        # stream must have carried empty batches before the result.
        assert time.monotonic() - started > 0.05
        assert sizes.count(0) >= 1, sizes
        client.close()
    finally:
        running.gateway.shutdown()
