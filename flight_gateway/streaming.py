"""Result streaming with heartbeats: run the query and read its batches off the request thread,
so a slow start (a big sort or aggregate) or a slow batch does not leave the stream silent.

Proxies and load balancers close streams that carry nothing for a while; an empty batch keeps
them open and clients skip it. At most one engine call is in flight per stream, so memory stays
at a couple of batches.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

import pyarrow as pa

T = TypeVar("T")
# How long DoGet waits for a query to start before answering with the planned schema and
# streaming heartbeats; errors that come later arrive in the stream instead of the call status.
_SETTLE_SECONDS = 1.0


class BatchPump:
    """Shared reader threads for all result streams of one gateway."""

    def __init__(self, max_streams: int, heartbeat_seconds: float) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_streams, thread_name_prefix="result-reader")
        self.heartbeat_seconds = heartbeat_seconds

    def open(self, start: Callable[[], pa.RecordBatchReader]) -> Future[pa.RecordBatchReader]:
        """Start the query on a reader thread."""
        return self._pool.submit(start)

    def settled(self, future: Future[pa.RecordBatchReader]) -> bool:
        """Wait briefly (at most one heartbeat) for the query to start producing; most queries do."""
        try:
            future.result(timeout=min(self.heartbeat_seconds, _SETTLE_SECONDS))
        except FutureTimeout:
            return False
        except Exception:  # noqa: S110 - the caller reads the error from the future
            pass
        return True

    def batches(
        self, opening: Future[pa.RecordBatchReader], schema: pa.Schema, interrupt: Callable[[], None]
    ) -> Iterator[pa.RecordBatch]:
        """The query's batches, with an empty batch after each heartbeat of silence.

        If the consumer stops early, `interrupt` stops the engine and the call in flight is
        awaited, so the reader is never closed while a thread is still inside it.
        """
        empty = pa.RecordBatch.from_pylist([], schema=schema)
        pending: Future[Any] | None = opening
        reader: pa.RecordBatchReader | None = None
        try:
            reader = yield from self._await(opening, empty)
            while True:
                pending = self._pool.submit(_next_batch, reader)
                batch = yield from self._await(pending, empty)
                if batch is None:
                    return
                yield batch
        finally:
            if pending is not None and not pending.done():
                interrupt()
                try:
                    result = pending.result()
                    if reader is None and isinstance(result, pa.RecordBatchReader):
                        reader = result
                except Exception:  # noqa: S110 - the engine was interrupted on purpose
                    pass
            if reader is not None:
                reader.close()

    def _await(self, future: Future[T], empty: pa.RecordBatch) -> Generator[pa.RecordBatch, None, T]:
        while True:
            try:
                return future.result(timeout=self.heartbeat_seconds)
            except FutureTimeout:
                yield empty

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _next_batch(reader: pa.RecordBatchReader) -> pa.RecordBatch | None:
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None
