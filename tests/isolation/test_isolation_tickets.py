"""Tickets and prepared-statement handles are bound to the tenant they were minted for: replayed by
another tenant, they are refused before anything reaches the database, even when both tenants log
in as the same database user."""

from __future__ import annotations

import psycopg
import pyarrow as pa
import pyarrow.flight as fl
import pytest
from google.protobuf import any_pb2

from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack
from isolation.conftest import IsolatedGateway
from isolation.gateway_client import assert_clean
from isolation.isolation_db import ACME_ROWS

QUERY = "SELECT id, tenant FROM shared.orders"


def _ticket(iso: IsolatedGateway, tenant: str, sql: str = QUERY) -> fl.Ticket:
    client, options = iso.flight(tenant)
    with client:
        info = client.get_flight_info(
            fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql))), options
        )
    return info.endpoints[0].ticket


def _prepared_handle(iso: IsolatedGateway, tenant: str, sql: str = QUERY) -> bytes:
    client, options = iso.flight(tenant)
    with client:
        request = pack(pb.ActionCreatePreparedStatementRequest(query=sql))
        [result] = list(client.do_action(fl.Action("CreatePreparedStatement", request), options))
    wrapper = any_pb2.Any()
    wrapper.ParseFromString(result.body.to_pybytes())
    created = pb.ActionCreatePreparedStatementResult()
    assert wrapper.Unpack(created)
    return bytes(created.prepared_statement_handle)


def test_the_owner_of_a_ticket_reads_its_rows(iso: IsolatedGateway) -> None:
    ticket = _ticket(iso, "acme")
    client, options = iso.flight("acme")
    with client:
        table = client.do_get(ticket, options).read_all()
    assert table.num_rows == ACME_ROWS
    assert set(table.column("tenant").to_pylist()) == {"acme"}


@pytest.mark.parametrize("thief", ["globex", "acme_ro"])
def test_a_ticket_replayed_by_another_tenant_is_refused(iso: IsolatedGateway, thief: str) -> None:
    ticket = _ticket(iso, "acme")
    client, options = iso.flight(thief)
    with client, pytest.raises(fl.FlightUnauthorizedError) as caught:
        client.do_get(ticket, options).read_all()
    assert_clean(caught.value, "acme secret")


@pytest.mark.parametrize("thief", ["globex", "acme_ro"])
def test_a_prepared_handle_replayed_by_another_tenant_is_refused(iso: IsolatedGateway, thief: str) -> None:
    handle = _prepared_handle(iso, "acme")
    client, options = iso.flight(thief)
    with client:
        command = pack(pb.CommandPreparedStatementQuery(prepared_statement_handle=handle))
        with pytest.raises(fl.FlightUnauthorizedError):
            client.get_flight_info(fl.FlightDescriptor.for_command(command), options)
        # pyarrow's server answers GetSchema errors as UNKNOWN (see protocol/status.py); still refused, still clean.
        with pytest.raises(pa.ArrowException) as caught:
            client.get_schema(fl.FlightDescriptor.for_command(command), options)
        assert "WRONG_TENANT" in str(caught.value)
        assert_clean(caught.value)


def _postgres_describe(iso: IsolatedGateway, tenant: str, sql: str) -> list[str] | None:
    """The result columns PostgreSQL's own Parse/Describe tells the login (None: it refuses)."""
    with iso.direct(tenant) as conn:
        prepared = conn.pgconn.prepare(b"", sql.encode())
        if prepared.status != psycopg.pq.ExecStatus.COMMAND_OK:
            return None
        described = conn.pgconn.describe_prepared(b"")
        return [(described.fname(i) or b"").decode() for i in range(described.nfields)]


@pytest.mark.parametrize("tenant", ["acme", "globex"])
@pytest.mark.parametrize(
    "sql", ["SELECT * FROM shared.orders", "SELECT * FROM acme_private.plans", "SELECT * FROM shared.audit_log"]
)
def test_get_schema_reveals_no_more_than_postgresqls_describe(iso: IsolatedGateway, tenant: str, sql: str) -> None:
    """Describe needs no privilege on tables and columns (PostgreSQL checks those when a statement
    runs), so a statement's shape may name a column the tenant cannot read, exactly as a direct
    login's Describe does. A schema without USAGE stays closed."""
    expected = _postgres_describe(iso, tenant, sql)
    client, options = iso.flight(tenant)
    descriptor = fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql)))
    with client:
        if expected is not None:
            assert client.get_schema(descriptor, options).schema.names == expected
            return
        with pytest.raises(pa.ArrowException) as caught:
            client.get_schema(descriptor, options)
    assert "permission denied" in str(caught.value)
    assert_clean(caught.value, "gold", "customer_id")


def test_a_write_handle_replayed_by_the_read_only_tenant_is_refused(iso: IsolatedGateway) -> None:
    handle = _prepared_handle(iso, "acme", "UPDATE shared.notes SET body = body")
    client, options = iso.flight("acme_ro")
    with client:
        command = pack(pb.CommandPreparedStatementUpdate(prepared_statement_handle=handle))
        with pytest.raises(fl.FlightUnauthorizedError):
            writer, reader = client.do_put(fl.FlightDescriptor.for_command(command), pa.schema([]), options)
            writer.done_writing()
            reader.read()
            writer.close()


def test_another_tenant_cannot_cancel_a_query(iso: IsolatedGateway) -> None:
    client, options = iso.flight("acme")
    with client:
        descriptor = fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=QUERY)))
        info = client.get_flight_info(descriptor, options)
        thief, thief_options = iso.flight("globex")
        with thief, pytest.raises(fl.FlightUnauthorizedError):
            request = pack(pb.ActionCancelQueryRequest(info=info.serialize()))
            list(thief.do_action(fl.Action("CancelQuery", request), thief_options))
        assert client.do_get(info.endpoints[0].ticket, options).read_all().num_rows == ACME_ROWS
