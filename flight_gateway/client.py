"""A minimal Flight SQL client for the CLI's `sql` command (pyarrow.flight only)."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.flight as fl

from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack


@dataclass(frozen=True)
class QueryResult:
    """The rows read, and whether the result has rows beyond them that were not read."""

    table: pa.Table
    more: bool


def run_query(
    uri: str,
    username: str,
    password: str,
    query: str,
    tls_root_certs: bytes | None = None,
    max_rows: int | None = None,
) -> QueryResult:
    """Run `query`; read at most `max_rows` rows (None: all), then cancel the stream.

    To tell whether more rows exist, it reads at most one batch past `max_rows`."""
    client = fl.FlightClient(uri, tls_root_certs=tls_root_certs) if tls_root_certs else fl.FlightClient(uri)
    try:
        header = client.authenticate_basic_token(username, password)
        options = fl.FlightCallOptions(headers=[header])
        descriptor = fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=query)))
        info = client.get_flight_info(descriptor, options)
        schema = info.schema
        batches: list[pa.RecordBatch] = []
        rows = 0
        for endpoint in info.endpoints:
            reader = client.do_get(endpoint.ticket, options)
            schema = reader.schema
            more = _read_into(reader, batches, rows, max_rows)
            rows = sum(batch.num_rows for batch in batches)
            if more:
                reader.cancel()  # the gateway stops the query; nothing past what we print is transferred
                return QueryResult(pa.Table.from_batches(batches, schema=schema), more=True)
        return QueryResult(pa.Table.from_batches(batches, schema=schema), more=False)
    finally:
        client.close()


def _read_into(reader: fl.FlightStreamReader, batches: list[pa.RecordBatch], rows: int, max_rows: int | None) -> bool:
    """Append the stream's batches (up to `max_rows` rows in all); True when rows beyond them exist."""
    while True:
        try:
            batch = reader.read_chunk().data
        except StopIteration:
            return False
        if batch is None or batch.num_rows == 0:
            continue
        if max_rows is not None and rows + batch.num_rows > max_rows:
            if rows < max_rows:
                batches.append(batch.slice(0, max_rows - rows))
            return True
        batches.append(batch)
        rows += batch.num_rows
