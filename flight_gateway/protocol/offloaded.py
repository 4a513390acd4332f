"""Offloaded delivery over Flight: one endpoint per Parquet part, DoGet of a part, and
RenewFlightEndpoint (the use case itself, and its job records, are `service/offloading.py`).

A part's ticket is signed and bound to the tenant like every other ticket; it names the part by
its path relative to the tenant's offload directory and expires with the files, so an expired
ticket gets TICKET_EXPIRED (run the statement again) before any file is looked at.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.flight as fl

from flight_gateway.context import RequestContext
from flight_gateway.errors import ErrorCode, error
from flight_gateway.protocol.tickets import PartTicket, TicketSigner, read_ticket, sign_ticket
from flight_gateway.service.offloading import Offloading


class OffloadDelivery:
    def __init__(self, offloading: Offloading, signer: TicketSigner) -> None:
        self.offloading = offloading
        self._signer = signer

    def now(self) -> float:
        """The clock offloaded results expire in."""
        return self.offloading.now()

    def wanted(self, ctx: RequestContext, sql: str, params: pa.RecordBatch | None, schema: pa.Schema) -> bool:
        return self.offloading.wanted(ctx, sql, params, schema)

    def part_endpoints(
        self, ctx: RequestContext, job_id: str, parts: Iterable[str], expires_at: float
    ) -> list[fl.FlightEndpoint]:
        """Endpoints for the parts of an offloaded result (just written, or read back from its job record)."""
        return [self._endpoint(ctx, job_id, part, expires_at) for part in parts]

    def _endpoint(self, ctx: RequestContext, job_id: str, part: str, expires_at: float) -> fl.FlightEndpoint:
        # The ticket expires with the files (both counted from the store's clock).
        ttl = expires_at - self.offloading.now()
        ticket = sign_ticket(self._signer, ctx.tenant.id, ttl, PartTicket(job_id, part))
        expiration = pa.scalar(datetime.fromtimestamp(expires_at, UTC), pa.timestamp("us", tz="UTC"))
        return fl.FlightEndpoint(ticket, [], expiration_time=expiration)

    def stream(self, ctx: RequestContext, ticket: PartTicket) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """DoGet of one part (its verified ticket)."""
        return self.offloading.read(ctx, ticket.part)

    def renew(self, ctx: RequestContext, endpoint_bytes: bytes) -> bytes:
        """RenewFlightEndpoint: the endpoint again, with a fresh ticket and a later expiry."""
        try:
            endpoint = fl.FlightEndpoint.deserialize(endpoint_bytes)
        except Exception as exc:
            raise error(ErrorCode.MALFORMED_ENDPOINT, "the request does not hold a valid FlightEndpoint") from exc
        body = read_ticket(self._signer, ctx.tenant.id, endpoint.ticket.ticket, "the endpoint")
        if not isinstance(body, PartTicket):
            raise error(
                ErrorCode.NOT_RENEWABLE,
                "only endpoints of offloaded results can be renewed; a streamed result is read once",
            )
        expires_at = self.offloading.renew(ctx, body.job_id)
        renewed = self._endpoint(ctx, body.job_id, body.part, expires_at)
        return bytes(renewed.serialize())
