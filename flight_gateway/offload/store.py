"""The offload seam: where Parquet parts of offloaded results are written, read, renewed, swept.

Both targets (a local directory, an S3 prefix) keep the same layout below their root:
`<tenant prefix>/<job id>/` holding the parts, the result's Arrow schema and an expiry marker.
Part names are the gateway's own (`part-NNNNN.parquet`) or those Redshift UNLOAD writes
(`NNNN_part_NN.parquet`), adopted into a result by `adopt`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from auth import Tenant
from flight_gateway.errors import ErrorCode, GatewayError, error

MARKER = "expires.json"
SCHEMA_FILE = "schema.arrow"
MANIFEST = "manifest"
PART_NAME = re.compile(r"^(part-[0-9]{5}|[0-9]{4}_part_[0-9]{2,})\.parquet$")
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
GONE = "the offloaded result has expired or was deleted; run the statement again for a fresh one"


@dataclass(frozen=True)
class Part:
    path: str  # relative to the tenant's prefix: `<job id>/<part name>`
    rows: int


@dataclass(frozen=True)
class OffloadedResult:
    location: str
    parts: tuple[Part, ...]
    rows: int
    bytes: int
    expires_at: float
    # Which result cap cut the result ("rows:<n>", "bytes:<n>"; service/caps.py); None: complete.
    truncated: str | None = None


class Offload(Protocol):
    """An offload target; implemented by LocalOffload and S3Offload."""

    max_bytes: int | None
    ttl_seconds: float

    def now(self) -> float:
        """The clock expiries are counted in (tickets expire with the files)."""
        ...

    def location(self, tenant: Tenant, job_id: str) -> str:
        """Where a job's result lives (a directory, an `s3://` prefix ending in `/`): the job
        record's offload_location, and where an engine that writes Parquet itself must put it."""
        ...

    def write(
        self, tenant: Tenant, job_id: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch]
    ) -> OffloadedResult:
        """Write the batches as parts, a batch at a time; on any failure nothing is kept."""
        ...

    def adopt(self, tenant: Tenant, job_id: str, schema: pa.Schema) -> OffloadedResult:
        """Turn Parquet parts written by someone else at `location(tenant, job_id)` (Redshift
        UNLOAD … MANIFEST: the parts plus a `manifest` file) into a result served like the
        gateway's own: the schema file and an expiry marker are added, rows and bytes come
        from the manifest (a part's footer when the manifest has no record_count)."""
        ...

    def discard(self, tenant: Tenant, job_id: str) -> None:
        """Delete whatever a failed offload left at `location(tenant, job_id)` (parts, open S3
        multipart uploads), best effort: what cannot be deleted now is left to the sweeper."""
        ...

    def read(self, tenant: Tenant, part: str, batch_rows: int) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """A part's schema (the FlightInfo's) and its batches, read a row group at a time."""
        ...

    def renew(self, tenant: Tenant, job_id: str) -> float:
        """Keep a job's result for another TTL from now: the new expiry."""
        ...

    def sweep(self, now: float | None = None) -> int:
        """Delete expired results: how many."""
        ...


def check_job_id(job_id: str, code: ErrorCode = ErrorCode.BAD_JOB_ID) -> None:
    if not JOB_ID.match(job_id):
        raise error(code, "offloaded results are named by job id")


def split_part(part: str) -> tuple[str, str]:
    """A ticket's part path as (job id, part name); paths come only from signed, tenant-bound
    tickets, so a bad one is defence in depth."""
    job_id, _, name = part.partition("/")
    if not JOB_ID.match(job_id) or not PART_NAME.match(name):
        raise error(ErrorCode.MALFORMED_TICKET, "the ticket names no offloaded result of this tenant")
    return job_id, name


def gone() -> GatewayError:
    return error(ErrorCode.OFFLOAD_GONE, GONE)


def too_large(max_bytes: int) -> GatewayError:
    return error(
        ErrorCode.OFFLOAD_TOO_LARGE,
        f"the result exceeds offload_max_bytes ({max_bytes} bytes); nothing was kept. "
        "Narrow the query, or read it as a stream (x-flight-gateway-delivery: stream)",
    )
