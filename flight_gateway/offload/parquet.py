"""Parquet parts, target-independent: rolling a stream of batches into parts, reading a part back
with the advertised types, and reading the manifest Redshift UNLOAD writes next to its parts."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from flight_gateway.errors import ErrorCode, error
from flight_gateway.offload.store import PART_NAME, Part, too_large


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """The batch with exactly `schema`'s types (Parquet round trips and engines may differ slightly)."""
    if batch.schema.equals(schema):
        return batch
    columns = [batch.column(i).cast(field.type) for i, field in enumerate(schema)]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def read_batches(parquet: pq.ParquetFile, schema: pa.Schema, batch_rows: int) -> Iterator[pa.RecordBatch]:
    try:
        for batch in parquet.iter_batches(batch_size=batch_rows):
            yield conform(batch, schema)
    finally:
        parquet.close()


def parquet_writer(sink: Any, schema: pa.Schema) -> pq.ParquetWriter:
    # Parts are read once and deleted within the hour: writing fast matters more than size.
    # Dictionary encoding cost 4x the CPU on high-cardinality columns (measured, see
    # benchmarks/RESULTS.md) for files that were only about 30 % smaller.
    return pq.ParquetWriter(sink, schema, use_dictionary=False)


def write_parts(
    job_id: str,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    *,
    part_rows: int,
    max_bytes: int | None,
    open_part: Callable[[str], pq.ParquetWriter],
    part_done: Callable[[str], None] = lambda name: None,
) -> tuple[list[Part], int, int]:
    """Write `batches` as parts of `part_rows` rows each (`open_part(name)` gives a part's writer,
    `part_done(name)` is told once it is closed): the parts, total rows and Arrow bytes."""
    parts: list[Part] = []
    writer: pq.ParquetWriter | None = None
    in_part = rows = nbytes = 0

    def close() -> None:
        nonlocal writer, in_part
        if writer is not None:
            name = f"part-{len(parts):05d}.parquet"
            writer.close()
            writer = None
            part_done(name)
            parts.append(Part(f"{job_id}/{name}", in_part))
            in_part = 0

    try:
        for batch in batches:
            batch = conform(batch, schema)
            rows += batch.num_rows
            nbytes += batch.nbytes
            if max_bytes is not None and nbytes > max_bytes:
                raise too_large(max_bytes)
            offset = 0
            while offset < batch.num_rows:
                if writer is None:
                    writer = open_part(f"part-{len(parts):05d}.parquet")
                take = min(part_rows - in_part, batch.num_rows - offset)
                writer.write_batch(batch.slice(offset, take))
                offset += take
                in_part += take
                if in_part >= part_rows:
                    close()
        if writer is None and not parts:  # an empty result is one empty part
            writer = open_part("part-00000.parquet")
        close()
    finally:
        if writer is not None:  # only after a failure, which must not be masked by this one
            with contextlib.suppress(Exception):
                writer.close()
    return parts, rows, nbytes


@dataclass(frozen=True)
class ManifestEntry:
    name: str  # the part's file name, below the job's prefix
    rows: int | None  # None: the manifest has no record_count (plain MANIFEST), read the footer
    bytes: int


def parse_manifest(text: str | bytes, job_location: str) -> list[ManifestEntry]:
    """The parts a Redshift UNLOAD manifest lists, each of which must lie directly below the
    job's location (an UNLOAD that wrote elsewhere is refused, not served)."""
    try:
        entries = json.loads(text)["entries"]
        listed = [(str(e["url"]), e.get("meta") or {}) for e in entries]
    except (ValueError, KeyError, TypeError) as exc:
        raise error(ErrorCode.BAD_MANIFEST, "the UNLOAD manifest is not valid JSON with `entries`") from exc
    prefix = job_location if job_location.endswith("/") else job_location + "/"
    parts = []
    for url, meta in listed:
        name = url[len(prefix) :] if url.startswith(prefix) else ""
        if not PART_NAME.match(name):
            raise error(ErrorCode.BAD_MANIFEST, f"the UNLOAD manifest lists a part outside {prefix} or misnamed")
        rows = meta.get("record_count")
        parts.append(ManifestEntry(name, None if rows is None else int(rows), int(meta.get("content_length", 0))))
    return parts
