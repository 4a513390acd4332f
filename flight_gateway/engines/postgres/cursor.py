"""Reading results: the driver's COPY stream with its errors intact, and queries with bound
parameters streamed through a server-side cursor.

The ADBC driver runs a parameterless query as `COPY (…) TO STDOUT` and decodes it batch by
batch; with bound parameters it cannot use COPY and holds the whole result in memory. So a
parameterised SELECT runs as `DECLARE … CURSOR` (parameters bound, in a transaction) and is read
with `FETCH FORWARD <batch_rows>`: memory stays at one batch, at one round trip per batch. The
statement timeout then applies to each FETCH. Statements a cursor cannot hold (INSERT …
RETURNING, data-modifying WITH) run directly, and their (usually small) results are held whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from flight_gateway.engines.pgwire.sql import first_keyword

if TYPE_CHECKING:
    from adbc_driver_postgresql.dbapi import Cursor

CURSOR_NAME = "flight_gateway_result"
CURSOR_QUERIES = {"SELECT", "VALUES", "TABLE", "WITH"}
# "DECLARE CURSOR must not contain data-modifying statements in WITH" and the like.
NOT_A_CURSOR_QUERY = "0A000"


def error_reporting_reader(cursor: Cursor) -> pa.RecordBatchReader:
    """The driver manager's own reader: unlike the plain pyarrow reader `fetch_record_batch()`
    returns, it raises the driver's errors with their SQLSTATE when a query fails mid-stream."""
    results = getattr(cursor, "_results", None)
    reader = getattr(results, "reader", None)
    return reader if isinstance(reader, pa.RecordBatchReader) else cursor.fetch_record_batch()


def next_batch(reader: pa.RecordBatchReader) -> pa.RecordBatch | None:
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None


def cursor_capable(sql: str, bound: pa.RecordBatch) -> bool:
    """Whether to stream through a cursor. Not with a timestamptz parameter: the driver binds
    those in a way that loses the DECLARE (measured with adbc-driver-postgresql 1.13), so such
    a query runs directly and its result is held whole."""
    if any(pa.types.is_timestamp(t) and t.tz is not None for t in bound.schema.types):
        return False
    return first_keyword(sql) in CURSOR_QUERIES


def _run(cursor: Cursor, sql: str) -> None:
    statement = cursor.adbc_statement
    statement.set_sql_query(sql)
    statement.execute_update()


class FetchStream:
    """One cursor's life: open (BEGIN, DECLARE, first FETCH), batches, close (COMMIT or ROLLBACK)."""

    def __init__(self, cursor: Cursor, batch_rows: int) -> None:
        self._cursor = cursor
        self._batch_rows = batch_rows
        self._open = False

    def open(self, sql: str, bound: pa.RecordBatch) -> pa.Table:
        _run(self._cursor, "begin")
        self._open = True
        try:
            # executemany runs at once (an execute() with a timestamptz parameter is deferred).
            self._cursor.executemany(f"declare {CURSOR_NAME} no scroll cursor for {sql}", bound)
            return self.fetch()
        except BaseException:
            self.close(finished=False)
            raise

    def fetch(self) -> pa.Table:
        # FETCH cannot run inside the COPY the driver wraps queries in; a FETCH result is small.
        self._cursor.adbc_statement.set_options(**{"adbc.postgresql.use_copy": "false"})
        self._cursor.execute(f"fetch forward {self._batch_rows} from {CURSOR_NAME}")
        table: pa.Table = self._cursor.fetch_arrow_table()
        return table

    def batches(
        self, first: pa.Table, convert: Callable[[pa.RecordBatch], pa.RecordBatch], error: Callable[[Any], Exception]
    ) -> Iterator[pa.RecordBatch]:
        table, finished = first, False
        try:
            while table.num_rows:
                for batch in table.to_batches():
                    yield convert(batch)
                try:
                    table = self.fetch()
                except Exception as exc:
                    raise error(exc) from exc
            finished = True
        finally:
            self.close(finished)

    def close(self, finished: bool) -> None:
        """End the transaction (and with it the cursor); idempotent."""
        if not self._open:
            return
        self._open = False
        _run(self._cursor, "commit" if finished else "rollback")
