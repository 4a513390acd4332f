"""Smoke test of an installed flight-gateway: serve the demo in-process on a free port, log in with
pyarrow.flight and run `select 42`. CI runs it in a virtualenv holding the lowest versions of the
dependencies that pyproject.toml allows, so a lower bound that is too low fails CI.

    python scripts/smoke.py            # exit status 0 and "smoke: ok" on success
"""

from __future__ import annotations

import secrets
import sys
import tempfile
from pathlib import Path

import pyarrow.flight as fl

from flight_gateway.app import build
from flight_gateway.config import load_settings
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack


def main() -> int:
    password = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="flight-gateway-smoke-") as data_dir:
        settings = load_settings(data_dir=Path(data_dir), port=0, demo_rows=100, demo_password=password)
        gateway = build(settings)
        client = fl.FlightClient(f"grpc://127.0.0.1:{gateway.port}")
        try:
            options = fl.FlightCallOptions(headers=[client.authenticate_basic_token("acme", password)])
            command = fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query="select 42 as answer")))
            info = client.get_flight_info(command, options)
            table = client.do_get(info.endpoints[0].ticket, options).read_all()
        finally:
            client.close()
            gateway.shutdown()
    if table.to_pylist() != [{"answer": 42}]:
        print(f"smoke: unexpected result {table.to_pylist()!r}", file=sys.stderr)
        return 1
    import google.protobuf
    import pyarrow

    print(f"smoke: ok (pyarrow {pyarrow.__version__}, protobuf {google.protobuf.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
