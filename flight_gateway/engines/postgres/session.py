"""One pooled PostgreSQL connection acting as the tenant's database user, for one call (the
cursor plumbing, retries and cancel are `runner.py`'s).

Statements run through the ADBC PostgreSQL driver: queries stream as Arrow (the driver reads
PostgreSQL's binary COPY output in batches of about `batch_size_hint_bytes`), describe() is
PostgreSQL's Parse/Describe (nothing runs), parameters are bound from Arrow. A query is retried
on a fresh connection (connection lost) or the same one (serialization failure) only before
any row has been read; DML and DDL are never retried.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pyarrow as pa

from auth import Tenant
from flight_gateway.engines.base import Catalog, IngestTarget, StatementShape
from flight_gateway.engines.pgwire.sql import (
    check_one_statement,
    copyable,
    question_marks_to_dollars,
    read_statement,
    statement_kind,
)
from flight_gateway.engines.postgres import types as postgres_types
from flight_gateway.engines.postgres.catalog import PostgresCatalog
from flight_gateway.engines.postgres.cursor import (
    NOT_A_CURSOR_QUERY,
    FetchStream,
    cursor_capable,
    error_reporting_reader,
    next_batch,
)
from flight_gateway.engines.postgres.ingest import ingest_mode
from flight_gateway.engines.postgres.runner import DriverError, SessionHost, StatementRunner
from flight_gateway.errors import GatewayError, invalid

if TYPE_CHECKING:
    from adbc_driver_postgresql.dbapi import Connection, Cursor

    from flight_gateway.engines.pgwire.pool import Lease

# What PostgreSQL says to `?` placeholders: a syntax error, or an unknown `?` operator.
_PLACEHOLDER_ERRORS = ("42601", "42883")


class PostgresSession(StatementRunner):
    def __init__(self, engine: SessionHost, lease: Lease[Connection], tenant: Tenant) -> None:
        super().__init__(engine, lease, tenant)
        self._described: tuple[str, pa.Schema] | None = None  # SQL → driver parameter schema

    # -- EngineSession ---------------------------------------------------------------------------

    def _describe_driver(self, sql: str) -> tuple[pa.Schema, pa.Schema]:
        def work(cursor: Cursor) -> tuple[pa.Schema, pa.Schema]:
            statement = cursor.adbc_statement
            statement.set_sql_query(sql)
            statement.prepare()
            return pa.schema(statement.get_parameter_schema()), pa.schema(statement.execute_schema())

        return self._run(work, retry=True)

    def describe(self, sql: str, params: pa.RecordBatch | None = None) -> StatementShape:
        classified = read_statement(sql, "postgres")
        check_one_statement(self._tenant, classified)
        sql = self._engine.placeholders.get(sql)
        try:
            driver_params, driver_result = self._describe_driver(sql)
        except GatewayError as err:
            # PostgreSQL refused the text; if it has `?` placeholders, try them as `$n`.
            rewritten = question_marks_to_dollars(sql) if err.sqlstate in _PLACEHOLDER_ERRORS else None
            if rewritten is None:
                raise
            driver_params, driver_result = self._describe_driver(rewritten)
            self._engine.placeholders.put(sql, rewritten)
            sql = rewritten
        self._described = (sql, driver_params)
        if params is not None:
            postgres_types.bindable_parameters(params, driver_params)  # checks the count
        kind = statement_kind(sql, len(driver_result) > 0, classified)
        return StatementShape(
            kind,
            postgres_types.gateway_schema(driver_result),
            postgres_types.parameter_schema(driver_params),
            classes=classified.classes,
            unclassified=classified.problem,
            complexity=classified.complexity,
        )

    def _parameters(self, sql: str, params: pa.RecordBatch) -> pa.RecordBatch:
        """`params` shaped for `sql` (already resolved by `placeholders`)."""
        if self._described is None or self._described[0] != sql:
            self.describe(sql)
        assert self._described is not None  # noqa: S101 - describe() just set it
        return postgres_types.bindable_parameters(params, self._described[1])

    def execute(self, sql: str, params: pa.RecordBatch | None, batch_rows: int) -> pa.RecordBatchReader:
        sql = self._engine.placeholders.get(sql)
        if params is not None and params.num_rows > 1:
            raise invalid("TOO_MANY_PARAMETER_ROWS", "a query takes exactly one row of parameters")
        bound = self._parameters(sql, params) if params is not None and params.num_columns else None
        if bound is not None and cursor_capable(sql, bound):
            try:
                return self._execute_fetching(sql, bound, batch_rows)
            except GatewayError as err:
                if err.sqlstate != NOT_A_CURSOR_QUERY:
                    raise

        def start(cursor: Cursor) -> tuple[Cursor, pa.RecordBatchReader, pa.RecordBatch | None]:
            cursor.adbc_statement.set_options(
                **{"adbc.postgresql.batch_size_hint_bytes": str(self._engine.batch_size_hint_bytes)}
            )
            cursor.execute(copyable(sql), bound)
            reader = error_reporting_reader(cursor)
            # The first batch is read here, so a failure before any row (most runtime errors,
            # serialization failures) surfaces before the stream starts and can be retried.
            try:
                first = next_batch(reader)
            except BaseException:
                reader.close()
                raise
            with self._lock:  # the stream owns the cursor from here on
                self._active = cursor
                self._closer = lambda: self._close_stream(cursor, reader, finished=False)
            return cursor, reader, first

        cursor, reader, first = self._run(start, retry=True, owned=True)
        convert = postgres_types.batch_converter(reader.schema)
        schema = postgres_types.gateway_schema(reader.schema)
        return pa.RecordBatchReader.from_batches(schema, self._stream(cursor, reader, first, convert, batch_rows))

    def _execute_fetching(self, sql: str, bound: pa.RecordBatch, batch_rows: int) -> pa.RecordBatchReader:
        def start(cursor: Cursor) -> tuple[FetchStream, pa.Table]:
            stream = FetchStream(cursor, batch_rows)
            first = stream.open(copyable(sql), bound)
            with self._lock:
                self._closer = lambda: self._close_fetching(cursor, stream)
            return stream, first

        stream, first = self._run(start, retry=True, owned=True)
        convert = postgres_types.batch_converter(first.schema)
        schema = postgres_types.gateway_schema(first.schema)
        return pa.RecordBatchReader.from_batches(schema, self._fetched(stream, first, convert))

    def _fetched(
        self, stream: FetchStream, first: pa.Table, convert: Callable[[pa.RecordBatch], pa.RecordBatch]
    ) -> Iterator[pa.RecordBatch]:
        try:
            yield from stream.batches(first, convert, self._error)
        except DriverError as exc:  # ending the transaction failed: the connection is in doubt
            raise self._error(exc) from exc
        finally:
            with self._lock:
                cursor, self._closer = self._active, None
            if cursor is not None:
                self._done(cursor)

    def _close_fetching(self, cursor: Cursor, stream: FetchStream) -> None:
        try:
            cursor.adbc_cancel()
            stream.close(finished=False)
        except DriverError:
            self._lease.broken = True
        with self._lock:
            self._closer = None
        self._done(cursor)

    def _stream(
        self, cursor: Cursor, reader: pa.RecordBatchReader, first: pa.RecordBatch | None,
        convert: Callable[[pa.RecordBatch], pa.RecordBatch], batch_rows: int,
    ) -> Iterator[pa.RecordBatch]:  # fmt: skip
        finished = first is None
        batch = first
        try:
            while batch is not None:
                batch = convert(batch)
                for offset in range(0, batch.num_rows, batch_rows):
                    yield batch.slice(offset, batch_rows)
                try:
                    batch = next_batch(reader)
                except DriverError as exc:
                    finished = True  # the server ended the statement
                    raise self._error(exc) from exc
                finished = batch is None
        finally:
            self._close_stream(cursor, reader, finished)

    def _close_stream(self, cursor: Cursor, reader: pa.RecordBatchReader, finished: bool) -> None:
        if not finished:
            # Stop the server's COPY before releasing the reader, or closing it would read the
            # rest of the result (or leave the connection mid-COPY).
            try:
                cursor.adbc_cancel()
            except DriverError:
                self._lease.broken = True
        with self._lock:
            self._closer = None
        try:
            reader.close()
        except DriverError:
            self._lease.broken = True
        self._done(cursor)

    def estimate_rows(self, sql: str, params: pa.RecordBatch | None) -> int | None:
        sql = self._engine.placeholders.get(sql)
        bound = self._parameters(sql, params) if params is not None and params.num_columns else None

        def work(cursor: Cursor) -> int | None:
            # EXPLAIN cannot run inside the COPY the driver wraps queries in.
            cursor.adbc_statement.set_options(**{"adbc.postgresql.use_copy": "false"})
            cursor.execute(f"explain (format json) {sql}", bound)
            plan = json.loads(cursor.fetchone()[0])
            rows = plan[0]["Plan"].get("Plan Rows")
            return int(rows) if rows is not None else None

        return self._run(work, retry=True)

    def execute_update(self, sql: str, params: pa.RecordBatch | None) -> int:
        sql = self._engine.placeholders.get(sql)
        many = params is not None and params.num_rows > 0 and params.num_columns > 0
        bound = self._parameters(sql, params) if many and params is not None else None

        def work(cursor: Cursor) -> int:
            if bound is not None:
                cursor.executemany(sql, bound)
                return max(int(cursor.rowcount), 0)
            statement = cursor.adbc_statement
            statement.set_sql_query(sql)
            return max(int(statement.execute_update()), 0)

        return self._run(work, retry=False)

    def ingest(self, target: IngestTarget, data: pa.RecordBatchReader) -> int:
        mode = ingest_mode(target, self.rows)

        def work(cursor: Cursor) -> int:
            return int(cursor.adbc_ingest(target.table, data, mode=mode, db_schema_name=target.schema))

        return self._run(work, retry=False)

    def catalog(self) -> Catalog:
        return PostgresCatalog(self.rows)
