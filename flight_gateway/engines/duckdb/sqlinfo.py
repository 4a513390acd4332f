"""DuckDB's GetSqlInfo answers are the defaults (`protocol/sqlinfo.py` default_sql_info)."""

from __future__ import annotations

from flight_gateway.engines.typeinfo import SqlDialectInfo

SQL_INFO = SqlDialectInfo()
