"""Redshift's types for GetXdbcTypeInfo: PostgreSQL's rows where Redshift has the type (with
Redshift's limits), plus Redshift's own, described as they reach Arrow clients (docs/engines/
redshift.md: SUPER and HLLSKETCH as text, VARBYTE, GEOMETRY and GEOGRAPHY as binary)."""

from __future__ import annotations

from dataclasses import replace

from flight_gateway.engines.postgres.typeinfo import XDBC_TYPES as POSTGRES_XDBC_TYPES
from flight_gateway.engines.typeinfo import XdbcDataType, XdbcDatetimeSubcode, XdbcType

_T = XdbcDataType
_S = XdbcDatetimeSubcode
_SHARED = {
    "boolean", "smallint", "integer", "bigint", "real", "double precision", "date",
    "time without time zone", "timestamp without time zone", "timestamp with time zone",
}  # fmt: skip
# Redshift's limits: DECIMAL up to 38 digits, VARCHAR 65,535 bytes, CHAR 4,096, VARBYTE
# 1,024,000 bytes, SUPER values 16 MB.
_LIMITS = {"numeric": (38, 37), "character varying": (65_535, None), "character": (4_096, None)}


def _limited(row: XdbcType) -> XdbcType:
    size, scale = _LIMITS[row.type_name]
    return replace(row, column_size=size, maximum_scale=scale if scale is not None else row.maximum_scale)


def _text(name: str, size: int | None) -> XdbcType:
    return XdbcType(type_name=name, data_type=_T.XDBC_VARCHAR, sql_data_type=_T.XDBC_VARCHAR, column_size=size,
                    literal_prefix="'", literal_suffix=f"'::{name}", case_sensitive=True)  # fmt: skip


def _binary(name: str, size: int | None) -> XdbcType:
    return XdbcType(type_name=name, data_type=_T.XDBC_VARBINARY, sql_data_type=_T.XDBC_VARBINARY, column_size=size)


XDBC_TYPES: tuple[XdbcType, ...] = (
    *(row for row in POSTGRES_XDBC_TYPES if row.type_name in _SHARED),
    *(_limited(row) for row in POSTGRES_XDBC_TYPES if row.type_name in _LIMITS),
    XdbcType(
        type_name="time with time zone",
        data_type=_T.XDBC_TIME,
        sql_data_type=_T.XDBC_DATETIME,
        datetime_subcode=_S.XDBC_SUBCODE_TIME_WITH_TIMEZONE,
        column_size=21,
        literal_prefix="time with time zone '",
        literal_suffix="'",
        minimum_scale=6,
        maximum_scale=6,
    ),
    _text("super", 16 * 1024 * 1024),
    _text("hllsketch", None),
    _binary("varbyte", 1_024_000),
    _binary("geometry", None),
    _binary("geography", None),
)
