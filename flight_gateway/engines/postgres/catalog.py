"""The catalog AS THE TENANT SEES IT: only schemas, tables and columns its database user holds
a privilege on (pg_catalog lists everything, so every query filters with has_*_privilege).

System schemas (pg_catalog, information_schema, pg_toast, temporary schemas) are left out.
Patterns and names are bound as parameters (`$1`), never spliced into SQL. The Redshift engine
reuses the Flight SQL shaping here and swaps the SQL (its SVV_* views) via the class attributes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from flight_gateway.engines.base import ForeignKeyColumn, PrimaryKeyColumn, TableFilter, TableRef
from flight_gateway.engines.postgres.types import catalog_type

Rows = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


def _schema_visible(n: str = "n") -> str:
    return (
        f"{n}.nspname not in ('pg_catalog', 'information_schema', 'pg_toast') "
        f"and {n}.nspname not like 'pg\\_temp\\_%' and {n}.nspname not like 'pg\\_toast\\_temp\\_%' "
        f"and has_schema_privilege({n}.oid, 'USAGE')"
    )


def _table_visible(c: str = "c") -> str:
    """Any privilege on the table or on one of its columns makes it visible."""
    return (
        f"(has_table_privilege({c}.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') "
        f"or has_any_column_privilege({c}.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))"
    )


_VISIBLE_SCHEMA = _schema_visible()
_VISIBLE_TABLE = _table_visible()
_TABLE_TYPE = """
case c.relkind when 'v' then 'VIEW' when 'm' then 'MATERIALIZED VIEW' when 'f' then 'FOREIGN TABLE' else 'TABLE' end
"""
# Only constant fragments are formatted into the SQL below; every value is a bound parameter.
# Flight SQL / JDBC UpdateDeleteRules by pg_constraint.confupdtype/confdeltype.
_RULES = {"c": 0, "r": 1, "n": 2, "a": 3, "d": 4}


class PostgresCatalog:
    table_types_offered = ("TABLE", "VIEW", "MATERIALIZED VIEW", "FOREIGN TABLE")

    def __init__(self, rows: Rows) -> None:
        self._rows = rows

    def _database(self) -> str:
        return str(self._rows("select current_database()", [])[0][0])

    def _other_catalog(self, catalog: str | None) -> bool:
        """A tenant's connection reaches one database; a filter naming another matches nothing."""
        return catalog is not None and catalog != self._database()

    def catalogs(self) -> list[str]:
        return [self._database()]

    def schemas(self, catalog: str | None, pattern: str | None) -> list[tuple[str, str]]:
        if self._other_catalog(catalog):
            return []
        rows = self._rows(
            f"select current_database(), n.nspname from pg_namespace n where {_VISIBLE_SCHEMA} "  # noqa: S608
            "and ($1::text is null or n.nspname like $1) order by 2",
            [pattern],
        )
        return [(r[0], r[1]) for r in rows]

    def tables(self, where: TableFilter) -> list[TableRef]:
        if self._other_catalog(where.catalog):
            return []
        types = json.dumps([t.upper() for t in where.table_types]) if where.table_types else None
        rows = self._rows(
            f"select current_database(), n.nspname, c.relname, {_TABLE_TYPE} as table_type "  # noqa: S608
            "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            f"where c.relkind in ('r', 'p', 'v', 'm', 'f') and not c.relispartition and {_VISIBLE_SCHEMA} "
            f"and {_VISIBLE_TABLE} "
            "and ($1::text is null or n.nspname like $1) and ($2::text is null or c.relname like $2) "
            f"and ($3::text is null or {_TABLE_TYPE} in (select jsonb_array_elements_text($3::jsonb))) "
            "order by 2, 3",  # Flight SQL: by catalog, schema, table name
            [where.schema_pattern, where.table_pattern, types],
        )
        return [TableRef(*r) for r in rows]

    def table_schema(self, table: TableRef) -> pa.Schema:
        rows = self._rows(
            "select a.attname, t.typname, a.atttypmod, e.typname, a.attnotnull, format_type(a.atttypid, a.atttypmod), "
            "a.attidentity <> '' or coalesce(pg_get_expr(d.adbin, d.adrelid) like 'nextval(%', false), "
            "t.typcategory = 'S' "
            "from pg_attribute a join pg_class c on c.oid = a.attrelid "
            "join pg_namespace n on n.oid = c.relnamespace join pg_type t on t.oid = a.atttypid "
            "left join pg_type e on e.oid = t.typelem and t.typcategory = 'A' "
            "left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum "
            "where n.nspname = $1 and c.relname = $2 and a.attnum > 0 and not a.attisdropped "
            "and has_column_privilege(c.oid, a.attnum, 'SELECT, INSERT, UPDATE, REFERENCES') "
            "order by a.attnum",
            [table.schema, table.name],
        )
        fields = []
        for name, typname, typmod, element, not_null, type_name, auto_increment, textual in rows:
            arrow_type = catalog_type(typname, typmod, element)
            # Flight SQL column metadata: drivers fill xdbc_type_name etc. of GetObjects from it.
            metadata = {
                "ARROW:FLIGHT:SQL:CATALOG_NAME": table.catalog,
                "ARROW:FLIGHT:SQL:DB_SCHEMA_NAME": table.schema,
                "ARROW:FLIGHT:SQL:TABLE_NAME": table.name,
                "ARROW:FLIGHT:SQL:TYPE_NAME": type_name,
                "ARROW:FLIGHT:SQL:IS_AUTO_INCREMENT": "1" if auto_increment else "0",
                "ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE": "1" if textual else "0",
                "ARROW:FLIGHT:SQL:IS_READ_ONLY": "0" if table.type == "TABLE" else "1",
                "ARROW:FLIGHT:SQL:IS_SEARCHABLE": "1",
            }
            if pa.types.is_decimal(arrow_type):
                metadata["ARROW:FLIGHT:SQL:PRECISION"] = str(arrow_type.precision)
                metadata["ARROW:FLIGHT:SQL:SCALE"] = str(arrow_type.scale)
            fields.append(pa.field(name, arrow_type, not not_null, metadata=metadata))
        return pa.schema(fields)

    def table_types(self) -> list[str]:
        return list(self.table_types_offered)

    def primary_keys(self, catalog: str | None, schema: str | None, table: str) -> list[PrimaryKeyColumn]:
        if self._other_catalog(catalog):
            return []
        rows = self._rows(
            "select current_database(), n.nspname, c.relname, a.attname, k.seq, con.conname "  # noqa: S608
            "from pg_constraint con join pg_class c on c.oid = con.conrelid "
            "join pg_namespace n on n.oid = c.relnamespace "
            "cross join lateral unnest(con.conkey) with ordinality as k(attnum, seq) "
            "join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum "
            f"where con.contype = 'p' and c.relname = $1 and ($2::text is null or n.nspname = $2) "
            f"and {_VISIBLE_SCHEMA} and {_VISIBLE_TABLE} "
            "and has_column_privilege(c.oid, a.attnum, 'SELECT, INSERT, UPDATE, REFERENCES') "
            "order by 2, 3, 5",
            [table, schema],
        )
        return [PrimaryKeyColumn(r[0], r[1], r[2], r[3], int(r[4]), r[5]) for r in rows]

    def foreign_keys(
        self,
        pk: tuple[str | None, str | None, str | None],
        fk: tuple[str | None, str | None, str | None],
    ) -> list[ForeignKeyColumn]:
        if self._other_catalog(pk[0]) or self._other_catalog(fk[0]):
            return []
        # Both ends must be visible: a key must not reveal a table the tenant cannot see.
        rows = self._rows(
            "select current_database(), pn.nspname, pc.relname, pa.attname, "  # noqa: S608
            "current_database(), fn.nspname, fc.relname, fa.attname, k.seq, con.conname, "
            "pk_con.conname, con.confupdtype::text, con.confdeltype::text "
            "from pg_constraint con "
            "join pg_class fc on fc.oid = con.conrelid join pg_namespace fn on fn.oid = fc.relnamespace "
            "join pg_class pc on pc.oid = con.confrelid join pg_namespace pn on pn.oid = pc.relnamespace "
            "cross join lateral unnest(con.conkey, con.confkey) with ordinality as k(fk_att, pk_att, seq) "
            "join pg_attribute fa on fa.attrelid = fc.oid and fa.attnum = k.fk_att "
            "join pg_attribute pa on pa.attrelid = pc.oid and pa.attnum = k.pk_att "
            "left join pg_constraint pk_con on pk_con.conrelid = pc.oid and pk_con.conindid = con.conindid "
            "and pk_con.contype in ('p', 'u') "
            "where con.contype = 'f' "
            "and ($1::text is null or pn.nspname = $1) and ($2::text is null or pc.relname = $2) "
            "and ($3::text is null or fn.nspname = $3) and ($4::text is null or fc.relname = $4) "
            f"and {_schema_visible('pn')} and {_table_visible('pc')} "
            f"and {_schema_visible('fn')} and {_table_visible('fc')} "
            "and has_column_privilege(fc.oid, fa.attnum, 'SELECT, INSERT, UPDATE, REFERENCES') "
            "and has_column_privilege(pc.oid, pa.attnum, 'SELECT, INSERT, UPDATE, REFERENCES') "
            "order by 6, 7, 10, 9",
            [pk[1], pk[2], fk[1], fk[2]],
        )
        return [
            ForeignKeyColumn(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                r[7],
                int(r[8]),
                r[9],
                r[10],
                _RULES.get(r[11], 3),
                _RULES.get(r[12], 3),
            )  # fmt: skip
            for r in rows
        ]
