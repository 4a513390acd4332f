#!/usr/bin/env bash
# Regenerates the Flight SQL protobuf modules (*_pb2.py / .pyi) from the .proto files.
# Run from anywhere; needs grpcio-tools and mypy-protobuf (the "dev" extra).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m grpc_tools.protoc -I flight_gateway/protocol --python_out=flight_gateway/protocol --mypy_out=flight_gateway/protocol flight_gateway/protocol/flightsql.proto flight_gateway/protocol/flight_actions.proto
