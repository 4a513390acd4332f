"""PostgreSQL's scalar types for GetXdbcTypeInfo, named as `format_type` prints them. Arrays,
json/jsonb, uuid and bytea-like types reach Arrow clients as list / string / uuid / binary
(docs/engines/postgres.md)."""

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


def _pg_exact(name: str, data_type: int, digits: int) -> XdbcType:
    # serial/bigserial are int4/int8 with a sequence default, not a column attribute.
    return XdbcType(
        type_name=name,
        data_type=data_type,
        sql_data_type=data_type,
        column_size=digits,
        unsigned_attribute=False,
        auto_increment=False,
        minimum_scale=0,
        maximum_scale=0,
        num_prec_radix=10,
    )


def _pg_text(name: str, data_type: int, size: int, create_params: tuple[str, ...] | None = None) -> XdbcType:
    return XdbcType(
        type_name=name,
        data_type=data_type,
        sql_data_type=data_type,
        column_size=size,
        literal_prefix="'",
        literal_suffix="'",
        create_params=create_params,
        case_sensitive=True,
        searchable=Searchable.SEARCHABLE_FULL,
    )


# PostgreSQL's limit for varchar(n)/char(n) and text values (1 GB), capped at int32.
_PG_MAX_LENGTH = 10_485_760

XDBC_TYPES: tuple[XdbcType, ...] = (
    XdbcType(type_name="boolean", data_type=_T.XDBC_BIT, sql_data_type=_T.XDBC_BIT, column_size=1),
    _pg_exact("smallint", _T.XDBC_SMALLINT, 5),
    _pg_exact("integer", _T.XDBC_INTEGER, 10),
    _pg_exact("bigint", _T.XDBC_BIGINT, 19),
    approximate("real", _T.XDBC_REAL, 24),
    approximate("double precision", _T.XDBC_DOUBLE, 53),
    XdbcType(
        type_name="numeric",
        data_type=_T.XDBC_NUMERIC,
        sql_data_type=_T.XDBC_NUMERIC,
        column_size=1000,
        create_params=("precision", "scale"),
        unsigned_attribute=False,
        auto_increment=False,
        minimum_scale=0,
        maximum_scale=1000,
        num_prec_radix=10,
    ),
    _pg_text("text", _T.XDBC_VARCHAR, UNBOUNDED),
    _pg_text("character varying", _T.XDBC_VARCHAR, _PG_MAX_LENGTH, ("length",)),
    _pg_text("character", _T.XDBC_CHAR, _PG_MAX_LENGTH, ("length",)),
    XdbcType(
        type_name="bytea",
        data_type=_T.XDBC_VARBINARY,
        sql_data_type=_T.XDBC_VARBINARY,
        column_size=UNBOUNDED,
        literal_prefix="'\\x",
        literal_suffix="'",
    ),
    XdbcType(
        type_name="uuid",
        data_type=_T.XDBC_BINARY,
        sql_data_type=_T.XDBC_BINARY,
        column_size=16,
        literal_prefix="'",
        literal_suffix="'::uuid",
    ),
    datetime_type("date", _T.XDBC_DATE, _S.XDBC_SUBCODE_DATE, 10, None),
    datetime_type("time without time zone", _T.XDBC_TIME, _S.XDBC_SUBCODE_TIME, 15, 6),
    datetime_type("timestamp without time zone", _T.XDBC_TIMESTAMP, _S.XDBC_SUBCODE_TIMESTAMP, 26, 6),
    datetime_type("timestamp with time zone", _T.XDBC_TIMESTAMP, _S.XDBC_SUBCODE_TIMESTAMP_WITH_TIMEZONE, 32, 6),
    # Months, days and microseconds together, like DuckDB's: no single SQL interval subtype.
    XdbcType(
        type_name="interval",
        data_type=_T.XDBC_INTERVAL,
        sql_data_type=_T.XDBC_INTERVAL,
        datetime_subcode=_S.XDBC_SUBCODE_UNKNOWN,
        literal_prefix="interval '",
        literal_suffix="'",
    ),
)
