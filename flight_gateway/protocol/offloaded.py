"""Offloaded delivery over Flight: deciding per call, one endpoint per Parquet part, DoGet of a
part, and RenewFlightEndpoint.

A part's ticket is signed and bound to the tenant like every other ticket; it names the part by
its path relative to the tenant's offload directory and expires with the files, so an expired
ticket gets TICKET_EXPIRED (run the statement again) before any file is looked at.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.flight as fl

from flight_gateway.context import RequestContext
from flight_gateway.engines.base import EngineSession
from flight_gateway.errors import invalid
from flight_gateway.jobs.results import result_json
from flight_gateway.offload import Offload, OffloadedResult, estimated_row_bytes, offload_mode, parquet_compatible
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack, unpack
from flight_gateway.protocol.tickets import TicketSigner
from flight_gateway.service.executor import Executor

log = logging.getLogger("flight_gateway.offload")


class OffloadDelivery:
    def __init__(
        self,
        executor: Executor,
        signer: TicketSigner,
        store: Offload,
        *,
        default_mode: str,
        threshold_bytes: int,
        batch_rows: int,
    ) -> None:
        self._executor = executor
        self._signer = signer
        self._store = store
        self._default = default_mode
        self._threshold = threshold_bytes
        self._batch_rows = batch_rows

    def now(self) -> float:
        """The clock offloaded results expire in."""
        return self._store.now()

    def wanted(self, ctx: RequestContext, sql: str, params: pa.RecordBatch | None, schema: pa.Schema) -> bool:
        """Whether this call's result goes to Parquet parts (the hint, else the tenant's mode)."""
        mode = offload_mode(self._default, ctx.tenant.offload, ctx.delivery_hint)
        if mode == "never":
            return False
        if not parquet_compatible(schema):
            log.info("result of request %s streamed: Parquet cannot carry its types", ctx.request_id)
            return False
        if mode == "always":
            return True
        rows = self._executor.estimate_rows(ctx, sql, params)
        if rows is None:
            return False
        size = rows * estimated_row_bytes(schema)
        # Beyond the cap (an endless generator, a cross join) a lazily read stream is the only way.
        return self._threshold < size <= (self._store.max_bytes or size)

    def run(
        self, ctx: RequestContext, job_id: str, sql: str, params: pa.RecordBatch | None, schema: pa.Schema
    ) -> tuple[list[fl.FlightEndpoint], int, int]:
        """Run the query to completion into parts: the endpoints, total rows and bytes."""
        written: list[Any] = []
        location = self._store.location(ctx.tenant, job_id)

        def consume(_: pa.Schema, reader: pa.RecordBatchReader) -> tuple[int, int]:
            return record(self._store.write(ctx.tenant, job_id, schema, reader))

        def unload(session: EngineSession, _: pa.Schema) -> tuple[int, int] | None:
            # Engines that write Parquet to S3 themselves (Redshift UNLOAD) put the parts where the
            # store would have; the store adopts them. Any other case: the gateway writes the parts.
            run_unload = getattr(session, "unload", None)
            if run_unload is None or not location.startswith("s3://"):
                return None
            try:
                if not run_unload(sql, params, location):
                    return None
                return record(self._store.adopt(ctx.tenant, job_id, schema))
            except BaseException:
                # A failed UNLOAD may have written some parts (and left multipart uploads open).
                self._store.discard(ctx.tenant, job_id)
                raise

        def record(result: OffloadedResult) -> tuple[int, int]:
            self._executor.jobs.set_offload(job_id, result.location, result.expires_at)
            # Kept in the job record, so the result can be fetched again later, from any replica.
            parts = ((part.path, part.rows) for part in result.parts)
            self._executor.jobs.set_result(job_id, result_json(schema, parts, result.rows, result.bytes))
            written.append(result)
            return result.rows, result.bytes

        self._executor.complete(ctx, job_id, sql, params, consume, unload, offload_location=location)
        result = written[0]
        endpoints = [self._endpoint(ctx, job_id, part.path, result.expires_at) for part in result.parts]
        return endpoints, result.rows, result.bytes

    def part_endpoints(
        self, ctx: RequestContext, job_id: str, parts: Iterable[str], expires_at: float
    ) -> list[fl.FlightEndpoint]:
        """Endpoints for the parts of a result offloaded earlier (read back from its job record)."""
        return [self._endpoint(ctx, job_id, part, expires_at) for part in parts]

    def _endpoint(self, ctx: RequestContext, job_id: str, part: str, expires_at: float) -> fl.FlightEndpoint:
        # The ticket expires with the files (both counted from the store's clock).
        ttl = expires_at - self._store.now()
        handle = self._signer.sign("ticket", ctx.tenant.id, ttl, {"k": "o", "j": job_id, "f": part})
        ticket = pack(pb.TicketStatementQuery(statement_handle=handle))
        expiration = pa.scalar(datetime.fromtimestamp(expires_at, UTC), pa.timestamp("us", tz="UTC"))
        return fl.FlightEndpoint(ticket, [], expiration_time=expiration)

    def stream(self, ctx: RequestContext, body: dict[str, Any]) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """DoGet of one part (`body` is its verified ticket)."""
        return self._store.read(ctx.tenant, str(body.get("f", "")), self._batch_rows)

    def renew(self, ctx: RequestContext, endpoint_bytes: bytes) -> bytes:
        """RenewFlightEndpoint: the endpoint again, with a fresh ticket and a later expiry."""
        try:
            endpoint = fl.FlightEndpoint.deserialize(endpoint_bytes)
        except Exception as exc:
            raise invalid("MALFORMED_ENDPOINT", "the request does not hold a valid FlightEndpoint") from exc
        cmd = unpack(endpoint.ticket.ticket)
        if not isinstance(cmd, pb.TicketStatementQuery):
            raise invalid("MALFORMED_TICKET", "the endpoint was not issued by this gateway")
        body = self._signer.verify("ticket", ctx.tenant.id, cmd.statement_handle)
        if body.get("k") != "o":
            raise invalid(
                "NOT_RENEWABLE",
                "only endpoints of offloaded results can be renewed; a streamed result is read once",
            )
        job_id = str(body.get("j", ""))
        expires_at = self._store.renew(ctx.tenant, job_id)
        self._executor.jobs.set_offload(job_id, self._store.location(ctx.tenant, job_id), expires_at)
        renewed = self._endpoint(ctx, job_id, str(body.get("f", "")), expires_at)
        return bytes(renewed.serialize())
