"""CommandGetXdbcTypeInfo: type descriptions and the result table builder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.schemas import XDBC_TYPE_INFO_SCHEMA

__all__ = ["DUCKDB_XDBC_TYPES", "POSTGRES_XDBC_TYPES", "XdbcType", "build_xdbc_type_info_table"]


@dataclass(frozen=True, slots=True, kw_only=True)
class XdbcType:
    """One row of the GetXdbcTypeInfo result (ODBC SQLGetTypeInfo / JDBC getTypeInfo).

    ``None`` means "not applicable" and becomes a null in the result.
    """

    type_name: str
    data_type: int  # XdbcDataType
    column_size: int | None = None
    literal_prefix: str | None = None
    literal_suffix: str | None = None
    create_params: tuple[str, ...] | None = None
    nullable: int = pb.Nullable.NULLABILITY_NULLABLE
    case_sensitive: bool = False
    searchable: int = pb.Searchable.SEARCHABLE_BASIC
    unsigned_attribute: bool | None = None
    fixed_prec_scale: bool = False
    auto_increment: bool | None = None
    local_type_name: str | None = None
    minimum_scale: int | None = None
    maximum_scale: int | None = None
    # Equals data_type except for date/time and interval types, which use the generic
    # XDBC_DATETIME / XDBC_INTERVAL code plus datetime_subcode (ODBC's SQL_DATA_TYPE).
    sql_data_type: int
    datetime_subcode: int | None = None
    num_prec_radix: int | None = None
    interval_precision: int | None = None


def build_xdbc_type_info_table(types: Sequence[XdbcType], data_type: int | None) -> pa.Table:
    """Rows of XDBC_TYPE_INFO_SCHEMA, optionally only for one XdbcDataType.

    Ordered by data_type, then type_name, as the spec requires.
    """
    selected = sorted(
        (t for t in types if data_type is None or t.data_type == data_type),
        key=lambda t: (t.data_type, t.type_name),
    )
    columns = [
        pa.array(
            [
                list(value) if isinstance(value, tuple) else value
                for value in (getattr(t, field.name) for t in selected)
            ],
            field.type,
        )
        for field in XDBC_TYPE_INFO_SCHEMA
    ]
    return pa.Table.from_arrays(columns, schema=XDBC_TYPE_INFO_SCHEMA)


# ---------------------------------------------------------------------------
# DuckDB's scalar types. Nested and extension types (LIST, STRUCT, MAP, UNION, ARRAY,
# ENUM, JSON, BIT, BIGNUM, GEOMETRY, VARIANT) have no XDBC code and are left out.
# ---------------------------------------------------------------------------

_T = pb.XdbcDataType
_S = pb.XdbcDatetimeSubcode

# DuckDB strings and blobs have no declared length limit; the int32 column tops out here.
_UNBOUNDED = 2**31 - 1


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


def _approx(name: str, data_type: int, mantissa_bits: int) -> XdbcType:
    return XdbcType(
        type_name=name,
        data_type=data_type,
        sql_data_type=data_type,
        column_size=mantissa_bits,
        unsigned_attribute=False,
        auto_increment=False,
        num_prec_radix=2,
    )


def _datetime(name: str, data_type: int, subcode: int, length: int, fraction_digits: int | None) -> XdbcType:
    # column_size is the length of the rendered value, e.g. "YYYY-MM-DD HH:MM:SS.ffffff";
    # the scale is the fixed number of fractional-second digits.
    return XdbcType(
        type_name=name,
        data_type=data_type,
        sql_data_type=_T.XDBC_DATETIME,
        datetime_subcode=subcode,
        column_size=length,
        literal_prefix=f"{name} '",
        literal_suffix="'",
        minimum_scale=fraction_digits,
        maximum_scale=fraction_digits,
    )


DUCKDB_XDBC_TYPES: tuple[XdbcType, ...] = (
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
    _approx("FLOAT", _T.XDBC_REAL, 24),
    _approx("DOUBLE", _T.XDBC_DOUBLE, 53),
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
        column_size=_UNBOUNDED,
        literal_prefix="'",
        literal_suffix="'",
        case_sensitive=True,
        searchable=pb.Searchable.SEARCHABLE_FULL,
    ),
    XdbcType(
        type_name="BLOB",
        data_type=_T.XDBC_VARBINARY,
        sql_data_type=_T.XDBC_VARBINARY,
        column_size=_UNBOUNDED,
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
    _datetime("DATE", _T.XDBC_DATE, _S.XDBC_SUBCODE_DATE, 10, None),
    _datetime("TIME", _T.XDBC_TIME, _S.XDBC_SUBCODE_TIME, 15, 6),
    _datetime("TIME_NS", _T.XDBC_TIME, _S.XDBC_SUBCODE_TIME, 18, 9),
    _datetime("TIME WITH TIME ZONE", _T.XDBC_TIME, _S.XDBC_SUBCODE_TIME_WITH_TIMEZONE, 21, 6),
    _datetime("TIMESTAMP", _T.XDBC_TIMESTAMP, _S.XDBC_SUBCODE_TIMESTAMP, 26, 6),
    _datetime("TIMESTAMP_S", _T.XDBC_TIMESTAMP, _S.XDBC_SUBCODE_TIMESTAMP, 19, 0),
    _datetime("TIMESTAMP_MS", _T.XDBC_TIMESTAMP, _S.XDBC_SUBCODE_TIMESTAMP, 23, 3),
    _datetime("TIMESTAMP_NS", _T.XDBC_TIMESTAMP, _S.XDBC_SUBCODE_TIMESTAMP, 29, 9),
    _datetime("TIMESTAMP WITH TIME ZONE", _T.XDBC_TIMESTAMP, _S.XDBC_SUBCODE_TIMESTAMP_WITH_TIMEZONE, 32, 6),
    _datetime("TIMESTAMPTZ_NS", _T.XDBC_TIMESTAMP, _S.XDBC_SUBCODE_TIMESTAMP_WITH_TIMEZONE, 35, 9),
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


# ---------------------------------------------------------------------------
# PostgreSQL's scalar types, named as `format_type` prints them. Arrays, json/jsonb, uuid and
# bytea-like types reach Arrow clients as list / string / uuid / binary (docs/engines/postgres.md).
# ---------------------------------------------------------------------------


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
        searchable=pb.Searchable.SEARCHABLE_FULL,
    )


# PostgreSQL's limit for varchar(n)/char(n) and text values (1 GB), capped at int32.
_PG_MAX_LENGTH = 10_485_760

POSTGRES_XDBC_TYPES: tuple[XdbcType, ...] = (
    XdbcType(type_name="boolean", data_type=_T.XDBC_BIT, sql_data_type=_T.XDBC_BIT, column_size=1),
    _pg_exact("smallint", _T.XDBC_SMALLINT, 5),
    _pg_exact("integer", _T.XDBC_INTEGER, 10),
    _pg_exact("bigint", _T.XDBC_BIGINT, 19),
    _approx("real", _T.XDBC_REAL, 24),
    _approx("double precision", _T.XDBC_DOUBLE, 53),
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
    _pg_text("text", _T.XDBC_VARCHAR, _UNBOUNDED),
    _pg_text("character varying", _T.XDBC_VARCHAR, _PG_MAX_LENGTH, ("length",)),
    _pg_text("character", _T.XDBC_CHAR, _PG_MAX_LENGTH, ("length",)),
    XdbcType(
        type_name="bytea",
        data_type=_T.XDBC_VARBINARY,
        sql_data_type=_T.XDBC_VARBINARY,
        column_size=_UNBOUNDED,
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
    _datetime("date", _T.XDBC_DATE, _S.XDBC_SUBCODE_DATE, 10, None),
    _datetime("time without time zone", _T.XDBC_TIME, _S.XDBC_SUBCODE_TIME, 15, 6),
    _datetime("timestamp without time zone", _T.XDBC_TIMESTAMP, _S.XDBC_SUBCODE_TIMESTAMP, 26, 6),
    _datetime("timestamp with time zone", _T.XDBC_TIMESTAMP, _S.XDBC_SUBCODE_TIMESTAMP_WITH_TIMEZONE, 32, 6),
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
