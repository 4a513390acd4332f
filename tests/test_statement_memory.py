"""Large statement texts leave no memory behind: every cache keyed by SQL text is bounded by bytes.

The gateway runs as a process of its own, so its resident set size is all the gateway's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pyarrow.flight as fl
import pytest
from conftest import PASSWORD
from serve_process import ServeProcess, start_serve

from flight_gateway.bounded_cache import ByteBoundedLru, text_bytes
from flight_gateway.engines.duckdb.session import SHAPE_CACHE_BYTES, ShapeCache
from flight_gateway.engines.pgwire.sql import PLACEHOLDER_CACHE_BYTES, PlaceholderRewrites
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack

MiB = 1 << 20
STATEMENTS = 1000
STATEMENT_BYTES = 256 * 1024
# Generous for a loaded machine; RSS comes back as soon as the statements are answered.
SETTLE_SECONDS = 60.0


def _big_statement(i: int) -> str:
    """A valid query of 256 KiB, distinct per i (its text is the cache key)."""
    head = f"select {i} as x -- {i} "
    return head + "c" * (STATEMENT_BYTES - len(head))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServeProcess]:
    running = start_serve(tmp_path, demo_rows=1000)
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.slow
def test_rss_returns_after_a_thousand_large_statements(server: ServeProcess) -> None:
    process = psutil.Process(server.pid)
    client = fl.FlightClient(server.uri)
    options = fl.FlightCallOptions(headers=[client.authenticate_basic_token("acme", PASSWORD)])

    def run(sql: str, fetch: bool) -> None:
        descriptor = fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql)))
        info = client.get_flight_info(descriptor, options)
        if fetch:
            assert client.do_get(info.endpoints[0].ticket, options).read_all().num_rows == 1

    try:
        # Warm-up with small statements: threads, pools and allocator arenas exist afterwards.
        for i in range(100):
            run(f"select {i} as x -- warm-up", i % 2 == 0)
        baseline = process.memory_info().rss
        for i in range(STATEMENTS):
            run(_big_statement(i), fetch=i % 2 == 0)  # half are planned and never fetched
        after = process.memory_info().rss
        deadline = time.monotonic() + SETTLE_SECONDS
        current = after
        while current - baseline > 50 * MiB and time.monotonic() < deadline:
            time.sleep(0.2)
            current = process.memory_info().rss
        print(
            f"\nRSS: baseline {baseline / MiB:.0f} MiB, after {STATEMENTS} statements of "
            f"{STATEMENT_BYTES // 1024} KiB {after / MiB:.0f} MiB, settled {current / MiB:.0f} MiB"
        )
        assert current - baseline <= 50 * MiB, (
            f"gateway RSS stayed {(current - baseline) / MiB:.0f} MiB above its baseline "
            f"({STATEMENTS * STATEMENT_BYTES / MiB:.0f} MiB of statement text was sent)"
        )
    finally:
        client.close()


def test_the_describe_cache_holds_a_bounded_number_of_bytes() -> None:
    cache = ShapeCache()
    for i in range(STATEMENTS):
        key = ("acme", _big_statement(i))
        assert cache.get(key, 1) is None
        cache.put(key, 1, object())  # type: ignore[arg-type]  # the cache never looks inside
    assert STATEMENTS * STATEMENT_BYTES > 8 * SHAPE_CACHE_BYTES  # the budget did the bounding
    # The newest statements are still answered from the cache, the oldest were let go.
    assert cache.get(("acme", _big_statement(STATEMENTS - 1)), 1) is not None
    assert cache.get(("acme", _big_statement(0)), 1) is None


def test_placeholder_rewrites_forget_the_oldest_texts_once_their_bytes_pass_the_budget() -> None:
    rewrites = PlaceholderRewrites()
    for i in range(STATEMENTS):
        rewrites.put(_big_statement(i) + "?", _big_statement(i) + "$1")
    assert rewrites.get(_big_statement(STATEMENTS - 1) + "?") == _big_statement(STATEMENTS - 1) + "$1"
    oldest = _big_statement(0) + "?"
    assert rewrites.get(oldest) == oldest  # forgotten: the text goes to PostgreSQL as sent
    assert 2 * STATEMENTS * STATEMENT_BYTES > 8 * PLACEHOLDER_CACHE_BYTES  # the budget did the bounding


def test_byte_bounded_lru_keeps_recent_entries_within_its_budget() -> None:
    cache: ByteBoundedLru[str, str] = ByteBoundedLru(10_000, text_bytes)
    for i in range(100):
        cache.put(f"k{i}", "v" * 1000)
        assert cache.nbytes <= 10_000
    assert cache.get("k99") == "v" * 1000
    assert cache.get("k0") is None
    cache.put("huge", "v" * 20_000)  # heavier than the whole budget: not kept, nothing evicted for it
    assert cache.get("huge") is None and cache.get("k99") is not None
