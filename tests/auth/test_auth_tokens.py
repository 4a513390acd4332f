"""Basic -> bearer token handshake, and the properties of the signed, stateless tokens."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import grpc
import pyarrow.flight as fl
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from flight_wire import RawFlight, command_descriptor, stream_table

from auth import Principal, TokenSigner
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack

# "globex:<password>" is 35 bytes, so its base64 form ends in padding that ADBC leaves off.
CREDENTIALS = f"globex:{PASSWORD}"


def _count_customers(raw: RawFlight, token: str) -> int:
    metadata = [("authorization", token)]
    descriptor = command_descriptor(pb.CommandStatementQuery(query="select count(*) as n from customers"))
    info = raw.get_flight_info(descriptor, metadata)
    table = stream_table(raw.do_get(info.endpoints[0].ticket.ticket, metadata))
    n: int = table.column("n")[0].as_py()
    return n


def _login(running: RunningGateway, tenant: str = "acme") -> str:
    client = fl.FlightClient(running.uri)
    try:
        key, value = client.authenticate_basic_token(tenant, running.password)
    finally:
        client.close()
    assert key.lower() == b"authorization"
    return str(value.decode())


def _refused(raw: RawFlight, token: str) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        _count_customers(raw, token)
    assert isinstance(info.value, grpc.Call)
    code: grpc.StatusCode = info.value.code()
    return code


def test_padded_basic_handshake_returns_bearer(gateway: RunningGateway) -> None:
    assert base64.b64encode(CREDENTIALS.encode()).endswith(b"=")
    client = fl.FlightClient(gateway.uri)
    try:
        key, value = client.authenticate_basic_token("globex", gateway.password)
        assert key.lower() == b"authorization"
        assert value.startswith(b"Bearer ")
        assert len(value) > len(b"Bearer ") + 16
        # The token works on later calls, and identifies the tenant it was issued for.
        options = fl.FlightCallOptions(headers=[(key, value)])
        query = pb.CommandStatementQuery(query="select min(name) as name from customers")
        descriptor = fl.FlightDescriptor.for_command(pack(query))
        info = client.get_flight_info(descriptor, options)
        table = client.do_get(info.endpoints[0].ticket, options).read_all()
        assert table.column("name")[0].as_py().startswith("globex customer ")
    finally:
        client.close()


def test_unpadded_basic_handshake_returns_bearer(gateway: RunningGateway) -> None:
    unpadded = base64.b64encode(CREDENTIALS.encode()).decode().rstrip("=")
    assert len(unpadded) % 4 != 0
    raw = RawFlight.connect(gateway.uri)
    try:
        _, headers = raw.handshake([("authorization", f"Basic {unpadded}")])
        token = headers.get("authorization", "")
        assert token.startswith("Bearer ")
        assert _count_customers(raw, token) == 100
    finally:
        raw.close()


def test_token_survives_restart_with_same_data_dir(tmp_path: Path) -> None:
    first = start_gateway(tmp_path)
    try:
        token = _login(first)
        raw = RawFlight.connect(first.uri)
        try:
            assert _count_customers(raw, token) == 100
        finally:
            raw.close()
    finally:
        first.gateway.shutdown()
    second = start_gateway(tmp_path)
    try:
        raw = RawFlight.connect(second.uri)
        try:
            assert _count_customers(raw, token) == 100
        finally:
            raw.close()
    finally:
        second.gateway.shutdown()


def test_token_from_another_gateway_is_refused(tmp_path: Path) -> None:
    one = start_gateway(tmp_path / "one")
    other = start_gateway(tmp_path / "other")
    try:
        token = _login(one)
        raw = RawFlight.connect(other.uri)
        try:
            assert _refused(raw, token) == grpc.StatusCode.UNAUTHENTICATED
            assert _count_customers(raw, _login(other)) == 100  # the other gateway itself is fine
        finally:
            raw.close()
    finally:
        one.gateway.shutdown()
        other.gateway.shutdown()


def test_expired_token_is_refused(tmp_path: Path) -> None:
    running = start_gateway(tmp_path, token_ttl_seconds=60)
    try:
        key = (tmp_path / "signing-key").read_text().strip().encode()
        principal = Principal(subject="acme", tenant_id="acme", method="basic")
        fresh = TokenSigner(keys={"local": key}, active_kid="local", ttl_seconds=60).issue(principal)
        expired = TokenSigner(
            keys={"local": key}, active_kid="local", ttl_seconds=60, clock=lambda: time.time() - 120
        ).issue(principal)
        raw = RawFlight.connect(running.uri)
        try:
            # Same key, same claims: only the expiry differs.
            assert _count_customers(raw, f"Bearer {fresh}") == 100
            assert _refused(raw, f"Bearer {expired}") == grpc.StatusCode.UNAUTHENTICATED
        finally:
            raw.close()
    finally:
        running.gateway.shutdown()


def test_issued_token_lifetime_follows_token_ttl(tmp_path: Path) -> None:
    running = start_gateway(tmp_path, token_ttl_seconds=60)
    try:
        token = _login(running).removeprefix("Bearer ")
        payload = token.split(".")[2]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert claims["exp"] - claims["iat"] == 60
        assert abs(claims["iat"] - time.time()) < 30
    finally:
        running.gateway.shutdown()
