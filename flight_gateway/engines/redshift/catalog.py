"""The Redshift catalog as the tenant sees it, from the SVV_ALL_* views.

SVV_ALL_SCHEMAS / SVV_ALL_TABLES / SVV_ALL_COLUMNS already show a regular user only what it
may use (Redshift's "visibility of data in system tables"), covering local, external (Spectrum)
and datashare objects. Keys come from pg_constraint (information_schema in Redshift's PostgreSQL
8.0 shows keys only to a table's owner), limited to key columns the user may read; they are
walked with generate_series because the leader node has no unnest. LIKE patterns and names are
bound as parameters (`$n`), never spliced into SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from flight_gateway.engines.base import EngineInfo, ForeignKeyColumn, PrimaryKeyColumn, TableFilter, TableRef
from flight_gateway.engines.redshift.types import catalog_type

Rows = Callable[[str, list[Any]], list[tuple[Any, ...]]]

# SVV_ALL_TABLES.table_type values, as Flight SQL clients filter on them.
TABLE_TYPES = ("TABLE", "VIEW", "EXTERNAL TABLE", "SHARED TABLE")
# JDBC/Flight SQL update-delete rules by pg_constraint.confupdtype / confdeltype.
_RULES = {"c": 0, "r": 1, "n": 2, "a": 3, "d": 4}


class RedshiftCatalog:
    def __init__(self, rows: Rows) -> None:
        self._rows = rows

    def catalogs(self) -> list[str]:
        rows = self._rows(
            "select distinct database_name from svv_all_schemas "
            "where schema_name not in ('pg_catalog', 'information_schema', 'pg_internal', 'pg_automv')",
            [],
        )
        return sorted(str(r[0]) for r in rows)

    def schemas(self, catalog: str | None, pattern: str | None) -> list[tuple[str, str]]:
        rows = self._rows(
            "select database_name, schema_name from svv_all_schemas "
            "where schema_name not in ('pg_catalog', 'information_schema', 'pg_internal', 'pg_automv') "
            "and schema_name not like 'pg\\_temp\\_%' "
            "and ($1::varchar is null or database_name = $1) and ($2::varchar is null or schema_name like $2) "
            "order by 1, 2",
            [catalog, pattern],
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    def tables(self, where: TableFilter) -> list[TableRef]:
        rows = self._rows(
            "select database_name, schema_name, table_name, table_type from svv_all_tables "
            "where schema_name not in ('pg_catalog', 'information_schema', 'pg_internal', 'pg_automv') "
            "and ($1::varchar is null or database_name = $1) and ($2::varchar is null or schema_name like $2) "
            "and ($3::varchar is null or table_name like $3) order by 4, 1, 2, 3",
            [where.catalog, where.schema_pattern, where.table_pattern],
        )
        wanted = {t.upper() for t in where.table_types}
        return [TableRef(*map(str, r)) for r in rows if not wanted or str(r[3]).upper() in wanted]

    def table_schema(self, table: TableRef) -> pa.Schema:
        rows = self._rows(
            "select column_name, data_type, numeric_precision, numeric_scale, is_nullable from svv_all_columns "
            "where database_name = $1 and schema_name = $2 and table_name = $3 order by ordinal_position",
            [table.catalog, table.schema, table.name],
        )
        return pa.schema(
            [
                pa.field(str(r[0]), catalog_type(str(r[1]), _int(r[2]), _int(r[3])), str(r[4]).upper() != "NO")
                for r in rows
            ]
        )

    def table_types(self) -> list[str]:
        return list(TABLE_TYPES)

    def primary_keys(self, catalog: str | None, schema: str | None, table: str) -> list[PrimaryKeyColumn]:
        rows = self._rows(
            "select current_database(), n.nspname, c.relname, a.attname, k.i, con.conname "
            "from pg_catalog.pg_constraint con join pg_catalog.pg_class c on c.oid = con.conrelid "
            "join pg_catalog.pg_namespace n on n.oid = c.relnamespace "
            "cross join generate_series(1, 32) as k(i) "
            "join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum = con.conkey[k.i] "
            "where con.contype = 'p' and c.relname = $1 and ($2::varchar is null or n.nspname = $2) "
            "and ($3::varchar is null or current_database() = $3) "
            "and has_schema_privilege(n.oid, 'USAGE') "
            "and (has_table_privilege(c.oid, 'SELECT') or has_column_privilege(c.oid, a.attnum, 'SELECT')) "
            "order by 2, 3, 5",
            [table, schema, catalog],
        )
        return [PrimaryKeyColumn(str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]), r[5]) for r in rows]

    def foreign_keys(
        self,
        pk: tuple[str | None, str | None, str | None],
        fk: tuple[str | None, str | None, str | None],
    ) -> list[ForeignKeyColumn]:
        # Both ends must be readable: a key must not reveal a table the tenant cannot see.
        rows = self._rows(
            "select current_database(), pn.nspname, pc.relname, pa.attname, "
            "current_database(), fn.nspname, fc.relname, fa.attname, k.i, con.conname, "
            "(select p.conname from pg_catalog.pg_constraint p where p.conrelid = con.confrelid "
            "and p.contype in ('p', 'u') and p.conkey = con.confkey limit 1), "
            "con.confupdtype::varchar, con.confdeltype::varchar "
            "from pg_catalog.pg_constraint con "
            "join pg_catalog.pg_class fc on fc.oid = con.conrelid "
            "join pg_catalog.pg_namespace fn on fn.oid = fc.relnamespace "
            "join pg_catalog.pg_class pc on pc.oid = con.confrelid "
            "join pg_catalog.pg_namespace pn on pn.oid = pc.relnamespace "
            "cross join generate_series(1, 32) as k(i) "
            "join pg_catalog.pg_attribute fa on fa.attrelid = fc.oid and fa.attnum = con.conkey[k.i] "
            "join pg_catalog.pg_attribute pa on pa.attrelid = pc.oid and pa.attnum = con.confkey[k.i] "
            "where con.contype = 'f' "
            "and ($1::varchar is null or pn.nspname = $1) and ($2::varchar is null or pc.relname = $2) "
            "and ($3::varchar is null or fn.nspname = $3) and ($4::varchar is null or fc.relname = $4) "
            "and ($5::varchar is null or current_database() = $5) and ($6::varchar is null or current_database() = $6) "
            "and has_schema_privilege(pn.oid, 'USAGE') and has_schema_privilege(fn.oid, 'USAGE') "
            "and (has_table_privilege(pc.oid, 'SELECT') or has_column_privilege(pc.oid, pa.attnum, 'SELECT')) "
            "and (has_table_privilege(fc.oid, 'SELECT') or has_column_privilege(fc.oid, fa.attnum, 'SELECT')) "
            "order by 6, 7, 10, 9",
            [pk[1], pk[2], fk[1], fk[2], pk[0], fk[0]],
        )
        return [
            ForeignKeyColumn(
                str(r[0]),
                str(r[1]),
                str(r[2]),
                str(r[3]),
                str(r[4]),
                str(r[5]),
                str(r[6]),
                str(r[7]),
                int(r[8]),
                r[9],
                r[10],
                _RULES.get(str(r[11]), 3),
                _RULES.get(str(r[12]), 3),
            )  # fmt: skip
            for r in rows
        ]


def _int(value: object) -> int | None:
    return None if value is None else int(str(value))


_KEYWORDS = (
    "AES128", "AES256", "ALL", "ALLOWOVERWRITE", "ANALYSE", "ANALYZE", "AND", "ANY", "ARRAY", "AS", "ASC",
    "AUTHORIZATION", "AZ64", "BACKUP", "BETWEEN", "BINARY", "BLANKSASNULL", "BOTH", "BYTEDICT", "BZIP2", "CASE",
    "CAST", "CHECK", "COLLATE", "COLUMN", "CONSTRAINT", "CREATE", "CREDENTIALS", "CROSS", "CURRENT_DATE",
    "CURRENT_TIME", "CURRENT_TIMESTAMP", "CURRENT_USER", "DEFAULT", "DEFERRABLE", "DEFLATE", "DELTA", "DELTA32K",
    "DESC", "DISTINCT", "DO", "ELSE", "EMPTYASNULL", "ENCODE", "ENCRYPT", "END", "EXCEPT", "EXPLICIT", "FALSE",
    "FOR", "FOREIGN", "FREEZE", "FROM", "FULL", "GLOBALDICT256", "GLOBALDICT64K", "GRANT", "GROUP", "GZIP",
    "HAVING", "IDENTITY", "IGNORE", "ILIKE", "IN", "INITIALLY", "INNER", "INTERSECT", "INTO", "IS", "ISNULL",
    "JOIN", "LEADING", "LEFT", "LIKE", "LIMIT", "LOCALTIME", "LOCALTIMESTAMP", "LUN", "LUNS", "LZO", "LZOP",
    "MINUS", "MOSTLY16", "MOSTLY32", "MOSTLY8", "NATURAL", "NEW", "NOT", "NOTNULL", "NULL", "NULLS", "OFF",
    "OFFSET", "OLD", "ON", "ONLY", "OPEN", "OR", "ORDER", "OUTER", "OVERLAPS", "PARALLEL", "PARTITION", "PERCENT",
    "PERMISSIONS", "PIVOT", "PLACING", "PRIMARY", "RAW", "READRATIO", "RECOVER", "REFERENCES", "REJECTLOG",
    "RESORT", "RESPECT", "RESTORE", "RIGHT", "SELECT", "SESSION_USER", "SIMILAR", "SNAPSHOT", "SOME", "SYSDATE",
    "SYSTEM", "TABLE", "TAG", "TDES", "TEXT255", "TEXT32K", "THEN", "TIMESTAMP", "TO", "TOP", "TRAILING", "TRUE",
    "TRUNCATECOLUMNS", "UNION", "UNIQUE", "UNNEST", "UNPIVOT", "USER", "USING", "VERBOSE", "WALLET", "WHEN",
    "WHERE", "WITH", "WITHOUT",
)  # fmt: skip


def redshift_info() -> EngineInfo:
    """What GetSqlInfo reports for Redshift (its reserved words and documented functions)."""
    return EngineInfo(
        version="Amazon Redshift (PostgreSQL 8.0.2 protocol)",
        keywords=_KEYWORDS,
        numeric_functions=("abs", "acos", "asin", "atan", "atan2", "cbrt", "ceiling", "cos", "cot", "degrees",
                           "dexp", "dlog1", "dlog10", "exp", "floor", "ln", "log", "mod", "pi", "power", "radians",
                           "random", "round", "sign", "sin", "sqrt", "tan", "trunc"),
        string_functions=("btrim", "char_length", "charindex", "chr", "concat", "initcap", "left", "len", "length",
                          "lower", "lpad", "ltrim", "md5", "position", "quote_ident", "quote_literal", "regexp_count",
                          "regexp_instr", "regexp_replace", "regexp_substr", "repeat", "replace", "reverse", "right",
                          "rpad", "rtrim", "split_part", "strpos", "substring", "translate", "trim", "upper"),
        system_functions=("current_database", "current_schema", "current_schemas", "current_user", "session_user",
                          "user", "version", "pg_backend_pid", "pg_last_query_id"),
        datetime_functions=("add_months", "convert_timezone", "current_date", "date_cmp", "date_part", "date_trunc",
                            "dateadd", "datediff", "extract", "getdate", "last_day", "months_between", "next_day",
                            "sysdate", "timeofday", "trunc"),
    )  # fmt: skip
