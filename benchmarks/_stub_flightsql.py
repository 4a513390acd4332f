"""A do-nothing Flight SQL server: the latency floor of ADBC + gRPC on this machine.

    python benchmarks/_stub_flightsql.py serve --database FILE --query SQL

It runs the query once at start-up (DuckDB, read-only) and then answers every prepared statement
with that same result: CreatePreparedStatement and ClosePreparedStatement, GetFlightInfo and DoGet
do no work beyond encoding canned messages, and there is no authentication. What a gateway
execute costs above this stub is the gateway's own work. The first stdout line has the gateway's
banner format, so benchmarks/_gateway.py can start it like the gateway.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.flight as fl
from google.protobuf import any_pb2

from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.schemas import SQL_INFO_SCHEMA


def _packed(message: Any) -> bytes:
    wrapper = any_pb2.Any()
    wrapper.Pack(message)
    return bytes(wrapper.SerializeToString())


class StubFlightSqlServer(fl.FlightServerBase):  # type: ignore[misc]
    def __init__(self, location: str, table: pa.Table) -> None:
        super().__init__(location)
        self._table = table
        self._prepared = _packed(
            pb.ActionCreatePreparedStatementResult(
                prepared_statement_handle=b"stub",
                dataset_schema=table.schema.serialize().to_pybytes(),
                parameter_schema=pa.schema([]).serialize().to_pybytes(),
            )
        )
        self._ticket = _packed(pb.TicketStatementQuery(statement_handle=b"stub"))
        # ADBC asks for SqlInfo when it connects: an empty answer of the right shape will do.
        self._info_ticket = _packed(pb.TicketStatementQuery(statement_handle=b"sqlinfo"))

    def get_flight_info(self, context: fl.ServerCallContext, descriptor: fl.FlightDescriptor) -> fl.FlightInfo:
        if descriptor.command is not None and b"CommandGetSqlInfo" in descriptor.command:
            endpoint = fl.FlightEndpoint(self._info_ticket, [])
            return fl.FlightInfo(SQL_INFO_SCHEMA, descriptor, [endpoint], 0, -1)
        endpoint = fl.FlightEndpoint(self._ticket, [])
        return fl.FlightInfo(self._table.schema, descriptor, [endpoint], self._table.num_rows, -1)

    def do_get(self, context: fl.ServerCallContext, ticket: fl.Ticket) -> fl.FlightDataStream:
        if ticket.ticket == self._info_ticket:
            return fl.GeneratorStream(SQL_INFO_SCHEMA, iter([]))
        return fl.RecordBatchStream(self._table)

    def do_action(self, context: fl.ServerCallContext, action: fl.Action) -> Iterator[bytes]:
        if action.type == "CreatePreparedStatement":
            return iter([self._prepared])
        if action.type == "ClosePreparedStatement":
            return iter([])
        raise fl.FlightServerError(f"the stub does not implement {action.type}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--database", required=True)
    parser.add_argument("--query", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with duckdb.connect(args.database, read_only=True) as con:
        table = con.sql(args.query).to_arrow_table()
    server = StubFlightSqlServer(f"grpc://127.0.0.1:{args.port}", table)
    print(f"flight-gateway stub listening on grpc://127.0.0.1:{server.port}", flush=True)
    server.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
