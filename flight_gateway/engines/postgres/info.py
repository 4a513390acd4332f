"""What a PostgreSQL server tells clients about itself (GetSqlInfo): its version, its keywords
(pg_get_keywords) and the ODBC-style function lists, kept to functions the server really has."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flight_gateway.engines.base import EngineInfo

_NUMERIC = (
    "abs", "acos", "asin", "atan", "atan2", "cbrt", "ceil", "ceiling", "cos", "cot", "degrees", "div", "exp",
    "floor", "gcd", "lcm", "ln", "log", "log10", "mod", "pi", "power", "radians", "random", "round", "sign",
    "sin", "sqrt", "tan", "trunc", "width_bucket",
)  # fmt: skip
_STRING = (
    "ascii", "btrim", "char_length", "character_length", "chr", "concat", "concat_ws", "format", "initcap",
    "left", "length", "lower", "lpad", "ltrim", "md5", "octet_length", "overlay", "position", "regexp_match",
    "regexp_replace", "regexp_split_to_array", "repeat", "replace", "reverse", "right", "rpad", "rtrim",
    "split_part", "starts_with", "strpos", "substr", "substring", "to_hex", "translate", "trim", "upper",
)  # fmt: skip
_SYSTEM = (
    "current_database", "current_schema", "current_schemas", "current_setting", "current_user", "has_table_privilege",
    "pg_backend_pid", "session_user", "version",
)  # fmt: skip
_DATETIME = (
    "age", "clock_timestamp", "current_date", "current_time", "current_timestamp", "date_bin", "date_part",
    "date_trunc", "extract", "isfinite", "justify_days", "justify_hours", "justify_interval", "localtime",
    "localtimestamp", "make_date", "make_interval", "make_time", "make_timestamp", "make_timestamptz", "now",
    "statement_timestamp", "timeofday", "to_char", "to_date", "to_timestamp", "transaction_timestamp",
)  # fmt: skip
# SQL-standard functions PostgreSQL parses as syntax rather than catalog functions.
_SYNTAX = {"current_date", "current_time", "current_timestamp", "localtime", "localtimestamp", "current_user",
           "session_user", "position", "substring", "trim", "extract", "ceiling", "character_length"}  # fmt: skip


def postgres_info(rows: Callable[[str, Sequence[str | None]], list[tuple[Any, ...]]]) -> EngineInfo:
    version = rows("select 'PostgreSQL ' || current_setting('server_version')", [])[0][0]
    keywords = tuple(r[0] for r in rows("select upper(word) from pg_get_keywords() order by 1", []))
    functions = "select distinct proname::text from pg_proc where pronamespace = 'pg_catalog'::regnamespace"
    present = {r[0] for r in rows(functions, [])}

    def have(names: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(n for n in names if n in present or n in _SYNTAX)

    return EngineInfo(
        version=str(version),
        keywords=keywords,
        numeric_functions=have(_NUMERIC),
        string_functions=have(_STRING),
        system_functions=have(_SYSTEM),
        datetime_functions=have(_DATETIME),
    )
