"""Where PostgreSQL answers GetSqlInfo differently from the defaults (which describe DuckDB), so
BI tools that read identifier case, NULL ordering or the catalog term see the database they are
talking to."""

from __future__ import annotations

from flight_gateway.engines.typeinfo import CaseSensitivity, ElementAction, NullOrdering, SqlDialectInfo

SQL_INFO = SqlDialectInfo(
    # Unquoted names fold to lower case; quoted names are kept exactly, which the enum cannot say.
    identifier_case=CaseSensitivity.SQL_CASE_SENSITIVITY_LOWERCASE,
    quoted_identifier_case=CaseSensitivity.SQL_CASE_SENSITIVITY_UNKNOWN,
    # NULL is larger than every value: last in ASC, first in DESC.
    null_ordering=NullOrdering.SQL_NULLS_SORTED_HIGH,
    catalog_term="database",
    # Schema-qualified names work in calls, index and GRANT statements; another database's
    # objects cannot be named at all.
    schemas_supported_actions=frozenset(
        {
            ElementAction.SQL_ELEMENT_IN_PROCEDURE_CALLS,
            ElementAction.SQL_ELEMENT_IN_INDEX_DEFINITIONS,
            ElementAction.SQL_ELEMENT_IN_PRIVILEGE_DEFINITIONS,
        }
    ),
    catalogs_supported_actions=frozenset(),
    procedure_term="procedure",
)
