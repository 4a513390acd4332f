"""requests_per_minute through real clients: which calls count, the refusal's code, message, retry-after
header and google.rpc.Status trailer, refill by the gateway's (injected) clock, tenants apart."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow.flight as fl
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from engines.postgres.pg_support import pg_database, pg_gateway, tenant
from manual_clock import ManualClock
from services import PostgresService

from auth import hash_password
from flight_gateway.errors import ErrorCode, error
from flight_gateway.protocol import flight_actions_pb2 as wire
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.calls import counts_against_rate
from flight_gateway.protocol.commands import pack, unpack
from flight_gateway.protocol.status import to_flight_error
from flight_gateway.service.rate import TokenBucket

TENANTS = [
    {"id": "acme", "limits": {"requests_per_minute": 2}},
    {"id": "globex", "limits": {"requests_per_minute": 60, "requests_burst": 1}},
    {"id": "initech"},
]


def _query(sql: str) -> fl.FlightDescriptor:
    return fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql)))


class _Headers(fl.ClientMiddlewareFactory):  # type: ignore[misc]
    """What a client reads the hint with: the `retry-after` response header of the last call."""

    def __init__(self) -> None:
        self.retry_after: list[str] = []

    def start_call(self, info: Any) -> fl.ClientMiddleware:
        factory = self

        class Middleware(fl.ClientMiddleware):  # type: ignore[misc]
            def received_headers(self, headers: dict[str, list[str]]) -> None:
                factory.retry_after = list(headers.get("retry-after", [])) or factory.retry_after

        self.retry_after = []
        return Middleware()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def gw(tmp_path: Path, clock: ManualClock) -> Iterator[RunningGateway]:
    users = [{"username": t["id"], "password_hash": hash_password(PASSWORD), "tenant": t["id"]} for t in TENANTS]
    running = start_gateway(tmp_path, clock=clock, demo=False, tenants=TENANTS, users=users)
    yield running
    running.gateway.shutdown()


def _client(gw: RunningGateway, tenant: str) -> tuple[fl.FlightClient, fl.FlightCallOptions, _Headers]:
    headers = _Headers()
    client = fl.FlightClient(gw.uri, middleware=[headers])
    token = client.authenticate_basic_token(tenant, PASSWORD)  # a Handshake: never counted
    return client, fl.FlightCallOptions(headers=[token]), headers


# -- the decoded trailer: a minimal protobuf reader, independent of the gateway's encoder -------------


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    out: list[tuple[int, int | bytes]] = []
    at = 0

    def varint() -> int:
        nonlocal at
        value = shift = 0
        while True:
            byte = data[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while at < len(data):
        key = varint()
        number, kind = key >> 3, key & 7
        if kind == 0:
            out.append((number, varint()))
        elif kind == 2:
            size = varint()
            out.append((number, data[at : at + size]))
            at += size
        else:
            raise AssertionError(f"unexpected wire type {kind}")
    return out


def _status(extra_info: bytes) -> dict[str, Any]:
    """google.rpc.Status {code=1, message=2, details=3 (Any: type_url=1, value=2)}."""
    status: dict[str, Any] = {"details": {}}
    for number, value in _fields(extra_info):
        if number == 1:
            status["code"] = value
        elif number == 2:
            assert isinstance(value, bytes)
            status["message"] = value.decode()
        elif number == 3:
            assert isinstance(value, bytes)
            parts = dict(_fields(value))
            type_url, body = parts[1], parts[2]
            assert isinstance(type_url, bytes) and isinstance(body, bytes)
            status["details"][type_url.decode()] = body
    return status


def _refused(exc: fl.FlightError, seconds: int) -> None:
    """The refusal as every client sees it: UNAVAILABLE, the code, the hint in the message and trailer."""
    assert isinstance(exc, fl.FlightUnavailableError), exc
    assert "error_code=RATE_LIMITED" in str(exc)
    assert re.search(r"request_id=[0-9a-f]{16} ", str(exc)), exc  # refused before its context: still an id
    assert f"retry after {seconds} s" in str(exc)
    status = _status(exc.extra_info)
    assert status["code"] == 14  # UNAVAILABLE, the status on the wire (grpc-go rejects a mismatch)
    assert "RATE_LIMITED" in status["message"]
    info = dict(_fields(status["details"]["type.googleapis.com/google.rpc.ErrorInfo"]))
    assert info[1] == b"RATE_LIMITED" and info[2] == b"flight-gateway"
    assert dict(_fields(info[3])) == {1: b"status", 2: b"RESOURCE_EXHAUSTED"}  # metadata entry
    retry = dict(_fields(status["details"]["type.googleapis.com/google.rpc.RetryInfo"]))
    assert isinstance(retry[1], bytes)
    assert dict(_fields(retry[1])) == {1: seconds}  # Duration.seconds


# -- through pyarrow.flight ---------------------------------------------------------------------


def test_counted_calls_run_out_and_refill_by_the_clock(gw: RunningGateway, clock: ManualClock) -> None:
    client, options, headers = _client(gw, "acme")
    info = client.get_flight_info(_query("select 1 as one"), options)  # token 1 of 2
    client.get_schema(_query("select 2 as two"), options)  # token 2 of 2
    assert headers.retry_after == []
    with pytest.raises(fl.FlightError) as refused:
        client.get_flight_info(_query("select 3 as three"), options)
    _refused(refused.value, 30)  # 2 per minute: the next token in 30 s
    assert set(headers.retry_after) == {"30"}  # gRPC may deliver it in headers and trailers
    # DoGet redeems a ticket its GetFlightInfo paid for; ListActions starts no work.
    assert client.do_get(info.endpoints[0].ticket, options).read_all().to_pydict() == {"one": [1]}
    assert {a.type for a in client.list_actions(options)} >= {"CancelFlightInfo"}
    clock.advance(20)
    with pytest.raises(fl.FlightError) as still:
        client.get_flight_info(_query("select 3 as three"), options)
    _refused(still.value, 10)
    assert set(headers.retry_after) == {"10"}  # rounded as the message is (not 11 for 10.000000001)
    clock.advance(10)
    assert client.get_flight_info(_query("select 3 as three"), options).schema.names == ["three"]
    with pytest.raises(fl.FlightUnavailableError):
        client.get_flight_info(_query("select 4 as four"), options)
    client.close()


def test_a_ticket_redeemed_again_counts_as_the_statement_run_again(gw: RunningGateway, clock: ManualClock) -> None:
    # Each DoGet of a query ticket runs the statement: the first is paid for by its GetFlightInfo,
    # any later one takes a token of its own, or one GetFlightInfo would buy unlimited executions.
    client, options, headers = _client(gw, "acme")
    ticket = client.get_flight_info(_query("select 1 as one"), options).endpoints[0].ticket  # token 1 of 2
    assert client.do_get(ticket, options).read_all().to_pydict() == {"one": [1]}  # paid for
    assert client.do_get(ticket, options).read_all().to_pydict() == {"one": [1]}  # token 2 of 2
    with pytest.raises(fl.FlightError) as refused:
        client.do_get(ticket, options).read_all()
    _refused(refused.value, 30)
    clock.advance(30)
    assert client.do_get(ticket, options).read_all().to_pydict() == {"one": [1]}
    client.close()


def test_closing_and_cancelling_stay_possible_when_throttled(gw: RunningGateway) -> None:
    client, options, headers = _client(gw, "acme")
    created = list(client.do_action(fl.Action("CreatePreparedStatement", pack(
        pb.ActionCreatePreparedStatementRequest(query="select 1 as one"))), options))  # fmt: skip
    handle = unpack(created[0].body.to_pybytes())
    assert isinstance(handle, pb.ActionCreatePreparedStatementResult)
    info = client.get_flight_info(_query("select 2 as two"), options)
    with pytest.raises(fl.FlightError) as refused:  # an action that starts work counts
        list(client.do_action(fl.Action("ListJobs", b"{}"), options))
    _refused(refused.value, 30)
    # The type of an action is known only to its handler, after the headers left: no header then.
    assert headers.retry_after == []
    close = pb.ActionClosePreparedStatementRequest(prepared_statement_handle=handle.prepared_statement_handle)
    assert list(client.do_action(fl.Action("ClosePreparedStatement", pack(close)), options)) == []
    cancel = wire.CancelFlightInfoRequest(info=info.serialize())
    result = list(client.do_action(fl.Action("CancelFlightInfo", cancel.SerializeToString()), options))
    assert len(result) == 1
    client.close()


def test_tenants_have_buckets_of_their_own(gw: RunningGateway, clock: ManualClock) -> None:
    acme, acme_options, _ = _client(gw, "acme")
    for _ in range(2):
        acme.get_schema(_query("select 1 as one"), acme_options)
    globex, globex_options, headers = _client(gw, "globex")
    globex.get_schema(_query("select 1 as one"), globex_options)  # burst 1
    with pytest.raises(fl.FlightError) as refused:
        globex.get_flight_info(_query("select 1 as one"), globex_options)
    _refused(refused.value, 1)  # 60 per minute: one a second
    assert set(headers.retry_after) == {"1"}
    unlimited, unlimited_options, _ = _client(gw, "initech")
    for _ in range(20):
        unlimited.get_schema(_query("select 1 as one"), unlimited_options)
    clock.advance(1)
    globex.get_flight_info(_query("select 1 as one"), globex_options)
    for client in (acme, globex, unlimited):
        client.close()


def test_adbc_sees_the_code_and_the_hint(gw: RunningGateway) -> None:
    conn = flight_sql.connect(gw.uri, db_kwargs={"username": "acme", "password": PASSWORD}, autocommit=True)
    try:
        with conn.cursor() as cur, pytest.raises(flight_sql.Error) as refused:
            for _ in range(3):  # at most two statements' calls fit in the bucket
                cur.execute("select 1 as one")
                cur.fetchall()
        assert "RATE_LIMITED" in str(refused.value)
        assert "retry after" in str(refused.value)
    finally:
        conn.close()


# -- the same on the database engines: the limit is the gateway's, before any engine is asked ----


# ADBC's calls: GetSqlInfo (a GetFlightInfo) on connecting, then per statement CreatePreparedStatement
# and GetFlightInfo (its ClosePreparedStatement is free): one connection and one statement fit in 3.
ADBC_LIMITS = {"requests_per_minute": 3}


def _adbc_twice(gw: RunningGateway, tenant_id: str) -> None:
    conn = flight_sql.connect(gw.uri, db_kwargs={"username": tenant_id, "password": PASSWORD}, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("select 1 as one")
            assert cur.fetchall() == [(1,)]
            with pytest.raises(flight_sql.Error) as refused:
                cur.execute("select 2 as two")
                cur.fetchall()
        assert "RATE_LIMITED" in str(refused.value) and "retry after 20 s" in str(refused.value)
    finally:
        conn.close()


def test_postgres_tenants_are_limited_alike(postgres: PostgresService, tmp_path: Path, clock: ManualClock) -> None:
    with pg_database(postgres, "rate") as db:
        password = db.role(f"rate_{uuid.uuid4().hex[:8]}")
        gw = pg_gateway(tmp_path, [db.engine()], [tenant("p", db.roles[-1], password, limits=ADBC_LIMITS)], clock=clock)
        try:
            _adbc_twice(gw, "p")
        finally:
            gw.gateway.shutdown()


def test_redshift_tenants_are_limited_alike(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> None:
    sim = request.getfixturevalue("redshift_sim")
    database = f"rsrate_{uuid.uuid4().hex[:8]}"
    sim.create_database(database)
    with sim.backend_connect(database) as conn:
        conn.execute("CREATE USER rs_rate PASSWORD 'Rate-pass1'")
    engine = {"name": "rs", "type": "redshift", "host": sim.host, "port": sim.port, "database": database,
              "sslmode": "disable"}  # fmt: skip
    gw = start_gateway(
        tmp_path, engines=[engine], demo=False, clock=clock,
        tenants=[{"id": "r", "engine": "rs", "db_user": "rs_rate", "db_password": "Rate-pass1",
                  "limits": ADBC_LIMITS}],
        users=[{"username": "r", "password_hash": hash_password(PASSWORD), "tenant": "r"}],
    )  # fmt: skip
    try:
        _adbc_twice(gw, "r")
    finally:
        gw.gateway.shutdown()


# -- units -------------------------------------------------------------------------------------


def test_the_bucket_holds_the_burst_and_refills_at_the_rate() -> None:
    bucket = TokenBucket.full(per_minute=6, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(10.0)  # 6 per minute: one token every 10 s
    assert bucket.take(4.0) == pytest.approx(6.0)  # a refused call takes nothing
    assert bucket.take(10.0) == 0.0
    assert bucket.take(1000.0) == 0.0  # a quiet spell refills up to the burst, not beyond
    assert [bucket.take(1000.0) for _ in range(3)][-1] == pytest.approx(10.0)
    assert bucket.take(500.0) > 0  # a clock stepping back mints nothing


@pytest.mark.parametrize(
    ("call", "counted"),
    [
        ("GET_FLIGHT_INFO", True), ("GET_SCHEMA", True), ("DO_PUT", True), ("DO_EXCHANGE", True),
        ("LIST_FLIGHTS", True), ("DO_ACTION:CreatePreparedStatement", True), ("DO_ACTION:SubmitJob", True),
        ("DO_ACTION:GetJob", True), ("HANDSHAKE", False), ("DO_GET", False), ("LIST_ACTIONS", False),
        ("DO_ACTION", False), ("DO_ACTION:ClosePreparedStatement", False), ("DO_ACTION:CancelFlightInfo", False),
        ("DO_ACTION:CancelQuery", False), ("DO_ACTION:CloseSession", False), ("DO_ACTION:CancelJob", False),
    ],
)  # fmt: skip
def test_which_calls_count(call: str, counted: bool) -> None:
    assert counts_against_rate(call) is counted


def test_every_error_with_a_retry_hint_carries_it_in_message_and_trailer() -> None:
    queued = to_flight_error(error(ErrorCode.QUEUE_TIMEOUT, "waited 30 s for a slot", retry_after=2.2), "r1")
    assert isinstance(queued, fl.FlightUnavailableError)
    assert str(queued).startswith("waited 30 s for a slot; retry after 3 s [error_code=QUEUE_TIMEOUT request_id=r1")
    status = _status(queued.extra_info)
    assert status["code"] == 14
    assert dict(_fields(status["details"]["type.googleapis.com/google.rpc.ErrorInfo"]))[1] == b"QUEUE_TIMEOUT"
    retry = dict(_fields(status["details"]["type.googleapis.com/google.rpc.RetryInfo"]))
    assert isinstance(retry[1], bytes) and dict(_fields(retry[1])) == {1: 3}
    # A hint the message already gives is not repeated; an error without one has no trailer.
    said = to_flight_error(error(ErrorCode.QUEUE_FULL, "the queue is full; retry after 5 s", retry_after=5), "r2")
    assert str(said).count("retry after") == 1
    assert not to_flight_error(error(ErrorCode.ENGINE_UNAVAILABLE, "down"), "r3").extra_info
