"""Signed, self-contained tickets and prepared-statement handles.

Layout: version byte, 32-byte HMAC-SHA256, JSON payload. The MAC covers a purpose label and the
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
from typing import Any

import pyarrow as pa

from flight_gateway.errors import GatewayError, Status, denied, invalid

_VERSION = b"\x01"
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
            raise invalid("MALFORMED_TICKET", f"the {what} is malformed; request a new one")
        mac, payload = token[1 : 1 + _MAC_LEN], token[1 + _MAC_LEN :]
        if not any([hmac.compare_digest(mac, self._mac(purpose, payload, key)) for key in self._keys]):
            raise invalid(
                "FORGED_TICKET",
                f"the {what} was not issued by this gateway or was altered; request a new one",
            )
        body: dict[str, Any] = json.loads(payload)
        if body.get("t") != tenant:
            raise denied("WRONG_TENANT", f"the {what} belongs to another tenant")
        if int(body.get("x", 0)) < self._clock():
            raise GatewayError(
                Status.DEADLINE_EXCEEDED,
                "TICKET_EXPIRED",
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
