"""Where PostgreSQL and Redshift answer GetSqlInfo differently from the DuckDB defaults.

sqlinfo.py describes DuckDB; these overrides are applied per engine dialect so BI tools that
read identifier case, NULL ordering or the catalog term see the database they are talking to.
"""

from __future__ import annotations

from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.sqlinfo import SqlInfoValue, bitmask

_i = pb.SqlInfo
_actions = pb.SqlSupportedElementActions

_POSTGRES: dict[int, SqlInfoValue] = {
    # Unquoted names fold to lower case; quoted names are kept exactly, which the enum cannot say.
    _i.SQL_IDENTIFIER_CASE: pb.SqlSupportedCaseSensitivity.SQL_CASE_SENSITIVITY_LOWERCASE,
    _i.SQL_QUOTED_IDENTIFIER_CASE: pb.SqlSupportedCaseSensitivity.SQL_CASE_SENSITIVITY_UNKNOWN,
    # NULL is larger than every value: last in ASC, first in DESC.
    _i.SQL_NULL_ORDERING: pb.SqlNullOrdering.SQL_NULLS_SORTED_HIGH,
    _i.SQL_CATALOG_TERM: "database",
    # Schema-qualified names work in calls, index and GRANT statements; another database's
    # objects cannot be named at all.
    _i.SQL_SCHEMAS_SUPPORTED_ACTIONS: bitmask(
        _actions.SQL_ELEMENT_IN_PROCEDURE_CALLS,
        _actions.SQL_ELEMENT_IN_INDEX_DEFINITIONS,
        _actions.SQL_ELEMENT_IN_PRIVILEGE_DEFINITIONS,
    ),
    _i.SQL_CATALOGS_SUPPORTED_ACTIONS: bitmask(),
    _i.SQL_PROCEDURE_TERM: "procedure",
}

_REDSHIFT: dict[int, SqlInfoValue] = {
    **_POSTGRES,
    # With enable_case_sensitive_identifier off (the default) quoted names fold to lower case too.
    _i.SQL_QUOTED_IDENTIFIER_CASE: pb.SqlSupportedCaseSensitivity.SQL_CASE_SENSITIVITY_LOWERCASE,
    # The Redshift engine has no bulk ingest (load with COPY from S3).
    _i.FLIGHT_SQL_SERVER_BULK_INGESTION: False,
}

DIALECT_SQL_INFO: dict[str, dict[int, SqlInfoValue]] = {"postgres": _POSTGRES, "redshift": _REDSHIFT}
