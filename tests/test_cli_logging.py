"""`flight-gateway serve --log-level DEBUG`, as an operator runs it: the gateway's own DEBUG lines
appear, and no secret does (passwords, bearer tokens, authorization headers, AWS signatures and
keys), even with S3 in use, whose client library logs signed requests at DEBUG."""

from __future__ import annotations

import base64
import os
import re
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow.flight as fl
from conftest import PASSWORD
from serve_process import ServeProcess, _first_line
from services import MotoService

from auth.flight import DELIVERY_HEADER
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack


def _serve_debug(tmp_path: Path, moto: MotoService, bucket: str, aws_secret: str) -> ServeProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLIGHT_GATEWAY_", "AWS_"))}
    env |= {
        "FLIGHT_GATEWAY_DEMO": "true",  # the demo tenants, although other settings are given
        "FLIGHT_GATEWAY_DEMO_PASSWORD": PASSWORD,
        "FLIGHT_GATEWAY_OFFLOAD_TARGET": f"s3://{bucket}/results",
        "FLIGHT_GATEWAY_OFFLOAD_S3_ENDPOINT_URL": moto.endpoint_url,
        "FLIGHT_GATEWAY_OFFLOAD_S3_REGION": moto.region,
        "AWS_ACCESS_KEY_ID": "AKIADEBUGLOGTEST0001",
        "AWS_SECRET_ACCESS_KEY": aws_secret,  # moto takes any: a unique one we can look for
    }
    data_dir, stderr_path = tmp_path / "data", tmp_path / "serve.stderr"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed argv
            [sys.executable, "-m", "flight_gateway.cli", "serve", "--port", "0", "--data-dir", str(data_dir),
             "--demo-rows", "100", "--log-level", "DEBUG"],
            stdout=subprocess.PIPE, stderr=stderr, text=True, env=env,
        )  # fmt: skip
    assert process.stdout is not None
    match = re.search(r"listening on (grpc://127\.0\.0\.1:\d+)", _first_line(process.stdout, 60))
    serve = ServeProcess(process, match.group(1) if match else "", data_dir, stderr_path)
    if match is None:
        serve.stop()
        raise AssertionError(f"serve did not start; stderr:\n{serve.stderr()}")
    return serve


def test_debug_log_level_logs_the_gateways_detail_and_no_secret(tmp_path: Path, moto: MotoService) -> None:
    bucket = f"debug-{uuid.uuid4().hex[:12]}"
    moto.client("s3").create_bucket(Bucket=bucket)
    aws_secret = "dbg" + secrets.token_hex(16)
    serve = _serve_debug(tmp_path, moto, bucket, aws_secret)
    try:
        with flight_sql.connect(
            serve.uri, db_kwargs={"username": "acme", "password": PASSWORD}, autocommit=True
        ) as conn, conn.cursor() as cursor:  # fmt: skip
            cursor.execute("select count(*) from customers")
            assert cursor.fetchone() == (10,)
        client = fl.FlightClient(serve.uri)
        with client:
            name, token = client.authenticate_basic_token("globex", PASSWORD)
            offload = fl.FlightCallOptions(headers=[(name, token), (DELIVERY_HEADER.encode(), b"offload")])
            sql = "select range as id from range(1000)"
            descriptor = fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql)))
            info = client.get_flight_info(descriptor, offload)
            assert client.do_get(info.endpoints[0].ticket, offload).read_all().num_rows == 1000  # read from S3
    finally:
        serve.stop()
    log = serve.stderr()
    debug = [line for line in log.splitlines() if " DEBUG " in line]
    assert any(re.search(r" DEBUG auth GET_FLIGHT_INFO call: tenant acme\b", line) for line in debug), log[-3000:]
    assert any(" DEBUG flight_gateway.execution job " in line and "SUCCEEDED" in line for line in debug), log[-3000:]
    assert not [line for line in debug if not line.split(" DEBUG ", 1)[1].startswith(("flight_gateway", "auth"))]
    bearer = token.decode().split(" ", 1)[1]
    basic = base64.b64encode(f"acme:{PASSWORD}".encode()).decode()
    for what, secret in [("password", PASSWORD), ("bearer token", bearer), ("Basic header value", basic),
                         ("AWS secret key", aws_secret), ("AWS request signature", "Signature=")]:  # fmt: skip
        assert secret.lower() not in log.lower(), f"the {what} reached the DEBUG log"
