"""DuckDB's scalar types for GetXdbcTypeInfo. Nested and extension types (LIST, STRUCT, MAP,
UNION, ARRAY, ENUM, JSON, BIT, BIGNUM, GEOMETRY, VARIANT) have no XDBC code and are left out."""

from __future__ import annotations

from flight_gateway.engines.typeinfo import (
    UNBOUNDED,
    Searchable,
    XdbcDataType,
    XdbcDatetimeSubcode,
    XdbcType,
    approximate,
    datetime_type,
)

_T = XdbcDataType
_S = XdbcDatetimeSubcode


def _exact(name: str, data_type: int, digits: int, *, unsigned: bool = False) -> XdbcType:
    return XdbcType(
        type_name=name,
        data_type=data_type,
        sql_data_type=data_type,
        column_size=digits,
        unsigned_attribute=unsigned,
        # DuckDB has no AUTO_INCREMENT column attribute, only sequences.
        auto_increment=False,
        minimum_scale=0,
        maximum_scale=0,
        num_prec_radix=10,
    )


XDBC_TYPES: tuple[XdbcType, ...] = (
    XdbcType(type_name="BOOLEAN", data_type=_T.XDBC_BIT, sql_data_type=_T.XDBC_BIT, column_size=1),
    _exact("TINYINT", _T.XDBC_TINYINT, 3),
    _exact("SMALLINT", _T.XDBC_SMALLINT, 5),
    _exact("INTEGER", _T.XDBC_INTEGER, 10),
    _exact("BIGINT", _T.XDBC_BIGINT, 19),
    # Unsigned variants keep their signed code and set unsigned_attribute, as ODBC does.
    _exact("UTINYINT", _T.XDBC_TINYINT, 3, unsigned=True),
    _exact("USMALLINT", _T.XDBC_SMALLINT, 5, unsigned=True),
    _exact("UINTEGER", _T.XDBC_INTEGER, 10, unsigned=True),
    _exact("UBIGINT", _T.XDBC_BIGINT, 20, unsigned=True),
    # 128-bit integers reach Arrow clients as decimal128(38, 0).
    _exact("HUGEINT", _T.XDBC_DECIMAL, 38),
    _exact("UHUGEINT", _T.XDBC_DECIMAL, 38, unsigned=True),
    approximate("FLOAT", _T.XDBC_REAL, 24),
    approximate("DOUBLE", _T.XDBC_DOUBLE, 53),
    XdbcType(
        type_name="DECIMAL",
        data_type=_T.XDBC_DECIMAL,
        sql_data_type=_T.XDBC_DECIMAL,
        column_size=38,
        create_params=("precision", "scale"),
        unsigned_attribute=False,
        auto_increment=False,
        minimum_scale=0,
        maximum_scale=38,
        num_prec_radix=10,
    ),
    XdbcType(
        type_name="VARCHAR",
        data_type=_T.XDBC_VARCHAR,
        sql_data_type=_T.XDBC_VARCHAR,
        column_size=UNBOUNDED,
        literal_prefix="'",
        literal_suffix="'",
        case_sensitive=True,
        searchable=Searchable.SEARCHABLE_FULL,
    ),
    XdbcType(
        type_name="BLOB",
        data_type=_T.XDBC_VARBINARY,
        sql_data_type=_T.XDBC_VARBINARY,
        column_size=UNBOUNDED,
        literal_prefix="X'",
        literal_suffix="'",
    ),
    # Arrives as utf8 text; input is accepted in any letter case.
    XdbcType(
        type_name="UUID",
        data_type=_T.XDBC_CHAR,
        sql_data_type=_T.XDBC_CHAR,
        column_size=36,
        literal_prefix="UUID '",
        literal_suffix="'",
    ),
    datetime_type("DATE", _T.XDBC_DATE, _S.XDBC_SUBCODE_DATE, 10, None),
    datetime_type("TIME", _T.XDBC_TIME, _S.XDBC_SUBCODE_TIME, 15, 6),
    datetime_type("TIME_NS", _T.XDBC_TIME, _S.XDBC_SUBCODE_TIME, 18, 9),
    datetime_type("TIME WITH TIME ZONE", _T.XDBC_TIME, _S.XDBC_SUBCODE_TIME_WITH_TIMEZONE, 21, 6),
    datetime_type("TIMESTAMP", _T.XDBC_TIMESTAMP, _S.XDBC_SUBCODE_TIMESTAMP, 26, 6),
    datetime_type("TIMESTAMP_S", _T.XDBC_TIMESTAMP, _S.XDBC_SUBCODE_TIMESTAMP, 19, 0),
    datetime_type("TIMESTAMP_MS", _T.XDBC_TIMESTAMP, _S.XDBC_SUBCODE_TIMESTAMP, 23, 3),
    datetime_type("TIMESTAMP_NS", _T.XDBC_TIMESTAMP, _S.XDBC_SUBCODE_TIMESTAMP, 29, 9),
    datetime_type("TIMESTAMP WITH TIME ZONE", _T.XDBC_TIMESTAMP, _S.XDBC_SUBCODE_TIMESTAMP_WITH_TIMEZONE, 32, 6),
    datetime_type("TIMESTAMPTZ_NS", _T.XDBC_TIMESTAMP, _S.XDBC_SUBCODE_TIMESTAMP_WITH_TIMEZONE, 35, 9),
    # DuckDB intervals carry months, days and microseconds together, which matches none of
    # the SQL interval subtypes, so the subtype and leading precision stay unknown.
    XdbcType(
        type_name="INTERVAL",
        data_type=_T.XDBC_INTERVAL,
        sql_data_type=_T.XDBC_INTERVAL,
        datetime_subcode=_S.XDBC_SUBCODE_UNKNOWN,
        literal_prefix="INTERVAL '",
        literal_suffix="'",
    ),
)
