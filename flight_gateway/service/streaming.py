"""Result streaming with heartbeats: run the query and read its batches off the request thread,
so a slow start (a big sort or aggregate) or a slow batch does not leave the stream silent.

Proxies and load balancers close streams that carry nothing for a while; an empty batch keeps
them open and clients skip it. At most one engine call is in flight per stream (reading one batch ahead of
the one being sent), so memory stays at a couple of batches.

A generator stream learns that its client went away only when it next yields, which a slow
producer may not do for a whole heartbeat; so while waiting for the engine the stream asks the call
every `poll_seconds` whether its client is still there, and stops the engine at once if not.

The reader threads are shared between tenants by weighted fair queueing (`fair.py`): each engine
call is queued under its tenant, with the tenant's `weight` and `max_concurrent_streams` cap.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, TypeVar

import pyarrow as pa

from auth.model import Tenant
from flight_gateway.service.fair import FairPool, Share

T = TypeVar("T")
# How often a stream waiting for the engine asks whether its client is still there: the bound on
# how long a disconnected client's query keeps running on the database.
POLL_SECONDS = 0.1
# How long DoGet waits for a query to start before answering with the planned schema and
# streaming heartbeats; errors that come later arrive in the stream instead of the call status.
_SETTLE_SECONDS = 1.0


class ClientGone(Exception):
    """The client of a stream went away (cancelled the call or disconnected) while it waited."""


def _never() -> bool:
    return False


# Streams opened without a tenant (tests, internal callers) share one flow of weight 1, uncapped.
_NO_TENANT = Share("")


def share_of(tenant: Tenant | None) -> Share:
    """A tenant's share of the reader threads: its weight and max_concurrent_streams."""
    if tenant is None:
        return _NO_TENANT
    return Share(tenant.id, tenant.limits.weight, tenant.limits.max_concurrent_streams)


@dataclass
class Opened:
    """A started query: its reader, the batches already read, and whether that was all of them."""

    reader: pa.RecordBatchReader
    head: list[pa.RecordBatch]
    exhausted: bool


def _open(start: Callable[[], pa.RecordBatchReader], batch_rows: int) -> Opened:
    # Reading ahead in the same task lets a small result (most interactive queries) be answered
    # whole, without a per-batch generator; a short batch is usually the last one.
    reader = start()
    head: list[pa.RecordBatch] = []
    while len(head) < 2:
        batch = _next_batch(reader)
        if batch is None:
            return Opened(reader, head, True)
        head.append(batch)
        if batch.num_rows >= batch_rows:
            break
    return Opened(reader, head, False)


class BatchPump:
    """Shared reader threads for all result streams of one gateway."""

    def __init__(
        self,
        max_streams: int,
        heartbeat_seconds: float,
        *,
        poll_seconds: float = POLL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = FairPool(max_streams, thread_name_prefix="result-reader")
        # Each stream's later reads are queued under the tenant its opening was.
        self._shares: weakref.WeakKeyDictionary[Future[Any], Share] = weakref.WeakKeyDictionary()
        self.heartbeat_seconds = heartbeat_seconds
        self._poll = min(poll_seconds, heartbeat_seconds)
        self._clock = clock

    def open(
        self, start: Callable[[], pa.RecordBatchReader], batch_rows: int, tenant: Tenant | None = None
    ) -> Future[Opened]:
        """Start the query on a reader thread (when `tenant`'s turn comes) and read its first batches."""
        share = share_of(tenant)
        opening = self._pool.submit(share, _open, start, batch_rows)
        self._shares[opening] = share
        return opening

    def settled(self, future: Future[Opened], client_gone: Callable[[], bool] = _never) -> bool:
        """Wait briefly (at most one heartbeat) for the query to start producing; most queries do.
        False also when the client left meanwhile: the stream then notices at once and stops."""
        deadline = self._clock() + min(self.heartbeat_seconds, _SETTLE_SECONDS)
        while True:
            try:
                future.result(timeout=max(0.0, min(self._poll, deadline - self._clock())))
            except FutureTimeout:
                if client_gone() or self._clock() >= deadline:
                    return False
                continue
            except Exception:  # noqa: S110 - the caller reads the error from the future
                pass
            return True

    def batches(
        self,
        opening: Future[Opened],
        schema: pa.Schema,
        interrupt: Callable[[], None],
        client_gone: Callable[[], bool] = _never,
    ) -> Iterator[pa.RecordBatch]:
        """The query's batches, with an empty batch after each heartbeat of silence.

        If the consumer stops early, or `client_gone` answers True while the engine is awaited
        (then ClientGone is raised), `interrupt` stops the engine and the call in flight is
        awaited, so the reader is never closed while a thread is still inside it.
        """
        empty = pa.RecordBatch.from_pylist([], schema=schema)
        share = self._shares.get(opening, _NO_TENANT)
        pending: Future[Any] | None = opening
        reader: pa.RecordBatchReader | None = None
        try:
            opened = yield from self._await(opening, empty, client_gone)
            reader = opened.reader
            yield from opened.head
            if opened.exhausted:
                return
            pending = self._pool.submit(share, _next_batch, reader)
            while True:
                batch = yield from self._await(pending, empty, client_gone)
                if batch is None:
                    pending = None
                    return
                # Read the next batch while this one is encoded and sent.
                pending = self._pool.submit(share, _next_batch, reader)
                yield batch
        finally:
            # A call still queued is dropped; one running is interrupted and awaited.
            if pending is not None and not pending.done() and not pending.cancel():
                try:
                    result = self._interrupted(pending, interrupt)
                    if reader is None and isinstance(result, Opened):
                        reader = result.reader
                except Exception:  # noqa: S110 - the engine was interrupted on purpose
                    pass
            if reader is not None:
                reader.close()

    def _interrupted(self, pending: Future[T], interrupt: Callable[[], None]) -> T:
        """`pending`'s result once `interrupt` stopped it. Interrupted again at every poll: a worker
        that has just taken the task may not have reached the engine yet, and an interrupt that
        lands before the engine call starts is lost (the query would then run to its end)."""
        while True:
            interrupt()
            try:
                return pending.result(timeout=self._poll)
            except FutureTimeout:
                continue

    def _await(
        self, future: Future[T], empty: pa.RecordBatch, client_gone: Callable[[], bool]
    ) -> Generator[pa.RecordBatch, None, T]:
        heartbeat = self._clock() + self.heartbeat_seconds
        while True:
            try:
                return future.result(timeout=max(0.0, min(self._poll, heartbeat - self._clock())))
            except FutureTimeout:
                pass
            if client_gone():
                raise ClientGone
            if self._clock() >= heartbeat:
                yield empty
                heartbeat = self._clock() + self.heartbeat_seconds

    def close(self) -> None:
        self._pool.close()


def _next_batch(reader: pa.RecordBatchReader) -> pa.RecordBatch | None:
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None
