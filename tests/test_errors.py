"""Every error a client can provoke, walked through a real gRPC client: exact status, no traceback,
and the server keeps serving afterwards."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import pyarrow as pa
import pyarrow.flight as fl
import pytest
from conftest import RunningGateway
from flight_wire import (
    Metadata,
    RawFlight,
    command_descriptor,
    flight_data,
    ipc_flight_data,
    raw_descriptor,
    stream_table,
)
from google.protobuf import any_pb2

from auth import Principal, TokenSigner
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack, unpack
from flight_gateway.protocol.tickets import TicketSigner


def _basic(username: str, password: str) -> list[tuple[str, str]]:
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    return [("authorization", f"Basic {encoded}")]


@dataclass
class Env:
    gateway: RunningGateway
    raw: RawFlight
    acme: list[tuple[str, str]]
    globex: list[tuple[str, str]]

    @property
    def acme_token(self) -> str:
        return self.acme[0][1].removeprefix("Bearer ")

    def query_info(self, sql: str, metadata: Metadata | None = None) -> fl.FlightInfo:
        descriptor = command_descriptor(pb.CommandStatementQuery(query=sql))
        return self.raw.get_flight_info(descriptor, self.acme if metadata is None else metadata)

    def statement_handle(self, sql: str) -> bytes:
        """The signed handle inside the ticket of a FlightInfo minted for acme."""
        ticket = unpack(self.query_info(sql).endpoints[0].ticket.ticket)
        assert isinstance(ticket, pb.TicketStatementQuery)
        return bytes(ticket.statement_handle)

    def prepare(self, sql: str) -> bytes:
        request = pack(pb.ActionCreatePreparedStatementRequest(query=sql))
        [raw] = self.raw.do_action("CreatePreparedStatement", request, self.acme)
        wrapper = any_pb2.Any()
        wrapper.ParseFromString(raw)
        result = pb.ActionCreatePreparedStatementResult()
        assert wrapper.Unpack(result)
        return bytes(result.prepared_statement_handle)

    def signing_key(self) -> bytes:
        # Without configured token_keys the gateway keeps its key in the data dir.
        return (self.gateway.data_dir / "signing-key").read_text().strip().encode()


@pytest.fixture(scope="module")
def env(gateway: RunningGateway) -> Iterator[Env]:
    raw = RawFlight.connect(gateway.uri)
    tokens = {}
    for tenant in ("acme", "globex"):
        _, headers = raw.handshake(_basic(tenant, gateway.password))
        tokens[tenant] = [("authorization", headers["authorization"])]
    yield Env(gateway, raw, tokens["acme"], tokens["globex"])
    raw.close()


def _query(sql: str) -> Callable[[Env], object]:
    return lambda e: e.query_info(sql)


def _prepared(sql: str) -> Callable[[Env], object]:
    return lambda e: e.prepare(sql)


def _update(sql: str) -> Callable[[Env], object]:
    return lambda e: e.raw.do_put([flight_data(command_descriptor(pb.CommandStatementUpdate(query=sql)))], e.acme)


def _tamper_token_signature(e: Env) -> object:
    token = e.acme_token
    last = "A" if token[-1] != "A" else "B"
    return e.query_info("select 1", [("authorization", f"Bearer {token[:-1]}{last}")])


def _tamper_token_claims(e: Env) -> object:
    """Rewrite the tenant claim to globex and keep acme's signature: must not log in as globex."""
    prefix, kid, payload, signature = e.acme_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["tid"] = claims["sub"] = "globex"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return e.query_info("select 1", [("authorization", f"Bearer {prefix}.{kid}.{forged}.{signature}")])


def _flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def _forged_ticket(where: str) -> Callable[[Env], object]:
    def run(e: Env) -> object:
        handle = e.statement_handle("select 42 as answer")
        index = 5 if where == "mac" else len(handle) - 3  # version byte, 32-byte MAC, JSON payload
        ticket = pack(pb.TicketStatementQuery(statement_handle=_flip(handle, index)))
        return e.raw.do_get(ticket, e.acme)

    return run


