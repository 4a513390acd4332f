"""Offloaded results in a local directory: `<root>/<tenant prefix>/<job id>/part-NNNNN.parquet`.

The gateway writes the parts itself from the engine's reader (tenant databases cannot reach
files), one batch at a time, rolling to a new part every `part_rows` rows. Each job directory
holds the result's Arrow schema (so reads give back exactly the advertised types) and an expiry
marker that renewals push forward and the sweeper obeys. A failed write leaves nothing behind.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from auth import Tenant
from flight_gateway.errors import GatewayError, Status, invalid

MARKER = "expires.json"
SCHEMA_FILE = "schema.arrow"
_PART = re.compile(r"^([0-9a-f]{32})/part-[0-9]{5}\.parquet$")
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
_GONE = "the offloaded result has expired or was deleted; run the statement again for a fresh one"


@dataclass(frozen=True)
class Part:
    path: str  # relative to the tenant's directory: `<job id>/part-NNNNN.parquet`
    rows: int


@dataclass(frozen=True)
class OffloadedResult:
    location: str
    parts: tuple[Part, ...]
    rows: int
    bytes: int
    expires_at: float


def _write_failed(exc: OSError) -> GatewayError:
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return GatewayError(
        Status.RESOURCE_EXHAUSTED if full else Status.UNAVAILABLE,
        "OFFLOAD_FAILED",
        f"writing the offloaded result failed ({exc.strerror or exc}); nothing was kept, run the statement again",
    )


class LocalOffload:
    def __init__(
        self,
        root: Path,
        *,
        ttl_seconds: float,
        part_rows: int,
        max_bytes: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.ttl_seconds = ttl_seconds
        self._part_rows = part_rows
        self._clock = clock
        self._writing: set[Path] = set()  # never swept, whatever their marker says
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._clock()

    def tenant_dir(self, tenant: Tenant) -> Path:
        return self.root / (tenant.offload_prefix or tenant.id)

    def write(
        self, tenant: Tenant, job_id: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch]
    ) -> OffloadedResult:
        if not _JOB_ID.match(job_id):
            raise invalid("BAD_JOB_ID", "offloaded results are named by job id")
        job_dir = self.tenant_dir(tenant) / job_id
        with self._lock:
            self._writing.add(job_dir)
        try:
            job_dir.mkdir(parents=True)
            self._mark(job_dir, self._clock() + self.ttl_seconds)
            (job_dir / SCHEMA_FILE).write_bytes(schema.serialize().to_pybytes())
            parts, rows, nbytes = self._write_parts(job_id, job_dir, schema, batches)
            expires_at = self._clock() + self.ttl_seconds
            self._mark(job_dir, expires_at)
        except BaseException as exc:
            shutil.rmtree(job_dir, ignore_errors=True)
            if isinstance(exc, OSError):
                raise _write_failed(exc) from exc
            raise
        finally:
            with self._lock:
                self._writing.discard(job_dir)
        return OffloadedResult(str(job_dir), tuple(parts), rows, nbytes, expires_at)

    def _write_parts(
        self, job_id: str, job_dir: Path, schema: pa.Schema, batches: Iterable[pa.RecordBatch]
    ) -> tuple[list[Part], int, int]:
        parts: list[Part] = []
        writer: pq.ParquetWriter | None = None
        in_part = rows = nbytes = 0

        def close() -> None:
            nonlocal writer, in_part
            if writer is not None:
                writer.close()
                parts.append(Part(f"{job_id}/part-{len(parts):05d}.parquet", in_part))
                writer, in_part = None, 0

        try:
            for batch in batches:
                batch = _conform(batch, schema)
                rows += batch.num_rows
                nbytes += batch.nbytes
                if self.max_bytes is not None and nbytes > self.max_bytes:
                    raise GatewayError(
                        Status.RESOURCE_EXHAUSTED,
                        "OFFLOAD_TOO_LARGE",
                        f"the result exceeds offload_max_bytes ({self.max_bytes} bytes); nothing was kept. "
                        "Narrow the query, or read it as a stream (x-flight-gateway-delivery: stream)",
                    )
                offset = 0
                while offset < batch.num_rows:
                    if writer is None:
                        writer = _writer(job_dir / f"part-{len(parts):05d}.parquet", schema)
                    take = min(self._part_rows - in_part, batch.num_rows - offset)
                    writer.write_batch(batch.slice(offset, take))
                    offset += take
                    in_part += take
                    if in_part >= self._part_rows:
                        close()
            if writer is None and not parts:  # an empty result is one empty part
                writer = _writer(job_dir / "part-00000.parquet", schema)
            close()
        finally:
            if writer is not None:
                writer.close()
        return parts, rows, nbytes

    def read(self, tenant: Tenant, part: str, batch_rows: int) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """A part's schema (the FlightInfo's) and its batches, read a row group at a time."""
        path = self._part_path(tenant, part)
        try:
            schema = pa.ipc.read_schema(pa.py_buffer((path.parent / SCHEMA_FILE).read_bytes()))
            parquet = pq.ParquetFile(path)
        except FileNotFoundError:
            raise GatewayError(Status.NOT_FOUND, "OFFLOAD_GONE", _GONE) from None
        return schema, _batches(parquet, schema, batch_rows)

    def renew(self, tenant: Tenant, job_id: str) -> float:
        """Keep a job's result for another TTL from now: the new expiry."""
        if not _JOB_ID.match(job_id):
            raise invalid("MALFORMED_TICKET", "the ticket was not issued by this gateway")
        job_dir = self.tenant_dir(tenant) / job_id
        current = _expiry(job_dir / MARKER)
        if current is None:
            raise GatewayError(Status.NOT_FOUND, "OFFLOAD_GONE", _GONE)
        expires_at = max(current, self._clock() + self.ttl_seconds)
        self._mark(job_dir, expires_at)
        return expires_at

    def sweep(self, now: float | None = None) -> int:
        """Delete expired job directories: how many."""
        now = self._clock() if now is None else now
        removed = 0
        if not self.root.is_dir():
            return 0
        for marker in list(self.root.rglob(MARKER)):  # listed first: deleting while walking breaks the walk
            job_dir = marker.parent
            with self._lock:
                if job_dir in self._writing:
                    continue
            expires_at = _expiry(marker)
            if expires_at is None:  # unreadable marker: kept for one TTL after it was written
                try:
                    expires_at = marker.stat().st_mtime + self.ttl_seconds
                except FileNotFoundError:
                    continue
            if expires_at <= now:
                shutil.rmtree(job_dir, ignore_errors=True)
                removed += 1
        return removed

    def _part_path(self, tenant: Tenant, part: str) -> Path:
        # Paths come only from signed, tenant-bound tickets; the checks are defence in depth.
        base = self.tenant_dir(tenant).resolve()
        path = (base / part).resolve()
        if not _PART.match(part) or path.parent.parent != base:
            raise invalid("MALFORMED_TICKET", "the ticket names no offloaded result of this tenant")
        return path

    @staticmethod
    def _mark(job_dir: Path, expires_at: float) -> None:
        tmp = job_dir / f".{MARKER}.{os.getpid()}.{threading.get_ident()}"
        tmp.write_text(json.dumps({"expires_at": expires_at}))
        os.replace(tmp, job_dir / MARKER)


def _expiry(marker: Path) -> float | None:
    try:
        return float(json.loads(marker.read_text())["expires_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """The batch with exactly `schema`'s types (Parquet round trips and engines may differ slightly)."""
    if batch.schema.equals(schema):
        return batch
    columns = [batch.column(i).cast(field.type) for i, field in enumerate(schema)]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _batches(parquet: pq.ParquetFile, schema: pa.Schema, batch_rows: int) -> Iterator[pa.RecordBatch]:
    try:
        for batch in parquet.iter_batches(batch_size=batch_rows):
            yield _conform(batch, schema)
    finally:
        parquet.close()


def _writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    # Parts are read once and deleted within the hour: writing fast matters more than size.
    # Dictionary encoding cost 4x the CPU on high-cardinality columns (measured, see
    # benchmarks/RESULTS.md) for files that were only about 30 % smaller.
    return pq.ParquetWriter(path, schema, use_dictionary=False)
