"""A DuckDB session: one cursor on the tenant's database; describe (cached by statement text),
execute, ingest, cancel, with DuckDB's errors mapped in one place (`errors.py`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
import pyarrow as pa
from duckdb import _seam

from auth import Tenant
from flight_gateway.bounded_cache import ByteBoundedLru, text_bytes
from flight_gateway.engines.base import IngestTarget, StatementShape
from flight_gateway.engines.duckdb.catalog import DuckDBCatalog
from flight_gateway.engines.duckdb.classes import statement_classes, statement_complexity
from flight_gateway.engines.duckdb.errors import map_duckdb_error, map_stream_error
from flight_gateway.engines.duckdb.estimate import estimated_rows
from flight_gateway.engines.duckdb.sql import MAINTENANCE_TYPES, check_statement_text
from flight_gateway.errors import ErrorCode, denied, error, invalid, not_found
from flight_gateway.kinds import StatementClass, StatementKind
from flight_gateway.policy import check_classes, check_understood, refuse_transaction_control, wants_complexity

# Describe results kept per engine; a shape (a schema of a few columns) is small beside its SQL.
SHAPE_CACHE_BYTES = 8 << 20
_SHAPE_BYTES = 2048
# Statement types that change the session or reach outside the database; refused up front
# with a clear message rather than with DuckDB's lower-level permission errors.
_REFUSED = {
    "ATTACH": "attaching databases",
    "DETACH": "detaching databases",
    "LOAD": "loading extensions",
    "EXTENSION": "installing extensions",
    "SET": "changing settings",
    "VARIABLE_SET": "changing settings",
    "COPY": "COPY to or from files",
    "COPY_DATABASE": "copying databases",
    "EXPORT": "exporting databases",
    "IMPORT": "importing databases",
}
_DML = {"INSERT", "UPDATE", "DELETE", "MERGE_INTO"}
_DDL = {"CREATE", "DROP", "ALTER", "CREATE_FUNC"}


@contextmanager
def _mapped_errors() -> Iterator[None]:
    try:
        yield
    except duckdb.Error as exc:
        raise map_duckdb_error(exc) from exc


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _mapped_batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader
    except (OSError, duckdb.Error, pa.ArrowException) as exc:
        raise map_stream_error(exc) from exc
    finally:
        reader.close()


def _positional(params: pa.RecordBatch) -> list[list[Any]]:
    columns = [params.column(i).to_pylist() for i in range(params.num_columns)]
    return [list(row) for row in zip(*columns, strict=True)] if columns else [[]] * params.num_rows


class ShapeCache:
    """Describe results per tenant and SQL text, valid while the database's catalog version holds.

    ADBC describes every statement twice (prepare, then execute); binding costs more than the
    lookup, and DuckDB bumps the version on any statement that may change what names bind to.
    Keyed by statement text, so bounded by bytes (SHAPE_CACHE_BYTES), not entries.
    """

    def __init__(self, max_bytes: int = SHAPE_CACHE_BYTES) -> None:
        self._entries: ByteBoundedLru[tuple[str, str], tuple[int, StatementShape]] = ByteBoundedLru(
            max_bytes, lambda key, _: text_bytes(*key) + _SHAPE_BYTES
        )

    def get(self, key: tuple[str, str], version: int) -> StatementShape | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] != version:
            return None
        return entry[1]

    def put(self, key: tuple[str, str], version: int, shape: StatementShape) -> None:
        self._entries.put(key, (version, shape))


class DuckDBSession:
    """One cursor on the tenant's database; lives for one statement (and its result stream)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, tenant: Tenant, shapes: ShapeCache) -> None:
        self._con = con
        self._tenant = tenant
        self._shapes = shapes

    def _statement_type(self, sql: str) -> str:
        with _mapped_errors():
            statements = self._con.extract_statements(sql)
        if len(statements) > 1:  # restricted tenants: not understood, as on every engine (fail closed)
            check_understood(self._tenant, f"the text holds {len(statements)} statements; send one at a time")
        if len(statements) != 1:
            raise invalid(
                "MULTIPLE_STATEMENTS" if statements else "EMPTY_STATEMENT",
                f"expected exactly one SQL statement, got {len(statements)}; send statements one at a time",
            )
        kind: str = statements[0].type.name
        if kind == "TRANSACTION":
            refuse_transaction_control(self._tenant)
        if kind in _REFUSED:
            raise denied("STATEMENT_NOT_ALLOWED", f"{_REFUSED[kind]} is not allowed through the gateway")
        return kind

    def describe(self, sql: str, params: pa.RecordBatch | None = None) -> StatementShape:
        if params is not None:
            return self._describe(sql, params)
        key, version = (self._tenant.id, sql), _seam.catalog_version(self._con)
        shape = self._shapes.get(key, version)
        if shape is None:
            shape = self._describe(sql, None)
            self._shapes.put(key, version, shape)
        return shape

    def _describe(self, sql: str, params: pa.RecordBatch | None) -> StatementShape:
        statement_type = self._statement_type(sql)
        maintenance = check_statement_text(sql) or statement_type in MAINTENANCE_TYPES
        classes, unclassified = statement_classes(self._con, sql, statement_type)
        if maintenance:  # CHECKPOINT, VACUUM, ANALYZE write the database file, whatever else they do
            classes |= {StatementClass.ADMIN}
        check_classes(self._tenant, classes, unclassified)  # before binding: refused whatever exists
        values = _positional(params)[0] if params is not None and params.num_rows else None
        with _mapped_errors():
            sig = _seam.bind(self._con, sql, values=values)
        if sig.return_type == "query_result":
            kind = StatementKind.QUERY
        elif statement_type in _DML:
            kind = StatementKind.DML
        elif statement_type in _DDL:
            kind = StatementKind.DDL
        else:
            kind = StatementKind.OTHER
        schema = self._arrow_schema(sig.names, sig.types)
        parameters = self._arrow_schema([str(i) for i in range(len(sig.parameters))], [t for _, t in sig.parameters])
        # Read only for tenants with complexity limits: the shape cache is per tenant.
        complexity = statement_complexity(sql) if wants_complexity(self._tenant) else None
        return StatementShape(kind, schema, parameters, classes, unclassified, complexity)

    def _arrow_schema(self, names: list[str], types: list[Any]) -> pa.Schema:
        # A parameter of unknown type (e.g. `SELECT ?`) has no Arrow type until values are bound.
        fields = []
        for name, duck_type in zip(names, types, strict=True):
            if str(duck_type) == "UNKNOWN":
                fields.append(pa.field(name, pa.null()))
            else:
                with _mapped_errors():
                    fields.append(_seam.arrow_schema(self._con, [name], [duck_type])[0])
        return pa.schema(fields)

    def execute(self, sql: str, params: pa.RecordBatch | None, batch_rows: int) -> pa.RecordBatchReader:
        rows = _positional(params) if params is not None else [None]
        if len(rows) != 1:
            raise invalid("TOO_MANY_PARAMETER_ROWS", "a query takes exactly one row of parameters")

        with _mapped_errors():
            relation = self._con.sql(sql, params=rows[0])
            if relation is None:
                raise invalid("NO_RESULT", "the statement returns no result set; run it as an update")
            reader: pa.RecordBatchReader = relation.to_arrow_reader(batch_rows)
        return pa.RecordBatchReader.from_batches(reader.schema, _mapped_batches(reader))

    def estimate_rows(self, sql: str, params: pa.RecordBatch | None) -> int | None:
        values = _positional(params)[0] if params is not None and params.num_rows else None
        return estimated_rows(self._con, sql, values)

    def execute_update(self, sql: str, params: pa.RecordBatch | None) -> int:
        rows = _positional(params) if params is not None and params.num_rows else [None]
        total = 0
        for row in rows:
            with _mapped_errors():
                result = self._con.execute(sql, row).fetchall()
            if result and len(result[0]) == 1 and isinstance(result[0][0], int):
                total += result[0][0]
        return total

    def ingest(self, target: IngestTarget, data: pa.RecordBatchReader) -> int:
        name = ".".join(_quote(part) for part in (target.catalog, target.schema, target.table) if part)
        exists = bool(
            self._con.execute(
                "select count(*) from duckdb_tables() where table_name = ? "
                "and schema_name = coalesce(?, current_schema()) and database_name = coalesce(?, current_database())",
                [target.table, target.schema, target.catalog],
            ).fetchall()[0][0]
        )
        if exists and target.if_exists == "fail":
            raise error(ErrorCode.TABLE_EXISTS, f"table {name} already exists; ingest in append or replace mode")
        if not exists and not target.create_if_missing:
            raise not_found("OBJECT_NOT_FOUND", f"table {name} does not exist; ingest in create mode")
        # The Arrow stream is scanned as it arrives; nothing is materialized here.
        source = f"__flight_gateway_ingest_{uuid.uuid4().hex}"
        with _mapped_errors():
            self._con.register(source, data)
            try:
                if exists and target.if_exists == "append":
                    rows = self._con.execute(f"insert into {name} by name select * from {source}").fetchall()
                else:
                    verb = "create or replace table" if exists else "create table"
                    rows = self._con.execute(f"{verb} {name} as select * from {source}").fetchall()
            finally:
                self._con.unregister(source)
        return int(rows[0][0]) if rows and rows[0] else -1

    def catalog(self) -> DuckDBCatalog:
        return DuckDBCatalog(self._con)

    def engine_query_id(self) -> str | None:
        return None  # DuckDB runs in-process: there is no server-side name for a query

    def cancel(self) -> None:
        self._con.interrupt()
