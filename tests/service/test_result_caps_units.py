"""The result-cap arithmetic of service/caps.py on real Arrow batches: exact cuts by rows and by
Arrow bytes, the error in mode `error`, the truncation mark on the last batch, and the source
closed as soon as the result stops (which is what stops the engine)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa
import pytest

from auth.model import TenantLimits
from flight_gateway.errors import GatewayError
from flight_gateway.service.caps import (
    CappedOffload,
    CappedStream,
    Chunk,
    ResultCap,
    announcement,
    check_unloaded,
    complete_head,
    unload_allowed,
)
from flight_gateway.service.streaming import Opened


def _batch(start: int, rows: int) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({"id": pa.array(range(start, start + rows), pa.int64())})


class Source:
    """Batches of `sizes` rows, counting how many were read and whether it was closed."""

    def __init__(self, *sizes: int) -> None:
        self.sizes = sizes
        self.read = 0
        self.closed = False

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        start = 0
        try:
            for size in self.sizes:
                self.read += 1
                yield _batch(start, size)
                start += size
        finally:
            self.closed = True


def _run(limits: TenantLimits, source: Source) -> tuple[list[Chunk], CappedStream]:
    stream = CappedStream(ResultCap.of(limits), iter(source))
    return list(stream), stream


def _ids(chunks: list[Chunk]) -> list[int]:
    ids: list[int] = []
    for chunk in chunks:
        batch = chunk[0] if isinstance(chunk, tuple) else chunk
        ids += batch.column("id").to_pylist()
    return ids


def _marks(chunks: list[Chunk]) -> list[dict[str, object]]:
    return [json.loads(chunk[1])["result_limit"] for chunk in chunks if isinstance(chunk, tuple)]


def test_no_caps_leave_the_stream_untouched() -> None:
    source = Source(10, 10, 5)
    chunks, stream = _run(TenantLimits(), source)
    assert _ids(chunks) == list(range(25)) and not _marks(chunks)
    assert (stream.rows, stream.truncated) == (25, None)
    assert ResultCap.of(TenantLimits()) is None and announcement(TenantLimits()) == b""


def test_truncate_cuts_the_crossing_batch_at_exactly_the_row_cap_and_marks_it() -> None:
    source = Source(10, 10, 10, 10)
    chunks, stream = _run(TenantLimits(max_result_rows=15, result_limit_mode="truncate"), source)
    assert _ids(chunks) == list(range(15))
    assert _marks(chunks) == [{"max_result_rows": 15, "mode": "truncate", "truncated": "rows:15"}]
    assert isinstance(chunks[-1], tuple)  # the mark is on the last batch
    assert (stream.rows, stream.truncated) == (15, "rows:15")
    assert source.read == 2 and source.closed  # the rest was never read


def test_a_result_of_exactly_the_cap_is_not_truncated() -> None:
    chunks, stream = _run(TenantLimits(max_result_rows=20, result_limit_mode="truncate"), Source(10, 10))
    assert _ids(chunks) == list(range(20)) and not _marks(chunks) and stream.truncated is None


def test_a_cap_reached_at_a_batch_boundary_is_marked_on_that_batch_when_more_follows() -> None:
    chunks, stream = _run(TenantLimits(max_result_rows=20, result_limit_mode="truncate"), Source(10, 10, 10))
    assert _ids(chunks) == list(range(20)) and stream.truncated == "rows:20"
    assert isinstance(chunks[-1], tuple) and chunks[-1][0].num_rows == 10


def test_heartbeats_pass_and_are_not_counted() -> None:
    chunks, stream = _run(TenantLimits(max_result_rows=10, result_limit_mode="truncate"), Source(0, 10, 0, 5))
    assert _ids(chunks) == list(range(10)) and stream.truncated == "rows:10" and stream.rows == 10


def test_error_mode_stops_before_the_crossing_batch_and_closes_the_source() -> None:
    source = Source(10, 10, 10, 10)
    stream = CappedStream(ResultCap.of(TenantLimits(max_result_rows=15)), iter(source))
    sent = []
    with pytest.raises(GatewayError) as raised:
        for chunk in stream:
            sent.append(chunk)
    assert raised.value.code == "RESULT_LIMIT" and raised.value.status.value == "RESOURCE_EXHAUSTED"
    assert "max_result_rows" in raised.value.message and "15" in raised.value.message
    assert "LIMIT" in raised.value.message and "offload" in raised.value.message
    assert _ids(sent) == list(range(10)) and source.read == 2 and source.closed


def test_byte_cap_cuts_at_the_most_rows_whose_arrow_bytes_fit() -> None:
    per_row = _batch(0, 1).nbytes  # int64: 8 bytes a row
    cap = 25 * per_row + 3
    chunks, stream = _run(TenantLimits(max_result_bytes=cap, result_limit_mode="truncate"), Source(10, 10, 10))
    assert _ids(chunks) == list(range(25)) and stream.truncated == f"bytes:{cap}"
    assert stream.nbytes == 25 * per_row <= cap
    with pytest.raises(GatewayError, match="max_result_bytes"):
        _run(TenantLimits(max_result_bytes=cap), Source(10, 10, 10))


def test_the_smaller_of_two_caps_cuts() -> None:
    per_row = _batch(0, 1).nbytes
    limits = TenantLimits(max_result_rows=12, max_result_bytes=30 * per_row, result_limit_mode="truncate")
    chunks, stream = _run(limits, Source(10, 10, 10, 10))
    assert len(_ids(chunks)) == 12 and stream.truncated == "rows:12"


def test_variable_width_columns_are_cut_by_their_bytes() -> None:
    batch = pa.RecordBatch.from_pydict({"s": ["x" * 100] * 10})
    cap = batch.slice(0, 4).nbytes
    stream = CappedStream(ResultCap.of(TenantLimits(max_result_bytes=cap, result_limit_mode="truncate")), iter([batch]))
    chunks = list(stream)
    assert sum((c[0] if isinstance(c, tuple) else c).num_rows for c in chunks) == 4


def _opened(*sizes: int, exhausted: bool) -> Opened:
    head = [_batch(sum(sizes[:i]), n) for i, n in enumerate(sizes)]
    return Opened(pa.RecordBatchReader.from_batches(head[0].schema, iter(head)), head, exhausted)


def test_a_complete_head_under_the_cap_comes_back_as_a_table() -> None:
    whole = complete_head(TenantLimits(max_result_rows=100), _opened(10, 5, exhausted=True))
    assert whole is not None and isinstance(whole.result, pa.Table)
    assert (whole.rows, whole.truncated) == (15, None) and whole.result.num_rows == 15


def test_a_head_cut_by_the_cap_is_the_whole_result_even_if_the_query_had_more() -> None:
    whole = complete_head(
        TenantLimits(max_result_rows=12, result_limit_mode="truncate"), _opened(10, 5, exhausted=False)
    )
    assert whole is not None and whole.truncated == "rows:12" and whole.rows == 12
    assert not isinstance(whole.result, pa.Table)
    assert _marks(list(whole.result)) == [{"max_result_rows": 12, "mode": "truncate", "truncated": "rows:12"}]


def test_a_head_crossing_the_cap_in_error_mode_raises_before_any_data() -> None:
    opened = _opened(10, 5, exhausted=False)
    with pytest.raises(GatewayError, match="RESULT_LIMIT|more than 12 rows"):
        complete_head(TenantLimits(max_result_rows=12), opened)


def test_a_head_within_the_cap_of_an_unfinished_result_streams_on() -> None:
    assert (
        complete_head(TenantLimits(max_result_rows=15, result_limit_mode="truncate"), _opened(10, 5, exhausted=False))
        is None
    )
    assert complete_head(TenantLimits(), _opened(10, exhausted=False)) is None


def test_offload_caps_cut_or_refuse() -> None:
    cut = CappedOffload(TenantLimits(max_result_rows=15, result_limit_mode="truncate"), Source(10, 10, 10))
    assert sum(b.num_rows for b in cut) == 15 and cut.truncated == "rows:15"
    per_row = _batch(0, 1).nbytes
    source = Source(10, 10, 10)
    refused = CappedOffload(TenantLimits(max_offload_bytes=15 * per_row), source)
    written = []
    with pytest.raises(GatewayError) as raised:
        for batch in refused:
            written.append(batch)
    assert raised.value.code == "OFFLOAD_TOO_LARGE" and "max_offload_bytes" in raised.value.message
    assert sum(b.num_rows for b in written) == 10 and source.closed


def test_engine_written_results_are_checked_on_their_totals() -> None:
    assert unload_allowed(TenantLimits()) and unload_allowed(TenantLimits(max_result_rows=5))
    assert not unload_allowed(TenantLimits(max_result_rows=5, result_limit_mode="truncate"))
    assert not unload_allowed(TenantLimits(max_result_bytes=5))
    check_unloaded(TenantLimits(max_result_rows=5, max_offload_bytes=100), 5, 100)
    with pytest.raises(GatewayError, match="max_result_rows"):
        check_unloaded(TenantLimits(max_result_rows=5), 6, 0)
    with pytest.raises(GatewayError, match="max_offload_bytes"):
        check_unloaded(TenantLimits(max_offload_bytes=100), 1, 101)


def test_the_flight_info_announces_the_caps() -> None:
    limits = TenantLimits(max_result_rows=10, result_limit_mode="truncate")
    assert json.loads(announcement(limits)) == {"result_limit": {"max_result_rows": 10, "mode": "truncate"}}
    assert json.loads(announcement(TenantLimits(max_result_bytes=99), "bytes:99")) == {
        "result_limit": {"max_result_bytes": 99, "mode": "error", "truncated": "bytes:99"}
    }
