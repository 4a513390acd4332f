"""Offloaded results on S3: `s3://<bucket>/<prefix>/<tenant prefix>/<job id>/part-NNNNN.parquet`.

The same layout as the local directory (parts, `schema.arrow`, `expires.json`), so any replica
sharing the prefix can serve, renew and sweep any result. Parts stream up through multipart
uploads (one 8 MiB chunk in memory at a time) and are read back by ranged GETs. The expiry
marker is written first and refreshed after every part, so another replica's sweeper never takes
a result being written for an abandoned one; a failed write deletes what it wrote, and what it
could not delete (S3 unreachable) is retried by every sweep until it is gone.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from auth import Tenant
from flight_gateway.errors import ErrorCode
from flight_gateway.offload.parquet import parquet_writer, parse_manifest, read_batches, write_parts
from flight_gateway.offload.s3io import MultipartSink, describe, is_missing, open_ranged, read_failed, write_failed
from flight_gateway.offload.store import (
    JOB_ID,
    MANIFEST,
    MARKER,
    SCHEMA_FILE,
    OffloadedResult,
    Part,
    check_job_id,
    gone,
    split_part,
)

log = logging.getLogger("flight_gateway.offload")
_S3_ERRORS = (BotoCoreError, ClientError)


def parse_target(target: str) -> tuple[str, str]:
    """`s3://bucket/prefix` as (bucket, prefix without slashes at either end)."""
    if not target.startswith("s3://"):
        raise ValueError("must look like s3://bucket/prefix")
    bucket, _, prefix = target[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError("names no bucket; use s3://bucket/prefix")
    return bucket, prefix.strip("/")


def s3_client(endpoint_url: str | None, region: str | None) -> Any:
    """A client with the default credentials chain (env, profile, web identity, instance role)."""
    config = Config(
        retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60, max_pool_connections=32
    )
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


class S3Offload:
    def __init__(
        self,
        target: str,
        *,
        ttl_seconds: float,
        part_rows: int,
        max_bytes: int | None = None,
        client: Any = None,
        sse: str | None = None,
        kms_key_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bucket, self._root = parse_target(target)
        self.max_bytes = max_bytes
        self.ttl_seconds = ttl_seconds
        self._part_rows = part_rows
        self._client = client if client is not None else s3_client(None, None)
        self._extra: dict[str, str] = {}
        if sse:
            self._extra["ServerSideEncryption"] = sse
        if kms_key_id:
            self._extra["SSEKMSKeyId"] = kms_key_id
        self._clock = clock
        self._writing: set[str] = set()  # job prefixes being written here: never swept
        self._leftovers: set[str] = set()  # job prefixes a failed write could not delete
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._clock()

    def _job_prefix(self, tenant: Tenant, job_id: str) -> str:
        return "/".join(p for p in (self._root, tenant.offload_prefix or tenant.id, job_id) if p) + "/"

    def location(self, tenant: Tenant, job_id: str) -> str:
        return f"s3://{self.bucket}/{self._job_prefix(tenant, job_id)}"

    def _put(self, key: str, body: bytes) -> None:
        self._client.put_object(Bucket=self.bucket, Key=key, Body=body, **self._extra)

    def _mark(self, prefix: str, expires_at: float) -> None:
        self._put(prefix + MARKER, json.dumps({"expires_at": expires_at}).encode())

    def write(
        self, tenant: Tenant, job_id: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch]
    ) -> OffloadedResult:
        check_job_id(job_id)
        prefix = self._job_prefix(tenant, job_id)
        sinks: list[MultipartSink] = []

        def open_part(name: str) -> pq.ParquetWriter:
            sinks.append(MultipartSink(self._client, self.bucket, prefix + name, self._extra))
            return parquet_writer(sinks[-1], schema)

        def part_done(name: str) -> None:
            sinks.pop().close()
            self._mark(prefix, self._clock() + self.ttl_seconds)

        with self._lock:
            self._writing.add(prefix)
        try:
            self._mark(prefix, self._clock() + self.ttl_seconds)
            self._put(prefix + SCHEMA_FILE, schema.serialize().to_pybytes())
            parts, rows, nbytes = write_parts(
                job_id, schema, batches, part_rows=self._part_rows, max_bytes=self.max_bytes,
                open_part=open_part, part_done=part_done,
            )  # fmt: skip
            expires_at = self._clock() + self.ttl_seconds
            self._mark(prefix, expires_at)
        except BaseException as exc:
            for sink in sinks:
                sink.abort()
            self._discard(prefix)
            if isinstance(exc, _S3_ERRORS):
                raise write_failed(exc) from exc
            raise
        finally:
            with self._lock:
                self._writing.discard(prefix)
        return OffloadedResult(self.location(tenant, job_id), tuple(parts), rows, nbytes, expires_at)

    def discard(self, tenant: Tenant, job_id: str) -> None:
        check_job_id(job_id)
        self._discard(self._job_prefix(tenant, job_id))

    def _discard(self, prefix: str) -> None:
        try:
            self._delete_prefix(prefix)
        except _S3_ERRORS as exc:
            log.warning("deleting the failed offload %s failed (%s); the sweeper retries", prefix, describe(exc))
            with self._lock:
                self._leftovers.add(prefix)

    def adopt(self, tenant: Tenant, job_id: str, schema: pa.Schema) -> OffloadedResult:
        check_job_id(job_id)
        prefix = self._job_prefix(tenant, job_id)
        try:
            manifest = self._client.get_object(Bucket=self.bucket, Key=prefix + MANIFEST)["Body"].read()
            entries = parse_manifest(manifest, self.location(tenant, job_id))
            parts = []
            for entry in entries:
                rows = entry.rows
                if rows is None:
                    size = int(self._client.head_object(Bucket=self.bucket, Key=prefix + entry.name)["ContentLength"])
                    with open_ranged(self._client, self.bucket, prefix + entry.name, size) as part_file:
                        rows = pq.read_metadata(part_file).num_rows
                parts.append(Part(f"{job_id}/{entry.name}", rows))
            self._put(prefix + SCHEMA_FILE, schema.serialize().to_pybytes())
            expires_at = self._clock() + self.ttl_seconds
            self._mark(prefix, expires_at)
        except _S3_ERRORS as exc:
            if is_missing(exc):
                raise gone() from None
            raise write_failed(exc) from exc
        return OffloadedResult(
            self.location(tenant, job_id), tuple(parts), sum(p.rows for p in parts), sum(e.bytes for e in entries),
            expires_at,
        )  # fmt: skip

    def read(self, tenant: Tenant, part: str, batch_rows: int) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        job_id, name = split_part(part)
        prefix = self._job_prefix(tenant, job_id)
        try:
            raw = self._client.get_object(Bucket=self.bucket, Key=prefix + SCHEMA_FILE)["Body"].read()
            schema = pa.ipc.read_schema(pa.py_buffer(raw))
            size = int(self._client.head_object(Bucket=self.bucket, Key=prefix + name)["ContentLength"])
            parquet = pq.ParquetFile(open_ranged(self._client, self.bucket, prefix + name, size))
        except _S3_ERRORS as exc:
            if is_missing(exc):
                raise gone() from None
            raise read_failed(exc) from exc
        return schema, _translated(read_batches(parquet, schema, batch_rows))

    def renew(self, tenant: Tenant, job_id: str) -> float:
        check_job_id(job_id, ErrorCode.MALFORMED_TICKET)
        prefix = self._job_prefix(tenant, job_id)
        try:
            current = _expiry(self._client.get_object(Bucket=self.bucket, Key=prefix + MARKER)["Body"].read())
            if current is None:
                raise gone()
            expires_at = max(current, self._clock() + self.ttl_seconds)
            self._mark(prefix, expires_at)
        except _S3_ERRORS as exc:
            if is_missing(exc):
                raise gone() from None
            raise read_failed(exc) from exc
        return expires_at

    def sweep(self, now: float | None = None) -> int:
        """Delete expired results (and the leftovers of failed writes): how many. A job prefix
        without a marker (an UNLOAD never adopted) expires one TTL after its last object."""
        now = self._clock() if now is None else now
        with self._lock:
            leftovers, writing = set(self._leftovers), set(self._writing)
        for prefix in leftovers:
            self._delete_prefix(prefix)
            with self._lock:
                self._leftovers.discard(prefix)
        removed = 0
        for prefix, (marker, newest) in self._job_prefixes().items():
            if prefix in writing:
                continue
            expires_at = None
            if marker:
                body = self._client.get_object(Bucket=self.bucket, Key=prefix + MARKER)["Body"].read()
                expires_at = _expiry(body)
            if expires_at is None:
                expires_at = newest + self.ttl_seconds
            if expires_at <= now:
                self._delete_prefix(prefix)
                removed += 1
        return removed + len(leftovers)

    def _job_prefixes(self) -> dict[str, tuple[bool, float]]:
        """Every job prefix below the root: whether it has a marker, and its newest object's time."""
        found: dict[str, tuple[bool, float]] = {}
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self._root}/" if self._root else ""
        )
        for page in pages:
            for item in page.get("Contents", []):
                directory, _, name = str(item["Key"]).rpartition("/")
                if not JOB_ID.match(directory.rpartition("/")[2]):
                    continue  # not ours: only `<...>/<job id>/<file>` objects are ever deleted
                marker, newest = found.get(directory + "/", (False, 0.0))
                found[directory + "/"] = (marker or name == MARKER, max(newest, item["LastModified"].timestamp()))
        return found

    def _delete_prefix(self, prefix: str) -> None:
        """Abort the open multipart uploads below `prefix` and delete its objects; both are tried
        whatever the other's outcome, and the first failure is raised (the prefix stays a leftover)."""
        failure: Exception | None = None
        try:
            pages = self._client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=prefix)
            for page in pages:
                for upload in page.get("Uploads", []):
                    self._client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
        except _S3_ERRORS as exc:
            failure = exc
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            for page in pages:
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    answer = self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                    refused = answer.get("Errors", [])
                    if refused:  # per-key refusals come in a 200 answer, not as an exception
                        error = {"Code": str(refused[0].get("Code", "DeleteRefused")), "Message": ""}
                        raise ClientError({"Error": error}, "DeleteObjects")
        except _S3_ERRORS as exc:
            failure = failure or exc
        if failure is not None:
            raise failure


def _expiry(body: bytes) -> float | None:
    try:
        return float(json.loads(body)["expires_at"])
    except (ValueError, KeyError, TypeError):
        return None


def _translated(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """S3 failures while a part streams, as the gateway's own error."""
    try:
        yield from batches
    except _S3_ERRORS as exc:
        if is_missing(exc):
            raise gone() from None
        raise read_failed(exc) from exc
