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
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from auth import Tenant
from flight_gateway.errors import ErrorCode, GatewayError, Status
from flight_gateway.offload.parquet import parquet_writer, parse_manifest, read_batches, write_parts
from flight_gateway.offload.store import (
    MANIFEST,
    MARKER,
    SCHEMA_FILE,
    OffloadedResult,
    Part,
    check_job_id,
    gone,
    split_part,
)

__all__ = ["LocalOffload", "OffloadedResult", "Part"]


def _write_failed(exc: OSError) -> GatewayError:
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return GatewayError(
        Status.RESOURCE_EXHAUSTED if full else Status.UNAVAILABLE,
        ErrorCode.OFFLOAD_FAILED.name,
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

    def location(self, tenant: Tenant, job_id: str) -> str:
        return str(self.tenant_dir(tenant) / job_id)

    def write(
        self, tenant: Tenant, job_id: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch]
    ) -> OffloadedResult:
        check_job_id(job_id)
        job_dir = self.tenant_dir(tenant) / job_id
        with self._lock:
            self._writing.add(job_dir)
        try:
            job_dir.mkdir(parents=True)
            self._mark(job_dir, self._clock() + self.ttl_seconds)
            (job_dir / SCHEMA_FILE).write_bytes(schema.serialize().to_pybytes())
            parts, rows, nbytes = write_parts(
                job_id, schema, batches, part_rows=self._part_rows, max_bytes=self.max_bytes,
                open_part=lambda name: parquet_writer(job_dir / name, schema),
            )  # fmt: skip
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

    def adopt(self, tenant: Tenant, job_id: str, schema: pa.Schema) -> OffloadedResult:
        check_job_id(job_id)
        job_dir = self.tenant_dir(tenant) / job_id
        try:
            entries = parse_manifest((job_dir / MANIFEST).read_bytes(), str(job_dir))
            parts = []
            for entry in entries:
                rows = entry.rows if entry.rows is not None else pq.read_metadata(job_dir / entry.name).num_rows
                parts.append(Part(f"{job_id}/{entry.name}", rows))
            (job_dir / SCHEMA_FILE).write_bytes(schema.serialize().to_pybytes())
            expires_at = self._clock() + self.ttl_seconds
            self._mark(job_dir, expires_at)
        except FileNotFoundError:
            raise gone() from None
        except OSError as exc:
            raise _write_failed(exc) from exc
        return OffloadedResult(
            str(job_dir), tuple(parts), sum(p.rows for p in parts), sum(e.bytes for e in entries), expires_at
        )

    def discard(self, tenant: Tenant, job_id: str) -> None:
        check_job_id(job_id)
        shutil.rmtree(self.tenant_dir(tenant) / job_id, ignore_errors=True)

    def read(self, tenant: Tenant, part: str, batch_rows: int) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        job_id, name = split_part(part)
        job_dir = self.tenant_dir(tenant) / job_id
        try:
            schema = pa.ipc.read_schema(pa.py_buffer((job_dir / SCHEMA_FILE).read_bytes()))
            parquet = pq.ParquetFile(job_dir / name)
        except FileNotFoundError:
            raise gone() from None
        return schema, read_batches(parquet, schema, batch_rows)

    def renew(self, tenant: Tenant, job_id: str) -> float:
        check_job_id(job_id, ErrorCode.MALFORMED_TICKET)
        job_dir = self.tenant_dir(tenant) / job_id
        current = _expiry(job_dir / MARKER)
        if current is None:
            raise gone()
        expires_at = max(current, self._clock() + self.ttl_seconds)
        self._mark(job_dir, expires_at)
        return expires_at

    def sweep(self, now: float | None = None) -> int:
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
