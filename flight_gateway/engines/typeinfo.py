"""What an engine tells BI tools about its type system and SQL dialect, as plain data.

Each engine package keeps its own tables (`<engine>/typeinfo.py`: the GetXdbcTypeInfo rows;
`<engine>/sqlinfo.py`: where its GetSqlInfo answers differ from the defaults, which
`duckdb/sqlinfo.py` states), and hands them out as `Engine.xdbc_types` / `Engine.sql_info`;
`protocol/xdbc.py` and `protocol/sqlinfo.py` only encode them. The codes below (and the SqlInfo
ones in `sqlcodes.py`) are the Flight SQL spec's (FlightSql.proto), kept here so engines need not
import protocol; a test checks they match the generated enums.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class XdbcDataType(enum.IntEnum):
    XDBC_UNKNOWN_TYPE = 0
    XDBC_CHAR = 1
    XDBC_NUMERIC = 2
    XDBC_DECIMAL = 3
    XDBC_INTEGER = 4
    XDBC_SMALLINT = 5
    XDBC_FLOAT = 6
    XDBC_REAL = 7
    XDBC_DOUBLE = 8
    XDBC_DATETIME = 9
    XDBC_INTERVAL = 10
    XDBC_VARCHAR = 12
    XDBC_DATE = 91
    XDBC_TIME = 92
    XDBC_TIMESTAMP = 93
    XDBC_LONGVARCHAR = -1
    XDBC_BINARY = -2
    XDBC_VARBINARY = -3
    XDBC_LONGVARBINARY = -4
    XDBC_BIGINT = -5
    XDBC_TINYINT = -6
    XDBC_BIT = -7
    XDBC_WCHAR = -8
    XDBC_WVARCHAR = -9


class XdbcDatetimeSubcode(enum.IntEnum):
    """The datetime subcodes the engines use (the spec has interval ones too)."""

    XDBC_SUBCODE_UNKNOWN = 0
    XDBC_SUBCODE_DATE = 1
    XDBC_SUBCODE_TIME = 2
    XDBC_SUBCODE_TIMESTAMP = 3
    XDBC_SUBCODE_TIME_WITH_TIMEZONE = 4
    XDBC_SUBCODE_TIMESTAMP_WITH_TIMEZONE = 5


class Nullable(enum.IntEnum):
    NULLABILITY_NO_NULLS = 0
    NULLABILITY_NULLABLE = 1
    NULLABILITY_UNKNOWN = 2


class Searchable(enum.IntEnum):
    SEARCHABLE_NONE = 0
    SEARCHABLE_CHAR = 1
    SEARCHABLE_BASIC = 2
    SEARCHABLE_FULL = 3


class CaseSensitivity(enum.IntEnum):
    SQL_CASE_SENSITIVITY_UNKNOWN = 0
    SQL_CASE_SENSITIVITY_CASE_INSENSITIVE = 1
    SQL_CASE_SENSITIVITY_UPPERCASE = 2
    SQL_CASE_SENSITIVITY_LOWERCASE = 3


class NullOrdering(enum.IntEnum):
    SQL_NULLS_SORTED_HIGH = 0
    SQL_NULLS_SORTED_LOW = 1
    SQL_NULLS_SORTED_AT_START = 2
    SQL_NULLS_SORTED_AT_END = 3


class ElementAction(enum.IntEnum):
    SQL_ELEMENT_IN_PROCEDURE_CALLS = 0
    SQL_ELEMENT_IN_INDEX_DEFINITIONS = 1
    SQL_ELEMENT_IN_PRIVILEGE_DEFINITIONS = 2


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
    nullable: int = Nullable.NULLABILITY_NULLABLE
    case_sensitive: bool = False
    searchable: int = Searchable.SEARCHABLE_BASIC
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


@dataclass(frozen=True)
class SqlDialectInfo:
    """Where an engine answers GetSqlInfo differently from the defaults (which describe DuckDB);
    None: the default. BI tools read identifier case, NULL ordering and the catalog term from it."""

    identifier_case: CaseSensitivity | None = None
    quoted_identifier_case: CaseSensitivity | None = None
    null_ordering: NullOrdering | None = None
    catalog_term: str | None = None
    procedure_term: str | None = None
    schemas_supported_actions: frozenset[ElementAction] | None = None
    catalogs_supported_actions: frozenset[ElementAction] | None = None
    bulk_ingestion: bool | None = None


_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


@dataclass(frozen=True, slots=True)
class Int32Bitmask:
    """Selects the union's int32 child ("int32_bitmask") instead of int64.

    The union has a single int32 slot, so this also carries the ids the spec types as plain
    int32 (FLIGHT_SQL_SERVER_TRANSACTION, the timeouts). A wrapper rather than an int
    subclass, so that arithmetic cannot silently turn it back into an int64 value.
    """

    value: int

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise TypeError(f"Int32Bitmask needs an int, got {type(self.value).__name__}")
        if not _INT32_MIN <= self.value <= _INT32_MAX:
            raise ValueError(f"Int32Bitmask value {self.value} does not fit in int32")


SqlInfoValue = str | bool | int | Int32Bitmask | list[str] | dict[int, list[int]]


def bitmask(*bits: int) -> Int32Bitmask:
    """Bitmask with ``1 << bit`` set for each enum value given (how the spec encodes sets)."""
    mask = 0
    for bit in bits:
        mask |= 1 << bit
    return Int32Bitmask(mask)


# Strings and blobs without a declared length limit; the int32 column tops out here.
UNBOUNDED = 2**31 - 1


def approximate(name: str, data_type: int, mantissa_bits: int) -> XdbcType:
    """A floating-point type."""
    return XdbcType(
        type_name=name,
        data_type=data_type,
        sql_data_type=data_type,
        column_size=mantissa_bits,
        unsigned_attribute=False,
        auto_increment=False,
        num_prec_radix=2,
    )


def datetime_type(name: str, data_type: int, subcode: int, length: int, fraction_digits: int | None) -> XdbcType:
    """A date/time type: column_size is the length of the rendered value, e.g. "YYYY-MM-DD
    HH:MM:SS.ffffff"; the scale is the fixed number of fractional-second digits."""
    return XdbcType(
        type_name=name,
        data_type=data_type,
        sql_data_type=XdbcDataType.XDBC_DATETIME,
        datetime_subcode=subcode,
        column_size=length,
        literal_prefix=f"{name} '",
        literal_suffix="'",
        minimum_scale=fraction_digits,
        maximum_scale=fraction_digits,
    )