def _ticket_of_other_tenant(e: Env) -> object:
    ticket = e.query_info("select 42 as answer").endpoints[0].ticket.ticket
    return e.raw.do_get(ticket, e.globex)


def _expired_ticket(e: Env) -> object:
    signer = TicketSigner([e.signing_key()])
    job_id = "0" * 32
    handle = signer.sign("ticket", "acme", -5, {"k": "q", "s": "select 42 as answer", "j": job_id, "p": None})
    return e.raw.do_get(pack(pb.TicketStatementQuery(statement_handle=handle)), e.acme)


def _wrong_parameter_count(e: Env) -> object:
    handle = e.prepare("select ? + 1 as y")
    descriptor = command_descriptor(pb.CommandPreparedStatementQuery(prepared_statement_handle=handle))
    params = pa.record_batch({"0": pa.array([1], pa.int64()), "1": pa.array([2], pa.int64())})
    return e.raw.do_put(ipc_flight_data(descriptor, params), e.acme)


def _wrong_parameter_count_update(e: Env) -> object:
    handle = e.prepare("select ? + 1 as y")
    descriptor = command_descriptor(pb.CommandPreparedStatementUpdate(prepared_statement_handle=handle))
    params = pa.record_batch({"0": pa.array([1], pa.int64()), "1": pa.array([2], pa.int64())})
    return e.raw.do_put(ipc_flight_data(descriptor, params), e.acme)


def _unbound_parameters(e: Env) -> object:
    handle = e.prepare("select ? + 1 as y")
    descriptor = command_descriptor(pb.CommandPreparedStatementQuery(prepared_statement_handle=handle))
    return e.raw.get_flight_info(descriptor, e.acme)


def _oversized_parameters(e: Env) -> object:
    handle = e.prepare("select length(?) as n")
    descriptor = command_descriptor(pb.CommandPreparedStatementQuery(prepared_statement_handle=handle))
    return e.raw.do_put(ipc_flight_data(descriptor, pa.record_batch({"0": ["x" * (2 << 20)]})), e.acme)


def _handle_of_other_tenant(e: Env) -> object:
    handle = e.prepare("select 1 as one")
    descriptor = command_descriptor(pb.CommandPreparedStatementQuery(prepared_statement_handle=handle))
    return e.raw.get_flight_info(descriptor, e.globex)


def _close_handle_of_other_tenant(e: Env) -> object:
    request = pb.ActionClosePreparedStatementRequest(prepared_statement_handle=e.prepare("select 1 as one"))
    return e.raw.do_action("ClosePreparedStatement", pack(request), e.globex)


def _handle_as_ticket(e: Env) -> object:
    """A prepared-statement handle is signed for another purpose and must not work as a ticket."""
    ticket = pack(pb.TicketStatementQuery(statement_handle=e.prepare("select 1 as one")))
    return e.raw.do_get(ticket, e.acme)


def _token_for_unknown_tenant(e: Env) -> object:
    signer = TokenSigner({"local": e.signing_key()}, "local", 3600)
    token = signer.issue(Principal(subject="intruder", tenant_id="initech", method="basic"))
    return e.query_info("select 1", [("authorization", f"Bearer {token}")])


def _token_with_unknown_key_id(e: Env) -> object:
    signer = TokenSigner({"retired": e.signing_key()}, "retired", 3600)
    token = signer.issue(Principal(subject="acme", tenant_id="acme", method="basic"))
    return e.query_info("select 1", [("authorization", f"Bearer {token}")])


def _unknown_type_url(e: Env) -> object:
    wrapper = any_pb2.Any(type_url="type.googleapis.com/arrow.flight.protocol.sql.CommandDoesNotExist", value=b"")
    return e.raw.get_flight_info(raw_descriptor(wrapper.SerializeToString()), e.acme)


def _no_credentials(e: Env) -> object:
    return e.raw.get_flight_info(command_descriptor(pb.CommandGetCatalogs()), [])


