"""Result caps: a tenant's `max_result_rows` / `max_result_bytes` on every result path (streamed,
prepared, offloaded, detached), and its `max_offload_bytes` on what one statement offloads.

Bytes are Arrow bytes (`RecordBatch.nbytes`, what a job's `bytes` counts). A cap is crossed by the
first batch that takes the result past it; what happens then is the tenant's `result_limit_mode`:

* `error`: RESULT_LIMIT, before the crossing batch is sent; the source is closed at once, which
  stops the engine's work (the result pump interrupts a read in flight).
* `truncate`: the crossing batch is cut to what fits and the result ends there. The last batch
  carries the truncation in its app_metadata (`truncation_metadata`); a result that reaches the cap
  exactly at a batch boundary is held one batch, to say truly whether anything was dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeAlias

import pyarrow as pa

from auth.model import TenantLimits
from flight_gateway.errors import ErrorCode, GatewayError, error
from flight_gateway.service.streaming import Opened

# A streamed chunk: a batch, or the last batch of a truncated result with its app_metadata.
Chunk: TypeAlias = "pa.RecordBatch | tuple[pa.RecordBatch, bytes]"
KEY = "result_limit"


@dataclass(frozen=True)
class ResultCap:
    max_rows: int | None
    max_bytes: int | None
    truncate: bool

    @staticmethod
    def of(limits: TenantLimits) -> ResultCap | None:
        if limits.max_result_rows is None and limits.max_result_bytes is None:
            return None
        return ResultCap(limits.max_result_rows, limits.max_result_bytes, limits.result_limit_mode == "truncate")

    def describe(self) -> dict[str, object]:
        facts: dict[str, object] = {"mode": "truncate" if self.truncate else "error"}
        if self.max_rows is not None:
            facts["max_result_rows"] = self.max_rows
        if self.max_bytes is not None:
            facts["max_result_bytes"] = self.max_bytes
        return facts


def announcement(limits: TenantLimits, truncated: str | None = None) -> bytes:
    """A FlightInfo's app_metadata for a tenant with result caps (empty without): which caps apply
    and the mode, and (for results complete before the FlightInfo, offloaded) what was cut."""
    cap = ResultCap.of(limits)
    if cap is None and truncated is None:
        return b""
    facts = {} if cap is None else cap.describe()  # the caps may have changed since it was cut
    if truncated is not None:
        facts["truncated"] = truncated
    return json.dumps({KEY: facts}, sort_keys=True).encode()


def truncation_metadata(cap: ResultCap, truncated: str) -> bytes:
    """The last batch's app_metadata in a truncated stream."""
    return json.dumps({KEY: {**cap.describe(), "truncated": truncated}}, sort_keys=True).encode()


def _over(which: str, value: int, setting: str) -> GatewayError:
    return error(
        ErrorCode.RESULT_LIMIT,
        f"the result has more than {value} {which}, the tenant's {setting}; add a LIMIT or narrow "
        "the query, or have the result offloaded (header x-flight-gateway-delivery: offload, or SubmitJob)",
    )


def _rows_within(batch: pa.RecordBatch, nbytes: int) -> int:
    """The most leading rows of `batch` whose Arrow size is at most `nbytes` (binary search:
    a slice's nbytes counts only the buffer ranges it references)."""
    low, high = 0, batch.num_rows
    while low < high:
        mid = (low + high + 1) // 2
        if batch.slice(0, mid).nbytes <= nbytes:
            low = mid
        else:
            high = mid - 1
    return low


class Counter:
    """One result's progress against a cap: `take` each batch in order."""

    def __init__(self, cap: ResultCap) -> None:
        self.cap = cap
        self.rows = 0
        self.nbytes = 0
        self.full = False  # the cap is reached exactly: any further row is over it
        self.truncated: str | None = None  # which cap cut the result ("rows:<n>", "bytes:<n>")

    def _crossed(self, by_rows: bool) -> None:
        cap = self.cap
        if not cap.truncate:
            if by_rows:
                raise _over("rows", cap.max_rows or 0, "max_result_rows")
            raise _over("bytes", cap.max_bytes or 0, "max_result_bytes")
        self.truncated = f"rows:{cap.max_rows}" if by_rows else f"bytes:{cap.max_bytes}"

    def take(self, batch: pa.RecordBatch) -> pa.RecordBatch | None:
        """What of `batch` may be sent (all of it, or its leading rows that fit); None once the
        result ends at the cap. Raises RESULT_LIMIT in mode `error`."""
        if self.truncated is not None:
            return None
        if batch.num_rows == 0:
            return batch
        cap = self.cap
        fit, by_rows = batch.num_rows, False
        if cap.max_rows is not None and self.rows + fit > cap.max_rows:
            fit, by_rows = cap.max_rows - self.rows, True
        if cap.max_bytes is not None and self.nbytes + batch.slice(0, fit).nbytes > cap.max_bytes:
            fit, by_rows = _rows_within(batch.slice(0, fit), cap.max_bytes - self.nbytes), False
        if fit < batch.num_rows:
            self._crossed(by_rows)
            if fit == 0:
                return None
            batch = batch.slice(0, fit)
        self.rows += batch.num_rows
        self.nbytes += batch.nbytes
        self.full = self.rows == cap.max_rows or self.nbytes == cap.max_bytes
        return batch


