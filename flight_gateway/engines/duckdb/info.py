"""What DuckDB tells clients about itself (GetSqlInfo): its version, keywords and function lists."""

from __future__ import annotations

import duckdb

from flight_gateway.engines.base import EngineInfo

_DATETIME_TYPES = ("DATE", "TIME", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "INTERVAL", "TIME WITH TIME ZONE")
_SYSTEM_FUNCTIONS = (
    "current_catalog", "current_database", "current_schema", "current_schemas", "current_setting",
    "current_user", "database", "session_user", "user", "version", "typeof", "pg_typeof",
)  # fmt: skip


def duckdb_info() -> EngineInfo:
    """Keywords and function lists straight from DuckDB's catalog (an in-memory database)."""
    con = duckdb.connect()
    try:

        def names(where: str) -> tuple[str, ...]:
            rows = con.execute(
                "select distinct function_name from duckdb_functions() "
                "where function_type = 'scalar' and regexp_full_match(function_name, '[a-z][a-z0-9_]*') "
                f"and ({where}) "
                "order by 1"
            ).fetchall()
            return tuple(r[0] for r in rows)

        version = con.execute("select version()").fetchall()[0][0]
        keywords = tuple(
            r[0].upper() for r in con.execute("select keyword_name from duckdb_keywords() order by 1").fetchall()
        )
        datetime_types = ", ".join(f"'{t}'" for t in _DATETIME_TYPES)
        return EngineInfo(
            version=f"DuckDB {version}",
            keywords=keywords,
            numeric_functions=names("list_contains(categories, 'numeric')"),
            string_functions=names("list_has_any(categories, ['string', 'regex', 'text_similarity'])"),
            system_functions=tuple(f for f in names("true") if f in _SYSTEM_FUNCTIONS),
            datetime_functions=names(
                f"list_has_any(categories, ['date', 'timestamp']) or return_type in ({datetime_types})"
            ),
        )
    finally:
        con.close()
