"""UNLOAD's Parquet side: PostgreSQL result columns as Arrow, and the per-slice part files on S3."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


@dataclass(frozen=True)
class PartFile:
    """One file UNLOAD wrote, as STL_UNLOAD_LOG records it."""

    slice: int
    url: str
    rows: int
    size: int


_ARROW: dict[int, tuple[pa.DataType, str]] = {
    16: (pa.bool_(), "boolean"), 20: (pa.int64(), "bigint"), 21: (pa.int16(), "smallint"),
    23: (pa.int32(), "integer"), 700: (pa.float32(), "real"), 701: (pa.float64(), "double precision"),
    25: (pa.string(), "text"), 1043: (pa.string(), "character varying"), 1042: (pa.string(), "character"),
    19: (pa.string(), "name"), 1082: (pa.date32(), "date"), 1114: (pa.timestamp("us"), "timestamp without time zone"),
    1184: (pa.timestamp("us", tz="UTC"), "timestamp with time zone"), 1083: (pa.time64("us"), "time without time zone"),
    17: (pa.binary(), "varbyte"), 114: (pa.string(), "super"), 3802: (pa.string(), "super"),
}  # fmt: skip


def columns_of(conn: Any, description: Any) -> list[tuple[str, pa.DataType, dict[str, Any]]]:
    columns = []
    for column in description:
        arrow, base = _ARROW.get(column.type_code, (pa.string(), "character varying"))
        element: dict[str, Any] = {"base": base}
        if column.type_code == 1700:
            if column.precision:
                arrow = pa.decimal128(column.precision, column.scale or 0)
                element = {"base": "numeric", "precision": column.precision, "scale": column.scale or 0}
            else:
                element = {"base": "numeric"}
        elif column.internal_size and column.internal_size > 0 and base in ("character varying", "character"):
            element["max_length"] = column.internal_size
        columns.append((column.name, arrow, element))
    return columns


def record_batch(
    rows: list[tuple[Any, ...]], columns: list[tuple[str, pa.DataType, Any]], schema: pa.Schema
) -> pa.RecordBatch:
    arrays = []
    for index, (_, arrow, element) in enumerate(columns):
        values = [row[index] for row in rows]
        if pa.types.is_string(arrow) and element["base"] not in ("text", "character varying", "character", "name"):
            values = [None if v is None else (v if isinstance(v, str) else json.dumps(v) if element["base"] == "super"
                      else str(v)) for v in values]  # fmt: skip
        arrays.append(pa.array(values, type=arrow))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


class SliceWriters:
    """One Parquet writer per simulated slice; a slice starts a new part file past MAXFILESIZE."""

    def __init__(self, spec: Any, slices: int, tmp: Path, s3: Any) -> None:
        self.spec, self.slices, self.tmp, self.s3 = spec, slices, tmp, s3
        self.rows = 0
        self.entries: list[dict[str, Any]] = []
        self.files: list[PartFile] = []
        # slice → (writer, file, path, part number, rows in the part)
        self._open: dict[int, tuple[pq.ParquetWriter, Any, Path, int, int]] = {}
        self._parts = dict.fromkeys(range(slices), 0)

    def _name(self, slice_no: int, part: int) -> str:
        if self.spec.parallel:
            return f"{self.spec.prefix}{slice_no:04d}_part_{part:02d}.parquet"
        return f"{self.spec.prefix}{part:03d}.parquet"

    def write(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        share = -(-batch.num_rows // self.slices)
        for slice_no in range(self.slices):
            piece = batch.slice(slice_no * share, share)
            if piece.num_rows == 0:
                continue
            if slice_no not in self._open:
                path = self.tmp / f"slice{slice_no}.parquet"
                sink = open(path, "wb")  # closed in _close
                writer = pq.ParquetWriter(sink, batch.schema, compression="snappy", use_dictionary=False)
                self._open[slice_no] = (writer, sink, path, self._parts[slice_no], 0)
            writer, sink, path, part, count = self._open[slice_no]
            writer.write_batch(piece)
            self._open[slice_no] = (writer, sink, path, part, count + piece.num_rows)
            if sink.tell() >= self.spec.max_file_bytes:
                self._close(slice_no)

    def _close(self, slice_no: int) -> None:
        writer, sink, path, part, count = self._open.pop(slice_no)
        writer.close()
        sink.close()
        key = self._name(slice_no, part)
        self.s3.upload_file(str(path), self.spec.bucket, key)
        url, size = f"s3://{self.spec.bucket}/{key}", path.stat().st_size
        self.entries.append({"url": url, "meta": {"content_length": size, "record_count": count}})
        self.files.append(PartFile(slice_no, url, count, size))
        self._parts[slice_no] = part + 1

    def finish(self, schema: pa.Schema) -> None:
        for slice_no in sorted(self._open):
            self._close(slice_no)

    def manifest(self, columns: list[tuple[str, pa.DataType, dict[str, Any]]]) -> dict[str, Any]:
        entries = sorted(self.entries, key=lambda entry: str(entry["url"]))
        return {
            "entries": entries,
            "schema": {"elements": [{"name": name, "type": element} for name, _, element in columns]},
            "meta": {
                "content_length": sum(int(entry["meta"]["content_length"]) for entry in entries),
                "record_count": self.rows,
            },
            "author": {"name": "Amazon Redshift (simulated)", "version": "1.0.0"},
        }