class CappedStream:
    """`source`'s batches under a cap (none: unchanged), as chunks: the last batch of a truncated
    result comes with its app_metadata. `rows`, `nbytes` and `truncated` count what was yielded.
    The source is closed as soon as the result stops, so the engine does not read on."""

    def __init__(self, cap: ResultCap | None, source: Iterator[pa.RecordBatch]) -> None:
        self._counter = None if cap is None else Counter(cap)
        self._source = source
        self.rows = 0
        self.nbytes = 0

    @property
    def truncated(self) -> str | None:
        return None if self._counter is None else self._counter.truncated

    def _sent(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.rows += batch.num_rows
        self.nbytes += batch.nbytes
        return batch

    def __iter__(self) -> Iterator[Chunk]:
        try:
            yield from self._chunks()
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()

    def _chunks(self) -> Iterator[Chunk]:
        counter = self._counter
        if counter is None:
            for batch in self._source:
                yield self._sent(batch)
            return
        held: pa.RecordBatch | None = None  # reached the cap exactly: held until we know if rows follow
        for batch in self._source:
            taken = counter.take(batch)
            if counter.truncated is not None:
                if taken is not None and held is not None:
                    yield self._sent(held)
                    held = None
                last = taken if taken is not None else held
                # Nothing of this batch fits and nothing is held: the mark goes on an empty batch.
                yield (
                    self._sent(batch.slice(0, 0) if last is None else last),
                    truncation_metadata(counter.cap, counter.truncated),
                )
                return
            if taken is None or taken.num_rows == 0:
                yield batch  # a heartbeat
                continue
            if held is not None:
                yield self._sent(held)
                held = None
            if counter.full:
                held = taken
            else:
                yield self._sent(taken)
        if held is not None:
            yield self._sent(held)


class CappedOffload:
    """The batches an offload writes: the result caps applied (cut in mode `truncate`), then the
    tenant's `max_offload_bytes`, which fails the offload (OFFLOAD_TOO_LARGE) before the batch that
    crosses it is written; the store then deletes what it wrote."""

    def __init__(self, limits: TenantLimits, source: Iterable[pa.RecordBatch]) -> None:
        self._stream = CappedStream(ResultCap.of(limits), iter(source))
        self._max_bytes = limits.max_offload_bytes

    @property
    def truncated(self) -> str | None:
        return self._stream.truncated

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        for chunk in self._stream:
            batch = chunk[0] if isinstance(chunk, tuple) else chunk
            if self._max_bytes is not None and self._stream.nbytes > self._max_bytes:
                raise offload_over(self._max_bytes)
            yield batch


def offload_over(max_bytes: int) -> GatewayError:
    return error(
        ErrorCode.OFFLOAD_TOO_LARGE,
        f"the result exceeds the tenant's max_offload_bytes ({max_bytes} bytes); nothing was kept. "
        "Narrow the query, or read it as a stream (x-flight-gateway-delivery: stream)",
    )


@dataclass(frozen=True)
class Whole:
    """A result complete within its first batches: a table, or (truncated) chunks to stream."""

    result: pa.Table | Iterator[Chunk]
    rows: int
    nbytes: int
    truncated: str | None


def complete_head(limits: TenantLimits, opened: Opened) -> Whole | None:
    """The first batches of a result, if they are all of it under the tenant's caps (the query
    ended, or a cap cut it within them). RESULT_LIMIT (mode `error`) if they cross a cap: raised
    here (the reader closed), it is the call's status, before any data. None: stream on."""
    cap = ResultCap.of(limits)
    if cap is not None and not opened.exhausted:
        counter = Counter(cap)
        try:
            for batch in opened.head:
                if counter.take(batch) is None or counter.truncated is not None:
                    break
        except GatewayError:
            opened.reader.close()
            raise
        if counter.truncated is None:
            return None
    elif not opened.exhausted:
        return None
    stream = CappedStream(cap, iter(opened.head))
    try:
        chunks = list(stream)
    except GatewayError:
        opened.reader.close()
        raise
    if stream.truncated is None:
        table = pa.Table.from_batches([c for c in chunks if isinstance(c, pa.RecordBatch)], opened.reader.schema)
        return Whole(table, stream.rows, stream.nbytes, None)
    return Whole(iter(chunks), stream.rows, stream.nbytes, stream.truncated)


def unload_allowed(limits: TenantLimits) -> bool:
    """Whether an engine may write the offloaded result itself (Redshift UNLOAD), which cannot
    be cut mid-way: not under a byte cap (Arrow bytes are not what it writes) or in mode
    `truncate`; a row cap (mode `error`) and max_offload_bytes are checked on its totals after."""
    cap = ResultCap.of(limits)
    return cap is None or (cap.max_bytes is None and not cap.truncate)


def check_unloaded(limits: TenantLimits, rows: int, nbytes: int) -> None:
    """An engine-written result's totals against the tenant's caps (the caller discards it if not)."""
    if limits.max_result_rows is not None and rows > limits.max_result_rows:
        raise _over("rows", limits.max_result_rows, "max_result_rows")
    if limits.max_offload_bytes is not None and nbytes > limits.max_offload_bytes:
        raise offload_over(limits.max_offload_bytes)
