"""Signed, self-contained tickets and prepared-statement handles: the one place they are built and read.

Bodies are typed (`QueryTicket`, `CountTicket`, `MetadataTicket`, `PartTicket`, `PreparedHandle`);
on the wire: version byte (`TICKET_FORMAT`), 32-byte HMAC-SHA256, JSON payload with short keys
(kept as they were, so tickets and handles stay valid across an upgrade). The MAC covers a purpose label and the
payload, so a handle cannot be replayed as a ticket. Every payload carries its tenant and expiry:
any replica with the same key can serve it, and a ticket minted for one tenant never serves another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from flight_gateway.errors import ErrorCode, error
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack, unpack

TICKET_FORMAT = 1
_VERSION = bytes([TICKET_FORMAT])
_MAC_LEN = 32


class TicketSigner:
    """Signs with the first key; verifies with any, so rotating keys does not void live handles."""

    def __init__(self, keys: Sequence[bytes], clock: Callable[[], float] = time.time) -> None:
        if not keys:
            raise ValueError("at least one signing key is required")
        # Derived keys keep ticket MACs independent of how the token keys are used elsewhere.
        self._keys = [hmac.new(key, b"flight-gateway tickets v1", hashlib.sha256).digest() for key in keys]
        self._clock = clock

    def _mac(self, purpose: str, payload: bytes, key: bytes | None = None) -> bytes:
        return hmac.new(key or self._keys[0], purpose.encode() + b"\x00" + payload, hashlib.sha256).digest()

    def sign(self, purpose: str, tenant: str, ttl_seconds: float, fields: dict[str, Any]) -> bytes:
        body = {"t": tenant, "x": int(self._clock() + ttl_seconds), **fields}
        payload = json.dumps(body, separators=(",", ":")).encode()
        return _VERSION + self._mac(purpose, payload) + payload

    def verify(self, purpose: str, tenant: str, token: bytes) -> dict[str, Any]:
        what = "prepared statement handle" if purpose == "handle" else "ticket"
        if len(token) <= 1 + _MAC_LEN or token[:1] != _VERSION:
            raise error(ErrorCode.MALFORMED_TICKET, f"the {what} is malformed; request a new one")
        mac, payload = token[1 : 1 + _MAC_LEN], token[1 + _MAC_LEN :]
        if not any([hmac.compare_digest(mac, self._mac(purpose, payload, key)) for key in self._keys]):
            raise error(
                ErrorCode.FORGED_TICKET,
                f"the {what} was not issued by this gateway or was altered; request a new one",
            )
        body: dict[str, Any] = json.loads(payload)
        if body.get("t") != tenant:
            raise error(ErrorCode.WRONG_TENANT, f"the {what} belongs to another tenant")
        if int(body.get("x", 0)) < self._clock():
            raise error(
                ErrorCode.TICKET_EXPIRED,
                f"the {what} has expired; run the statement again for a fresh one",
            )
        return body


def encode_batch(batch: pa.RecordBatch | None) -> str | None:
    """Parameters travel inside handles and tickets as base64 Arrow IPC."""
    if batch is None:
        return None
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return base64.b64encode(sink.getvalue().to_pybytes()).decode()


def decode_batch(text: str | None) -> pa.RecordBatch | None:
    if text is None:
        return None
    table = pa.ipc.open_stream(base64.b64decode(text)).read_all()
    return table.combine_chunks().to_batches()[0] if table.num_rows else pa.RecordBatch.from_pylist([], table.schema)


@dataclass(frozen=True)
class QueryTicket:
    """A streamed query, run when the ticket is read; `schema` is the one admission described
    (absent from tickets signed before it was carried: described again then)."""

    sql: str
    job_id: str
    params: pa.RecordBatch | None = None
    schema: pa.Schema | None = None


@dataclass(frozen=True)
class CountTicket:
    """A statement that ran at planning (DDL/DML): its count of affected rows."""

    count: int


@dataclass(frozen=True)
class MetadataTicket:
    """A catalog, SqlInfo or XDBC command (packed), answered when the ticket is read."""

    command: bytes


@dataclass(frozen=True)
class PartTicket:
    """One Parquet part of an offloaded result (its path relative to the tenant's directory)."""

    job_id: str
    part: str


@dataclass(frozen=True)
class PreparedHandle:
    """A prepared statement: its SQL, bound values, and the parameter count described when it
    was prepared (None in handles signed before the count was kept)."""

    sql: str
    params: pa.RecordBatch | None = None
    parameter_count: int | None = None


Ticket = QueryTicket | CountTicket | MetadataTicket | PartTicket


def _ticket_fields(ticket: Ticket) -> dict[str, Any]:
    if isinstance(ticket, QueryTicket):
        fields: dict[str, Any] = {"k": "q", "s": ticket.sql, "j": ticket.job_id, "p": encode_batch(ticket.params)}
        if ticket.schema is not None:
            fields["r"] = _encode_schema(ticket.schema)
        return fields
    if isinstance(ticket, CountTicket):
        return {"k": "c", "n": ticket.count}
    if isinstance(ticket, MetadataTicket):
        return {"k": "m", "c": base64.b64encode(ticket.command).decode()}
    return {"k": "o", "j": ticket.job_id, "f": ticket.part}


def _ticket_of(body: dict[str, Any]) -> Ticket:
    kind = body.get("k")
    if kind == "q":
        schema = body.get("r")
        return QueryTicket(
            str(body["s"]),
            str(body["j"]),
            decode_batch(body.get("p")),
            None if schema is None else _decode_schema(schema),
        )
    if kind == "c":
        return CountTicket(int(body["n"]))
    if kind == "m":
        return MetadataTicket(base64.b64decode(str(body["c"])))
    if kind == "o":
        return PartTicket(str(body.get("j", "")), str(body.get("f", "")))
    raise error(ErrorCode.MALFORMED_TICKET, "the ticket was not issued by this gateway")


def sign_ticket(signer: TicketSigner, tenant: str, ttl_seconds: float, ticket: Ticket) -> bytes:
    """The Flight ticket (a packed TicketStatementQuery) holding `ticket`, signed for `tenant`."""
    handle = signer.sign("ticket", tenant, ttl_seconds, _ticket_fields(ticket))
    return pack(pb.TicketStatementQuery(statement_handle=handle))


def read_ticket(signer: TicketSigner, tenant: str, raw: bytes, issued: str = "the ticket") -> Ticket:
    """A Flight ticket's body, verified for `tenant` (`issued` names it in the error)."""
    cmd = unpack(raw)
    if not isinstance(cmd, pb.TicketStatementQuery):
        raise error(ErrorCode.MALFORMED_TICKET, f"{issued} was not issued by this gateway")
    return _ticket_of(signer.verify("ticket", tenant, cmd.statement_handle))


def sign_handle(
    signer: TicketSigner, tenant: str, ttl_seconds: float, handle: PreparedHandle, max_params_bytes: int | None = None
) -> bytes:
    encoded = encode_batch(handle.params)
    if max_params_bytes is not None and encoded is not None and len(encoded) > max_params_bytes:
        raise error(ErrorCode.PARAMETERS_TOO_LARGE, "bound parameters exceed 1 MiB; bind smaller values")
    fields: dict[str, Any] = {"s": handle.sql, "p": encoded}
    if handle.parameter_count is not None:
        fields["n"] = handle.parameter_count
    return signer.sign("handle", tenant, ttl_seconds, fields)


def read_handle(signer: TicketSigner, tenant: str, raw: bytes) -> PreparedHandle:
    body = signer.verify("handle", tenant, raw)
    count = body.get("n")
    return PreparedHandle(str(body["s"]), decode_batch(body.get("p")), None if count is None else int(count))


def _encode_schema(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode()


def _decode_schema(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))
