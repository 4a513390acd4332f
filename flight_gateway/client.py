"""A minimal Flight SQL client for the CLI's `sql` command (pyarrow.flight only)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.flight as fl

from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack


def run_query(uri: str, username: str, password: str, query: str, tls_root_certs: bytes | None = None) -> pa.Table:
    client = fl.FlightClient(uri, tls_root_certs=tls_root_certs) if tls_root_certs else fl.FlightClient(uri)
    try:
        header = client.authenticate_basic_token(username, password)
        options = fl.FlightCallOptions(headers=[header])
        descriptor = fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=query)))
        info = client.get_flight_info(descriptor, options)
        tables = [client.do_get(endpoint.ticket, options).read_all() for endpoint in info.endpoints]
        return pa.concat_tables(tables) if tables else info.schema.empty_table()
    finally:
        client.close()
