"""DuckDB's GetSqlInfo answers: the defaults (`default_sql_info`), which the other engines'
`sqlinfo.py` amend, and DuckDB's own differences from them (none). `protocol/sqlinfo.py` encodes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pyarrow as pa

from flight_gateway.engines import sqlcodes as codes
from flight_gateway.engines.typeinfo import (
    CaseSensitivity,
    ElementAction,
    Int32Bitmask,
    NullOrdering,
    SqlDialectInfo,
    SqlInfoValue,
    bitmask,
)

SQL_INFO = SqlDialectInfo()


def _conversions() -> dict[int, list[int]]:
    c = codes.SqlSupportsConvert
    chars = [c.SQL_CONVERT_CHAR, c.SQL_CONVERT_VARCHAR, c.SQL_CONVERT_LONGVARCHAR]
    binaries = [c.SQL_CONVERT_BINARY, c.SQL_CONVERT_VARBINARY, c.SQL_CONVERT_LONGVARBINARY]
    intervals = [c.SQL_CONVERT_INTERVAL_DAY_TIME, c.SQL_CONVERT_INTERVAL_YEAR_MONTH]
    # BIT is JDBC's boolean; DuckDB casts BOOLEAN to and from every numeric type.
    numerics = [
        c[f"SQL_CONVERT_{name}"] for name in "BIT TINYINT SMALLINT INTEGER BIGINT REAL FLOAT DECIMAL NUMERIC".split()
    ]
    everything = list(c)
    # Which CASTs DuckDB implements at all; tests/protocol/test_sqlinfo.py re-derives this
    # from DuckDB itself, so keep the two in step.
    targets: dict[int, Iterable[int]] = {
        **{t: everything for t in chars},
        **{t: [*binaries, *chars] for t in binaries},
        **{t: [*intervals, *chars] for t in intervals},
        **{t: [*numerics, *chars] for t in numerics},
        c.SQL_CONVERT_DATE: [c.SQL_CONVERT_DATE, c.SQL_CONVERT_TIMESTAMP, *chars],
        c.SQL_CONVERT_TIME: [c.SQL_CONVERT_TIME, *chars],
        c.SQL_CONVERT_TIMESTAMP: [c.SQL_CONVERT_TIMESTAMP, c.SQL_CONVERT_DATE, c.SQL_CONVERT_TIME, *chars],
    }
    return {int(source): sorted(int(t) for t in set(to)) for source, to in sorted(targets.items())}


# SQL_SUPPORTS_CONVERT for DuckDB: SqlSupportsConvert source -> every target it can CAST to.
DUCKDB_SUPPORTED_CONVERSIONS: dict[int, list[int]] = _conversions()


def default_sql_info(
    server_name: str,
    server_version: str,
    read_only: bool,
    keywords: Sequence[str],
    numeric_functions: Sequence[str],
    string_functions: Sequence[str],
    system_functions: Sequence[str],
    datetime_functions: Sequence[str],
    *,
    arrow_version: str = pa.__version__,
    bulk_ingestion: bool = False,
    sql_transactions: bool = False,
    batch_updates: bool = False,
    statement_timeout_ms: int = 0,
    search_string_escape: str = "\\",
) -> dict[int, SqlInfoValue]:
    """SqlInfo values for a gateway serving SQL through DuckDB: the defaults every engine's
    `Engine.sql_info` differences apply to.

    ``sql_transactions`` says whether explicit BEGIN/COMMIT statements survive between
    requests in this deployment; the Flight SQL transaction actions are never offered.
    ``bulk_ingestion`` / ``batch_updates`` must match what the server implements.
    Substrait min/max versions are left out because the spec wants null there and the
    union has no null slot.
    """
    i = codes.SqlInfo
    no_transaction_actions = codes.SqlSupportedTransaction.SQL_SUPPORTED_TRANSACTION_NONE
    case_insensitive = CaseSensitivity.SQL_CASE_SENSITIVITY_CASE_INSENSITIVE
    forward_only = codes.SqlSupportedResultSetType.SQL_RESULT_SET_TYPE_FORWARD_ONLY
    read_only_concurrency = codes.SqlSupportedResultSetConcurrency.SQL_RESULT_SET_CONCURRENCY_READ_ONLY
    if sql_transactions:
        # DuckDB runs MVCC snapshot isolation, which is what REPEATABLE READ means in practice
        # (as in PostgreSQL); it offers no other level.
        isolation = codes.SqlTransactionIsolationLevel.SQL_TRANSACTION_REPEATABLE_READ
    else:
        isolation = codes.SqlTransactionIsolationLevel.SQL_TRANSACTION_NONE
    unlimited = 0  # the spec's "no limit, or limit unknown"

    info: dict[int, SqlInfoValue] = {
        i.FLIGHT_SQL_SERVER_NAME: server_name,
        i.FLIGHT_SQL_SERVER_VERSION: server_version,
        i.FLIGHT_SQL_SERVER_ARROW_VERSION: arrow_version,
        i.FLIGHT_SQL_SERVER_READ_ONLY: read_only,
        i.FLIGHT_SQL_SERVER_SQL: True,
        i.FLIGHT_SQL_SERVER_SUBSTRAIT: False,
        i.FLIGHT_SQL_SERVER_TRANSACTION: Int32Bitmask(no_transaction_actions),
        i.FLIGHT_SQL_SERVER_CANCEL: True,
        i.FLIGHT_SQL_SERVER_BULK_INGESTION: bulk_ingestion and not read_only,
        i.FLIGHT_SQL_SERVER_INGEST_TRANSACTIONS_SUPPORTED: False,
        i.FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT: Int32Bitmask(statement_timeout_ms),
        i.FLIGHT_SQL_SERVER_TRANSACTION_TIMEOUT: Int32Bitmask(0),
        # DuckDB can ATTACH/DETACH databases but has no CREATE/DROP for catalogs.
        i.SQL_DDL_CATALOG: False,
        i.SQL_DDL_SCHEMA: not read_only,
        i.SQL_DDL_TABLE: not read_only,
        # Ordinals go in int64 like the Arrow C++ and Java reference servers do; the Arrow
        # JDBC driver reads SQL_DEFAULT_TRANSACTION_ISOLATION as a Long. DuckDB folds case
        # for quoted identifiers too ("A" and "a" clash), while preserving the spelling.
        i.SQL_IDENTIFIER_CASE: case_insensitive,
        i.SQL_IDENTIFIER_QUOTE_CHAR: '"',
        i.SQL_QUOTED_IDENTIFIER_CASE: case_insensitive,
        i.SQL_ALL_TABLES_ARE_SELECTABLE: True,
        # default_null_order is NULLS_LAST for both ASC and DESC.
        i.SQL_NULL_ORDERING: NullOrdering.SQL_NULLS_SORTED_AT_END,
        i.SQL_KEYWORDS: list(keywords),
        i.SQL_NUMERIC_FUNCTIONS: list(numeric_functions),
        i.SQL_STRING_FUNCTIONS: list(string_functions),
        i.SQL_SYSTEM_FUNCTIONS: list(system_functions),
        i.SQL_DATETIME_FUNCTIONS: list(datetime_functions),
        i.SQL_SEARCH_STRING_ESCAPE: search_string_escape,
        # Non-ASCII letters are accepted as well but cannot be listed.
        i.SQL_EXTRA_NAME_CHARACTERS: "$",
        i.SQL_SUPPORTS_COLUMN_ALIASING: True,
        i.SQL_NULL_PLUS_NULL_IS_NULL: True,
        i.SQL_SUPPORTS_CONVERT: {k: list(v) for k, v in DUCKDB_SUPPORTED_CONVERSIONS.items()},
        i.SQL_SUPPORTS_TABLE_CORRELATION_NAMES: True,
        # "Different" means restricted to differ from the table name; DuckDB allows FROM t AS t.
        i.SQL_SUPPORTS_DIFFERENT_TABLE_CORRELATION_NAMES: False,
        i.SQL_SUPPORTS_EXPRESSIONS_IN_ORDER_BY: True,
        i.SQL_SUPPORTS_ORDER_BY_UNRELATED: True,
        i.SQL_SUPPORTED_GROUP_BY: bitmask(
            codes.SqlSupportedGroupBy.SQL_GROUP_BY_UNRELATED, codes.SqlSupportedGroupBy.SQL_GROUP_BY_BEYOND_SELECT
        ),
        i.SQL_SUPPORTS_LIKE_ESCAPE_CLAUSE: True,
        i.SQL_SUPPORTS_NON_NULLABLE_COLUMNS: True,
        # No cursors or positioned updates, so the ODBC extended grammar is not claimed.
        i.SQL_SUPPORTED_GRAMMAR: bitmask(
            codes.SupportedSqlGrammar.SQL_MINIMUM_GRAMMAR, codes.SupportedSqlGrammar.SQL_CORE_GRAMMAR
        ),
        # Intermediate level needs e.g. CREATE DOMAIN, which DuckDB lacks.
        i.SQL_ANSI92_SUPPORTED_LEVEL: bitmask(codes.SupportedAnsi92SqlGrammarLevel.ANSI92_ENTRY_SQL),
        # PRIMARY KEY / FOREIGN KEY / CHECK / UNIQUE constraints.
        i.SQL_SUPPORTS_INTEGRITY_ENHANCEMENT_FACILITY: True,
        # An ordinal per the spec (the Arrow JDBC driver misreads it as a bitmask and then
        # reports limited outer joins, which is still true).
        i.SQL_OUTER_JOINS_SUPPORT_LEVEL: Int32Bitmask(codes.SqlOuterJoinsSupportLevel.SQL_FULL_OUTER_JOINS),
        i.SQL_SCHEMA_TERM: "schema",
        # Empty is ODBC's "procedures not supported"; DuckDB has macros, not procedures.
        i.SQL_PROCEDURE_TERM: "",
        i.SQL_CATALOG_TERM: "catalog",
        i.SQL_CATALOG_AT_START: True,
        # CREATE INDEX accepts schema- and catalog-qualified table names; there are no
        # procedures and no GRANT.
        i.SQL_SCHEMAS_SUPPORTED_ACTIONS: bitmask(ElementAction.SQL_ELEMENT_IN_INDEX_DEFINITIONS),
        i.SQL_CATALOGS_SUPPORTED_ACTIONS: bitmask(ElementAction.SQL_ELEMENT_IN_INDEX_DEFINITIONS),
        i.SQL_SUPPORTED_POSITIONED_COMMANDS: bitmask(),
        i.SQL_SELECT_FOR_UPDATE_SUPPORTED: False,
        i.SQL_STORED_PROCEDURES_SUPPORTED: False,
        i.SQL_SUPPORTED_SUBQUERIES: bitmask(
            codes.SqlSupportedSubqueries.SQL_SUBQUERIES_IN_COMPARISONS,
            codes.SqlSupportedSubqueries.SQL_SUBQUERIES_IN_EXISTS,
            codes.SqlSupportedSubqueries.SQL_SUBQUERIES_IN_INS,
            codes.SqlSupportedSubqueries.SQL_SUBQUERIES_IN_QUANTIFIEDS,
        ),
        i.SQL_CORRELATED_SUBQUERIES_SUPPORTED: True,
        i.SQL_SUPPORTED_UNIONS: bitmask(codes.SqlSupportedUnions.SQL_UNION, codes.SqlSupportedUnions.SQL_UNION_ALL),
        # The int64 limits are numbered 541..561, with one bool (556) in between.
        **{
            limit: unlimited
            for limit in range(i.SQL_MAX_BINARY_LITERAL_LENGTH, i.SQL_MAX_USERNAME_LENGTH + 1)
            if limit != i.SQL_MAX_ROW_SIZE_INCLUDES_BLOBS
        },
        i.SQL_MAX_ROW_SIZE_INCLUDES_BLOBS: False,
        i.SQL_DEFAULT_TRANSACTION_ISOLATION: isolation,
        i.SQL_TRANSACTIONS_SUPPORTED: sql_transactions,
        i.SQL_SUPPORTED_TRANSACTIONS_ISOLATION_LEVELS: bitmask(isolation),
        # DuckDB DDL is transactional.
        i.SQL_DATA_DEFINITION_CAUSES_TRANSACTION_COMMIT: False,
        i.SQL_DATA_DEFINITIONS_IN_TRANSACTIONS_IGNORED: False,
        # Results are Flight streams: forward-only and read-only.
        i.SQL_SUPPORTED_RESULT_SET_TYPES: bitmask(forward_only),
        i.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_UNSPECIFIED: bitmask(),
        i.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_FORWARD_ONLY: bitmask(read_only_concurrency),
        i.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_SCROLL_SENSITIVE: bitmask(),
        i.SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_SCROLL_INSENSITIVE: bitmask(),
        i.SQL_BATCH_UPDATES_SUPPORTED: batch_updates and not read_only,
        i.SQL_SAVEPOINTS_SUPPORTED: False,
        # Both concern JDBC callable statements / {call} escapes, which do not exist here.
        i.SQL_NAMED_PARAMETERS_SUPPORTED: False,
        i.SQL_STORED_FUNCTIONS_USING_CALL_SYNTAX_SUPPORTED: False,
        # No LOB locators: a fetched BLOB is always a copy.
        i.SQL_LOCATORS_UPDATE_COPY: True,
    }
    return info
