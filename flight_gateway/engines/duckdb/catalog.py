"""Catalog metadata of a tenant's DuckDB database, from DuckDB's own system functions.

Filter patterns are bound as LIKE parameters, never spliced into SQL.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
from duckdb import _seam

from flight_gateway.engines.base import ForeignKeyColumn, PrimaryKeyColumn, TableFilter, TableRef

# DuckDB's built-in catalogs; a tenant sees only its own databases.
_HIDDEN = ("system", "temp")
_TABLE_TYPES = ("LOCAL TEMPORARY", "TABLE", "VIEW")
# Flight SQL / JDBC UpdateDeleteRules: 3 = NO_ACTION (DuckDB does not cascade).
_NO_ACTION = 3

_OBJECTS = """
select database_name, schema_name, table_name,
       case when temporary then 'LOCAL TEMPORARY' else 'TABLE' end as table_type
from duckdb_tables() where not internal
union all
select database_name, schema_name, view_name,
       case when temporary then 'LOCAL TEMPORARY' else 'VIEW' end
from duckdb_views() where not internal
"""


def _like(column: str, value: str | None, args: list[Any]) -> str:
    if value is None:
        return ""
    args.append(value)
    return f" and {column} like ? escape '\\'"


def _eq(column: str, value: str | None, args: list[Any]) -> str:
    if value is None:
        return ""
    args.append(value)
    return f" and {column} = ?"


class DuckDBCatalog:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def _rows(self, sql: str, args: list[Any]) -> list[tuple[Any, ...]]:
        return self._con.execute(sql, args).fetchall()

    def catalogs(self) -> list[str]:
        rows = self._rows(
            "select database_name from duckdb_databases() where database_name not in (?, ?) order by database_name",
            list(_HIDDEN),
        )
        return [r[0] for r in rows]

    def schemas(self, catalog: str | None, pattern: str | None) -> list[tuple[str, str]]:
        args: list[Any] = list(_HIDDEN)
        where = _eq("database_name", catalog, args) + _like("schema_name", pattern, args)
        sql = (
            "select database_name, schema_name from duckdb_schemas() "
            f"where database_name not in (?, ?){where} order by 1, 2"
        )
        return [(r[0], r[1]) for r in self._rows(sql, args)]

    def tables(self, where: TableFilter) -> list[TableRef]:
        args: list[Any] = list(_HIDDEN)
        cond = (
            _eq("database_name", where.catalog, args)
            + _like("schema_name", where.schema_pattern, args)
            + _like("table_name", where.table_pattern, args)
        )
        if where.table_types:
            cond += f" and table_type in ({', '.join('?' for _ in where.table_types)})"
            args.extend(where.table_types)
        sql = f"select * from ({_OBJECTS}) where database_name not in (?, ?){cond} order by 4, 1, 2, 3"
        return [TableRef(r[0], r[1], r[2], r[3]) for r in self._rows(sql, args)]

    def table_schema(self, table: TableRef) -> pa.Schema:
        rows = self._rows(
            "select column_name, data_type, is_nullable, numeric_precision, numeric_scale from duckdb_columns() "
            "where database_name = ? and schema_name = ? and table_name = ? order by column_index",
            [table.catalog, table.schema, table.name],
        )
        arrow = _seam.arrow_schema(self._con, [r[0] for r in rows], [r[1] for r in rows])
        fields = []
        for field, (_, type_name, nullable, precision, scale) in zip(arrow, rows, strict=True):
            # Flight SQL column metadata: drivers fill xdbc_type_name etc. of GetObjects from it.
            metadata = {
                "ARROW:FLIGHT:SQL:CATALOG_NAME": table.catalog,
                "ARROW:FLIGHT:SQL:DB_SCHEMA_NAME": table.schema,
                "ARROW:FLIGHT:SQL:TABLE_NAME": table.name,
                "ARROW:FLIGHT:SQL:TYPE_NAME": type_name,
                "ARROW:FLIGHT:SQL:IS_AUTO_INCREMENT": "0",
                "ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE": "0",
                "ARROW:FLIGHT:SQL:IS_READ_ONLY": "1" if table.type == "VIEW" else "0",
                "ARROW:FLIGHT:SQL:IS_SEARCHABLE": "1",
            }
            if precision is not None:
                metadata["ARROW:FLIGHT:SQL:PRECISION"] = str(precision)
            if scale is not None:
                metadata["ARROW:FLIGHT:SQL:SCALE"] = str(scale)
            fields.append(field.with_nullable(bool(nullable)).with_metadata(metadata))
        return pa.schema(fields)

    def table_types(self) -> list[str]:
        return list(_TABLE_TYPES)

    def primary_keys(self, catalog: str | None, schema: str | None, table: str) -> list[PrimaryKeyColumn]:
        args: list[Any] = [table, *_HIDDEN]
        cond = _eq("database_name", catalog, args) + _eq("schema_name", schema, args)
        rows = self._rows(
            "select database_name, schema_name, table_name, constraint_column_names, constraint_name "
            "from duckdb_constraints() where constraint_type = 'PRIMARY KEY' and table_name = ? "
            f"and database_name not in (?, ?){cond} order by 1, 2, 3",
            args,
        )
        return [
            PrimaryKeyColumn(r[0], r[1], r[2], column, seq, r[4])
            for r in rows
            for seq, column in enumerate(r[3], start=1)
        ]

    def foreign_keys(
        self,
        pk: tuple[str | None, str | None, str | None],
        fk: tuple[str | None, str | None, str | None],
    ) -> list[ForeignKeyColumn]:
        # DuckDB foreign keys reference a table in the same database and schema.
        args: list[Any] = list(_HIDDEN)
        cond = (
            _eq("database_name", pk[0], args)
            + _eq("schema_name", pk[1], args)
            + _eq("referenced_table", pk[2], args)
            + _eq("database_name", fk[0], args)
            + _eq("schema_name", fk[1], args)
            + _eq("table_name", fk[2], args)
        )
        rows = self._rows(
            "select database_name, schema_name, table_name, constraint_column_names, constraint_name, "
            "referenced_table, referenced_column_names from duckdb_constraints() "
            f"where constraint_type = 'FOREIGN KEY' and database_name not in (?, ?){cond}",
            args,
        )
        pk_names = {
            (r[0], r[1], r[2]): r[3]
            for r in self._rows(
                "select database_name, schema_name, table_name, constraint_name from duckdb_constraints() "
                "where constraint_type = 'PRIMARY KEY'",
                [],
            )
        }
        out = [
            ForeignKeyColumn(
                pk_catalog=r[0],
                pk_schema=r[1],
                pk_table=r[5],
                pk_column=pk_col,
                fk_catalog=r[0],
                fk_schema=r[1],
                fk_table=r[2],
                fk_column=fk_col,
                seq=seq,
                fk_name=r[4],
                pk_name=pk_names.get((r[0], r[1], r[5])),
                update_rule=_NO_ACTION,
                delete_rule=_NO_ACTION,
            )
            for r in rows
            for seq, (fk_col, pk_col) in enumerate(zip(r[3], r[6], strict=True), start=1)
        ]
        out.sort(key=lambda k: (k.fk_catalog, k.fk_schema, k.fk_table, k.pk_table, k.fk_name or "", k.seq))
        return out
