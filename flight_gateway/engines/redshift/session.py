"""One Redshift session: a pooled psycopg connection acting as the tenant's database user.

Statements are described with Parse/Describe (nothing runs), results fetched in libpq chunks
and decoded to Arrow in bulk (`redshift.fetch`, `redshift.types`), huge results UNLOADed
(`redshift.unload`). A read that lost its connection before its first batch runs again once on
a fresh connection; a write never does.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

import psycopg
import pyarrow as pa
from psycopg import generators

from auth import Tenant
from flight_gateway.config import RedshiftEngineConfig
from flight_gateway.engines.base import IngestTarget, StatementShape
from flight_gateway.engines.pgwire.errors import connection_lost, map_postgres_error
from flight_gateway.engines.pgwire.pool import Lease
from flight_gateway.engines.pgwire.sql import check_one_statement, question_marks_to_dollars, statement_kind
from flight_gateway.engines.redshift.catalog import RedshiftCatalog
from flight_gateway.engines.redshift.classes import read_statement, refuse_session_and_s3_statements
from flight_gateway.engines.redshift.connection import run_simple
from flight_gateway.engines.redshift.fetch import fetch_chunks
from flight_gateway.engines.redshift.types import BatchDecoder, arrow_type
from flight_gateway.engines.redshift.unload import unload_statement
from flight_gateway.errors import GatewayError, invalid, unimplemented
from flight_gateway.kinds import StatementKind
from flight_gateway.policy.pg_classify import Classified

log = logging.getLogger("flight_gateway.engines.redshift")
Conn = psycopg.Connection[tuple[str | None, ...]]

_READS = {"SELECT", "WITH", "SHOW", "EXPLAIN", "VALUES"}
_EXPLAIN_ROWS = re.compile(rb"rows=(\d+)")
# Rows fetched from libpq per round of the stream (chunked-rows mode); batches are cut from them.
_FETCH_ROWS = 8192


def _placeholders(sql: str) -> str:
    """JDBC/ODBC clients send `?` placeholders; Redshift (like its drivers) knows only `$n`. The
    rewrite leaves quoted text and comments alone, and texts already using `$n` unchanged."""
    return question_marks_to_dollars(sql) or sql


def _values(params: pa.RecordBatch | None) -> list[list[Any]]:
    if params is None or params.num_columns == 0:
        return [[]]
    columns = [params.column(i).to_pylist() for i in range(params.num_columns)]
    return [list(row) for row in zip(*columns, strict=True)]


class SessionHost(Protocol):
    """What a session needs of its engine (the engine module builds sessions: no import back)."""

    config: RedshiftEngineConfig

    def side_connection(self, tenant: Tenant) -> AbstractContextManager[Conn]: ...


class RedshiftSession:
    """One pooled connection, acting as the tenant's database user; serves one call at a time."""

    def __init__(self, lease: Lease[Conn], tenant: Tenant, engine: SessionHost) -> None:
        self._lease = lease
        self._tenant = tenant
        self._engine = engine
        self._shape: tuple[str, StatementShape, list[int]] | None = None
        self._classified: tuple[str, Classified] | None = None
        self._cancel_requested = False

    @property
    def connection(self) -> Conn:
        return self._lease.conn

    def _error(self, exc: BaseException) -> GatewayError:
        if connection_lost(exc):
            self._lease.broken = True
        return map_postgres_error(exc, cancel_requested=self._cancel_requested)

    def _classify(self, sql: str) -> Classified:
        """What the statement is, read once per session (describe, then execute or unload)."""
        if self._classified is None or self._classified[0] != sql:
            self._classified = (sql, read_statement(sql))
        return self._classified[1]

    def describe(self, sql: str, params: pa.RecordBatch | None = None) -> StatementShape:
        sql = _placeholders(sql)
        if self._shape is not None and self._shape[0] == sql:
            return self._shape[1]  # ADBC clients describe, then execute: one round trip saved
        classified = self._classify(sql)
        refuse_session_and_s3_statements(classified, self._tenant)
        check_one_statement(self._tenant, classified)
        conn = self.connection
        try:
            # The unnamed statement: Parse + Describe, nothing runs and nothing is kept. Sent the
            # way psycopg sends everything (non-blocking, flushed, waited on), not libpq's PQprepare.
            conn.pgconn.send_prepare(b"", sql.encode())
            _check(conn.wait(generators.execute(conn.pgconn)))
            conn.pgconn.send_describe_prepared(b"")
            described = _check(conn.wait(generators.execute(conn.pgconn)))
        except psycopg.Error as exc:
            raise self._error(exc) from exc
        names = [(described.fname(i) or b"?").decode() for i in range(described.nfields)]
        oids = [described.ftype(i) for i in range(described.nfields)]
        schema = pa.schema(
            [pa.field(n, arrow_type(o, described.fmod(i))) for i, (n, o) in enumerate(zip(names, oids, strict=True))]
        )
        parameters = pa.schema(
            [pa.field(f"${i + 1}", arrow_type(described.param_type(i))) for i in range(described.nparams)]
        )
        kind = statement_kind(sql, described.nfields > 0, classified)
        shape = StatementShape(kind, schema, parameters, classified.classes, classified.problem, classified.complexity)
        self._shape = (sql, shape, oids)
        return shape

    def execute(self, sql: str, params: pa.RecordBatch | None, batch_rows: int) -> pa.RecordBatchReader:
        sql = _placeholders(sql)
        rows = _values(params)
        if len(rows) != 1:
            raise invalid("TOO_MANY_PARAMETER_ROWS", "a query takes exactly one row of parameters")
        shape = self.describe(sql, params)
        if shape.kind is not StatementKind.QUERY:
            raise invalid("NO_RESULT", "the statement returns no result set; run it as an update")
        assert self._shape is not None  # noqa: S101 - describe() just set it
        decode = BatchDecoder(shape.schema, self._shape[2])
        stream = self._stream(sql, rows[0], batch_rows, decode, retry=self._classify(sql).keyword in _READS)
        return pa.RecordBatchReader.from_batches(shape.schema, stream)

    def _stream(
        self, sql: str, values: list[Any], batch_rows: int, decode: BatchDecoder, *, retry: bool
    ) -> Iterator[pa.RecordBatch]:
        pending: list[tuple[str | None, ...]] = []
        sent = 0
        finished = False
        try:
            self._begin()
            for chunk in fetch_chunks(self.connection, sql, values, min(_FETCH_ROWS, batch_rows)):
                pending += chunk
                while len(pending) >= batch_rows:
                    batch, pending = decode(pending[:batch_rows]), pending[batch_rows:]
                    sent += 1
                    yield batch
            finished = True
            self._end()
        except psycopg.Error as exc:
            finished = True
            # A read that lost its connection before sending anything is safe to run again, once.
            if retry and sent == 0 and connection_lost(exc) and not self._cancel_requested:
                log.info("redshift: connection lost before the first batch; retrying the query once")
                self._lease.replace()
                yield from self._stream(sql, values, batch_rows, decode, retry=False)
                return
            raise self._error(exc) from exc
        finally:
            if not finished:  # abandoned mid-result: the rest is still on the wire
                self._lease.broken = True
        if pending or sent == 0:
            yield decode(pending)

    def _begin(self) -> None:
        """A read-only tenant's statement runs in a READ ONLY transaction, so Redshift itself
        refuses its writes (Redshift has no default_transaction_read_only to set per session)."""
        if self._tenant.read_only:
            run_simple(self.connection, "BEGIN READ ONLY")

    def _end(self) -> None:
        if self.connection.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            run_simple(self.connection, "COMMIT")

    def estimate_rows(self, sql: str, params: pa.RecordBatch | None) -> int | None:
        sql = _placeholders(sql)
        if self._classify(sql).keyword not in ("SELECT", "WITH"):
            return None
        try:
            cursor = psycopg.RawCursor(self.connection)
            with cursor:
                cursor.execute("EXPLAIN " + sql, _values(params)[0] or None)
                first = cursor.fetchone()
        except psycopg.Error:
            return None  # no estimate is not an error: the result is streamed
        match = _EXPLAIN_ROWS.search(str(first[0] if first else "").encode())
        return int(match.group(1)) if match else None

    def execute_update(self, sql: str, params: pa.RecordBatch | None) -> int:
        sql = _placeholders(sql)
        refuse_session_and_s3_statements(self._classify(sql), self._tenant)
        total = 0
        try:
            self._begin()
            cursor = psycopg.RawCursor(self.connection)
            with cursor:
                for row in _values(params) if params is not None and params.num_rows else [[]]:
                    cursor.execute(sql, row or None)
                    total += max(cursor.rowcount, 0)
            self._end()
        except psycopg.Error as exc:  # never retried: a write may have happened
            raise self._error(exc) from exc
        return total

    def unload(self, sql: str, params: pa.RecordBatch | None, s3_prefix: str) -> bool:
        """UNLOAD the query's result as Parquet parts plus a manifest under `s3_prefix`; False when
        this statement cannot be unloaded (bind parameters, no unload_iam_role configured), and the
        caller writes the parts itself."""
        sql = _placeholders(sql)
        role = self._engine.config.unload_iam_role
        query = self._classify(sql).keyword in ("SELECT", "WITH")
        if role is None or (params is not None and params.num_columns) or not query:
            return False
        statement = unload_statement(sql, s3_prefix, role, self._engine.config.unload_max_file_size_mb)
        try:
            with psycopg.RawCursor(self.connection) as cursor:
                cursor.execute(statement)
        except psycopg.Error as exc:  # never retried: the prefix may hold a partial result
            raise self._error(exc) from exc
        return True

    def ingest(self, target: IngestTarget, data: pa.RecordBatchReader) -> int:
        raise unimplemented(
            "INGEST_NOT_SUPPORTED",
            "bulk ingest into Redshift is not supported by the gateway; load with COPY from S3 instead",
        )

    def catalog(self) -> RedshiftCatalog:
        return RedshiftCatalog(self._rows)

    def _rows(self, sql: str, values: list[Any]) -> list[tuple[Any, ...]]:
        try:
            cursor = psycopg.RawCursor(self.connection)
            with cursor:
                cursor.execute(sql, values or None)
                return list(cursor.fetchall())
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    def engine_query_id(self) -> str | None:
        """The backend's pid, as STL_QUERY / SYS_QUERY_HISTORY record it next to each query id."""
        return f"pid:{self.connection.info.backend_pid}"

    def cancel(self) -> None:
        """Cancel the running statement with pg_cancel_backend from a second connection of the same
        user (Redshift lets a user cancel its own sessions), which answers whether a backend was
        signalled, unlike the protocol's fire-and-forget CancelRequest."""
        self._cancel_requested = True
        pid = self.connection.info.backend_pid
        try:
            with self._engine.side_connection(self._tenant) as side:
                side.execute(b"SELECT pg_cancel_backend(%d)" % pid).fetchall()
        except (psycopg.Error, GatewayError) as exc:
            log.info("redshift: cancel of backend %s failed: %s", pid, type(exc).__name__)


def _check(results: list[Any]) -> Any:
    for result in results:
        if result.status == psycopg.pq.ExecStatus.FATAL_ERROR:
            raise psycopg.errors.error_from_result(result, encoding="utf-8")
    return results[-1]
