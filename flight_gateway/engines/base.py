"""The engine seam: what the protocol layer needs from a database, in plain Python and Arrow."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import pyarrow as pa

from auth import Tenant
from flight_gateway.engines.typeinfo import SqlDialectInfo, XdbcType
from flight_gateway.kinds import StatementClass as StatementClass  # the engine contract names them
from flight_gateway.kinds import StatementKind as StatementKind


@dataclass(frozen=True)
class StatementComplexity:
    """How complex a statement is, read from its parse tree (tenants' `max_joins`, `max_subquery_depth`)."""

    joins: int
    subquery_depth: int


@dataclass(frozen=True)
class StatementShape:
    """What a statement returns and takes, and what it does, known without running it."""

    kind: StatementKind  # how it runs: a QUERY returns rows
    schema: pa.Schema
    parameters: pa.Schema
    # What it does, for the tenant's allowances: every class of every statement the text runs
    # (`INSERT … RETURNING` runs as a query and is DML). With `unclassified` set, the engine could
    # not tell what the text does (tenants limited to some statement classes are refused it).
    classes: frozenset[StatementClass]
    unclassified: str | None = None
    # None: not read (the engine reads it only when the tenant has complexity limits, or the
    # parser could not read the text).
    complexity: StatementComplexity | None = None


@dataclass(frozen=True)
class TableRef:
    catalog: str
    schema: str
    name: str
    type: str


@dataclass(frozen=True)
class PrimaryKeyColumn:
    catalog: str
    schema: str
    table: str
    column: str
    seq: int
    name: str | None


@dataclass(frozen=True)
class ForeignKeyColumn:
    pk_catalog: str
    pk_schema: str
    pk_table: str
    pk_column: str
    fk_catalog: str
    fk_schema: str
    fk_table: str
    fk_column: str
    seq: int
    fk_name: str | None
    pk_name: str | None
    update_rule: int
    delete_rule: int


@dataclass(frozen=True)
class TableFilter:
    """LIKE patterns (None = any) as Flight SQL's GetTables sends them."""

    catalog: str | None = None
    schema_pattern: str | None = None
    table_pattern: str | None = None
    table_types: Sequence[str] = ()


@dataclass(frozen=True)
class IngestTarget:
    """Where bulk-ingested rows go, and what to do when the table is missing or present."""

    table: str
    schema: str | None = None
    catalog: str | None = None
    create_if_missing: bool = True
    if_exists: str = "fail"  # "fail" | "append" | "replace"


class Catalog(Protocol):
    """What the tenant can see of the database's catalog. Results are small by construction."""

    def catalogs(self) -> list[str]: ...

    def schemas(self, catalog: str | None, pattern: str | None) -> list[tuple[str, str]]: ...

    def tables(self, where: TableFilter) -> list[TableRef]: ...

    def table_schema(self, table: TableRef) -> pa.Schema: ...

    def table_types(self) -> list[str]: ...

    def primary_keys(self, catalog: str | None, schema: str | None, table: str) -> list[PrimaryKeyColumn]: ...

    def foreign_keys(
        self,
        pk: tuple[str | None, str | None, str | None],
        fk: tuple[str | None, str | None, str | None],
    ) -> list[ForeignKeyColumn]: ...


class EngineSession(Protocol):
    """One connection, acting as the tenant (its own database or database user)."""

    def describe(self, sql: str, params: pa.RecordBatch | None = None) -> StatementShape: ...

    def execute(self, sql: str, params: pa.RecordBatch | None, batch_rows: int) -> pa.RecordBatchReader: ...

    def estimate_rows(self, sql: str, params: pa.RecordBatch | None) -> int | None:
        """The engine's estimate of the result's row count (its EXPLAIN), None if it has none."""
        ...

    def execute_update(self, sql: str, params: pa.RecordBatch | None) -> int: ...

    def ingest(self, target: IngestTarget, data: pa.RecordBatchReader) -> int: ...

    def catalog(self) -> Catalog: ...

    def cancel(self) -> None: ...

    def engine_query_id(self) -> str | None:
        """What the database calls the work of this session, for the job record (e.g. the
        backend process id `pid:1234` of PostgreSQL and Redshift); None if it has no such name."""
        ...


@runtime_checkable
class SupportsUnload(Protocol):
    """An optional capability of a session: the database writes a query's result to S3 as Parquet
    parts itself (Redshift `UNLOAD`), so the gateway need not read it. Test with
    `isinstance(session, SupportsUnload)`; every session has `ingest` and `cancel`, which answer
    UNIMPLEMENTED where the engine cannot."""

    def unload(self, sql: str, params: pa.RecordBatch | None, s3_prefix: str) -> bool:
        """Unload the result under `s3_prefix` (parts plus a manifest); False when this statement
        cannot be unloaded, and the caller writes the parts itself."""
        ...


@dataclass(frozen=True)
class EngineInfo:
    """What the engine tells clients about itself (Flight SQL GetSqlInfo)."""

    version: str
    keywords: tuple[str, ...]
    numeric_functions: tuple[str, ...]
    string_functions: tuple[str, ...]
    system_functions: tuple[str, ...]
    datetime_functions: tuple[str, ...]


class Engine(Protocol):
    """One configured backend; hands out sessions for tenants."""

    name: str
    dialect: str
    xdbc_types: tuple[XdbcType, ...]  # GetXdbcTypeInfo rows (`<engine>/typeinfo.py`)
    sql_info: SqlDialectInfo  # where GetSqlInfo differs from the defaults (`<engine>/sqlinfo.py`)

    def info(self) -> EngineInfo: ...

    def session(self, tenant: Tenant) -> AbstractContextManager[EngineSession]: ...

    def close(self) -> None: ...
