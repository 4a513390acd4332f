"""Offloaded delivery as a use case: whether a call's result goes to Parquet parts, running the
query into them, recording the result in its job, reading a part back and renewing its expiry.

The Flight side (one endpoint per part, signed part tickets, RenewFlightEndpoint) is
`protocol/offloaded.py`; this module knows nothing of Flight.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

import pyarrow as pa

from flight_gateway.context import RequestContext
from flight_gateway.engines.base import EngineSession, SupportsUnload
from flight_gateway.jobs.results import result_json
from flight_gateway.offload import Offload, OffloadedResult, estimated_row_bytes, offload_mode, parquet_compatible
from flight_gateway.service.caps import CappedOffload, check_unloaded, unload_allowed
from flight_gateway.service.executor import Executor

log = logging.getLogger("flight_gateway.offload")


class Offloading:
    def __init__(
        self,
        executor: Executor,
        store: Offload,
        *,
        default_mode: str,
        threshold_bytes: int,
        batch_rows: int,
    ) -> None:
        self._executor = executor
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
    ) -> OffloadedResult:
        """Run the query to completion into parts, recorded in its job (kept there, so the result
        can be fetched again later, from any replica)."""
        written: list[OffloadedResult] = []
        location = self._store.location(ctx.tenant, job_id)
        limits = ctx.tenant.limits

        def consume(_: pa.Schema, reader: pa.RecordBatchReader) -> tuple[int, int]:
            # The tenant's result caps and max_offload_bytes, applied as the parts are written.
            capped = CappedOffload(limits, reader)
            result = self._store.write(ctx.tenant, job_id, schema, capped)
            return record(replace(result, truncated=capped.truncated))

        def unload(session: EngineSession, _: pa.Schema) -> tuple[int, int] | None:
            # Engines that write Parquet to S3 themselves (Redshift UNLOAD) put the parts where the
            # store would have; the store adopts them. Any other case: the gateway writes the parts.
            if not isinstance(session, SupportsUnload) or not location.startswith("s3://"):
                return None
            if not unload_allowed(limits):  # UNLOAD cannot be cut mid-way: the gateway writes it
                return None
            try:
                if not session.unload(sql, params, location):
                    return None
                adopted = self._store.adopt(ctx.tenant, job_id, schema)
                check_unloaded(limits, adopted.rows, adopted.bytes)  # over a cap: discarded below
                return record(adopted)
            except BaseException:
                # A failed UNLOAD may have written some parts (and left multipart uploads open).
                self._store.discard(ctx.tenant, job_id)
                raise

        def record(result: OffloadedResult) -> tuple[int, int]:
            if result.truncated is not None:
                self._executor.jobs.set_truncated(job_id, result.truncated)
            self._executor.jobs.set_offload(job_id, result.location, result.expires_at)
            parts = ((part.path, part.rows) for part in result.parts)
            self._executor.jobs.set_result(job_id, result_json(schema, parts, result.rows, result.bytes))
            written.append(result)
            return result.rows, result.bytes

        self._executor.complete(ctx, job_id, sql, params, schema, consume, unload, offload_location=location)
        return written[0]

    def read(self, ctx: RequestContext, part: str) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """One part of the tenant's offloaded results, in batches."""
        return self._store.read(ctx.tenant, part, self._batch_rows)

    def renew(self, ctx: RequestContext, job_id: str) -> float:
        """Keep the job's result longer: its new expiry, recorded in the job."""
        expires_at = self._store.renew(ctx.tenant, job_id)
        self._executor.jobs.set_offload(job_id, self._store.location(ctx.tenant, job_id), expires_at)
        return expires_at