S = grpc.StatusCode
CASES: list[tuple[str, grpc.StatusCode, Callable[[Env], object]]] = [
    # authentication
    ("wrong-password", S.UNAUTHENTICATED, lambda e: e.raw.handshake(_basic("acme", "not the password"))),
    ("wrong-password-on-call", S.UNAUTHENTICATED, lambda e: e.query_info("select 1", _basic("acme", "nope"))),
    ("unknown-user", S.UNAUTHENTICATED, lambda e: e.raw.handshake(_basic("mallory", e.gateway.password))),
    ("no-credentials", S.UNAUTHENTICATED, _no_credentials),
    ("no-credentials-handshake", S.UNAUTHENTICATED, lambda e: e.raw.handshake([])),
    ("malformed-basic", S.UNAUTHENTICATED, lambda e: e.raw.handshake([("authorization", "Basic !!!")])),
    ("bad-bearer-token", S.UNAUTHENTICATED, lambda e: e.query_info("select 1", [("authorization", "Bearer xyz")])),
    ("tampered-token-signature", S.UNAUTHENTICATED, _tamper_token_signature),
    ("tampered-token-claims", S.UNAUTHENTICATED, _tamper_token_claims),
    ("unknown-scheme", S.UNAUTHENTICATED, lambda e: e.query_info("select 1", [("authorization", "Digest x")])),
    ("token-with-unknown-key-id", S.UNAUTHENTICATED, _token_with_unknown_key_id),
    ("token-for-unknown-tenant", S.PERMISSION_DENIED, _token_for_unknown_tenant),
    ("list-actions-without-credentials", S.UNAUTHENTICATED, lambda e: e.raw.list_actions([])),
    # SQL
    ("syntax-error", S.INVALID_ARGUMENT, _query("selec 1 frm customers")),
    ("syntax-error-prepared", S.INVALID_ARGUMENT, _prepared("select from where")),
    ("unknown-table", S.NOT_FOUND, _query("select * from no_such_table")),
    ("unknown-table-prepared", S.NOT_FOUND, _prepared("select * from no_such_table")),
    ("unknown-table-update", S.NOT_FOUND, _update("delete from no_such_table")),
    ("multiple-statements", S.INVALID_ARGUMENT, _query("select 1; select 2")),
    ("multiple-statements-prepared", S.INVALID_ARGUMENT, _prepared("select 1; drop table customers")),
    ("empty-statement", S.INVALID_ARGUMENT, _query("   ")),
    # statements refused for tenants
    ("copy-to-file", S.PERMISSION_DENIED, _query("COPY customers TO '/tmp/x.csv'")),
    ("copy-prepared", S.PERMISSION_DENIED, _prepared("COPY customers TO '/tmp/x.csv'")),
    ("attach", S.PERMISSION_DENIED, _query("ATTACH '/tmp/other.duckdb' AS other")),
    ("attach-update", S.PERMISSION_DENIED, _update("ATTACH '/tmp/other.duckdb' AS other")),
    ("set", S.PERMISSION_DENIED, _query("SET threads=1")),
    ("set-update", S.PERMISSION_DENIED, _update("SET threads = 1")),
    ("install-extension", S.PERMISSION_DENIED, _query("INSTALL httpfs")),
    ("load-extension", S.PERMISSION_DENIED, _prepared("LOAD httpfs")),
    ("read-csv-file", S.PERMISSION_DENIED, _query("select * from read_csv('/etc/passwd')")),
    ("read-text-file", S.PERMISSION_DENIED, _prepared("select * from read_text('/etc/hostname')")),
    # Flight SQL framing
    (
        "malformed-command",
        S.INVALID_ARGUMENT,
        lambda e: e.raw.get_flight_info(raw_descriptor(b"\xff\xfe junk"), e.acme),
    ),
    ("unknown-command-type", S.UNIMPLEMENTED, _unknown_type_url),
    (
        "substrait-plan",
        S.UNIMPLEMENTED,
        lambda e: e.raw.get_flight_info(command_descriptor(pb.CommandStatementSubstraitPlan()), e.acme),
    ),
    (
        "path-descriptor",
        S.INVALID_ARGUMENT,
        lambda e: e.raw.get_flight_info(bytes(fl.FlightDescriptor.for_path("customers").serialize()), e.acme),
    ),
    (
        "path-descriptor-schema",
        S.INVALID_ARGUMENT,
        lambda e: e.raw.get_schema(bytes(fl.FlightDescriptor.for_path("customers").serialize()), e.acme),
    ),
    ("wrong-parameter-count", S.INVALID_ARGUMENT, _wrong_parameter_count),
    ("wrong-parameter-count-update", S.INVALID_ARGUMENT, _wrong_parameter_count_update),
    ("unbound-parameters", S.INVALID_ARGUMENT, _unbound_parameters),
    ("oversized-parameters", S.INVALID_ARGUMENT, _oversized_parameters),
    ("prepared-handle-of-other-tenant", S.PERMISSION_DENIED, _handle_of_other_tenant),
    ("close-handle-of-other-tenant", S.PERMISSION_DENIED, _close_handle_of_other_tenant),
    # tickets
    ("garbage-ticket", S.INVALID_ARGUMENT, lambda e: e.raw.do_get(b"\x00garbage\xff", e.acme)),
    ("ticket-of-other-tenant", S.PERMISSION_DENIED, _ticket_of_other_tenant),
    ("forged-ticket-mac", S.INVALID_ARGUMENT, _forged_ticket("mac")),
    ("forged-ticket-payload", S.INVALID_ARGUMENT, _forged_ticket("payload")),
    ("expired-ticket", S.DEADLINE_EXCEEDED, _expired_ticket),
    ("handle-used-as-ticket", S.INVALID_ARGUMENT, _handle_as_ticket),
    (
        "command-used-as-ticket",
        S.INVALID_ARGUMENT,
        lambda e: e.raw.do_get(pack(pb.CommandStatementQuery(query="select 1")), e.acme),
    ),
    (
        "truncated-ticket",
        S.INVALID_ARGUMENT,
        lambda e: e.raw.do_get(pack(pb.TicketStatementQuery(statement_handle=b"\x01abc")), e.acme),
    ),
    # actions
    ("unknown-action", S.UNIMPLEMENTED, lambda e: e.raw.do_action("DropEverything", b"", e.acme)),
    (
        "begin-transaction",
        S.UNIMPLEMENTED,
        lambda e: e.raw.do_action("BeginTransaction", pack(pb.ActionBeginTransactionRequest()), e.acme),
    ),
    (
        "query-in-transaction",
        S.UNIMPLEMENTED,
        lambda e: e.raw.get_flight_info(
            command_descriptor(pb.CommandStatementQuery(query="select 1", transaction_id=b"tx")), e.acme
        ),
    ),
    # Flight RPC methods the gateway does not offer
    ("list-flights", S.UNIMPLEMENTED, lambda e: e.raw.list_flights(b"", e.acme)),
    (
        "do-exchange",
        S.UNIMPLEMENTED,
        lambda e: e.raw.do_exchange(
            [flight_data(command_descriptor(pb.CommandStatementQuery(query="select 1")))], e.acme
        ),
    ),
]


@pytest.mark.parametrize(("expected", "call"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_status(env: Env, expected: grpc.StatusCode, call: Callable[[Env], object]) -> None:
    with pytest.raises(grpc.RpcError) as info:
        call(env)
    error = info.value
    assert isinstance(error, grpc.Call)
    details = error.details() or ""
    assert error.code() == expected, details
    assert details.strip(), "the status must say what went wrong"
    assert "Traceback" not in details
    assert 'File "' not in details
    # The gateway is still healthy and still serves the tenant.
    info_ok = env.query_info("select count(*) as n from customers")
    table = stream_table(env.raw.do_get(info_ok.endpoints[0].ticket.ticket, env.acme))
    assert table.column("n").to_pylist() == [100]
