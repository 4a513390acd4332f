"""SqlInfo and XdbcTypeInfo result tables, and the truthfulness of the DuckDB defaults."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
import pytest

from flight_gateway.engines.duckdb.sqlinfo import DUCKDB_SUPPORTED_CONVERSIONS, default_sql_info
from flight_gateway.engines.duckdb.typeinfo import XDBC_TYPES as DUCKDB_XDBC_TYPES
from flight_gateway.engines.typeinfo import Int32Bitmask, SqlInfoValue, XdbcType, bitmask
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.schemas import SQL_INFO_SCHEMA, XDBC_TYPE_INFO_SCHEMA
from flight_gateway.protocol.sqlinfo import build_sql_info_table
from flight_gateway.protocol.xdbc import build_xdbc_type_info_table

STRING, BOOL, BIGINT, INT32, STRING_LIST, INT_MAP = range(6)  # union type codes


def _rows(table: pa.Table) -> list[tuple[int, int, Any]]:
    """(info_name, union type code, python value) per row, read through the union."""
    assert table.schema.equals(SQL_INFO_SCHEMA, check_metadata=True)
    table.validate(full=True)
    names = table.column("info_name").combine_chunks()
    values = table.column("value").combine_chunks()
    rows = []
    for row in range(table.num_rows):
        code = values.type_codes[row].as_py()
        child = values.field(code)
        rows.append((names[row].as_py(), code, child[values.offsets[row].as_py()].as_py()))
    return rows


def _defaults(**overrides: Any) -> dict[int, SqlInfoValue]:
    args: dict[str, Any] = {
        "server_name": "flight-gateway",
        "server_version": "1.2.3",
        "read_only": False,
        "keywords": ["SELECT", "PIVOT"],
        "numeric_functions": ["abs"],
        "string_functions": ["lower"],
        "system_functions": ["version"],
        "datetime_functions": ["now"],
    }
    return default_sql_info(**(args | overrides))


# ---------------------------------------------------------------------------
# build_sql_info_table
# ---------------------------------------------------------------------------


def test_every_value_kind_round_trips() -> None:
    values: dict[int, SqlInfoValue] = {
        0: "name",
        3: True,
        4: False,
        541: 0,
        542: 2**40,
        543: -(2**63),
        8: Int32Bitmask(2),
        522: Int32Bitmask(-(2**31)),
        508: ["SELECT", "FROM", ""],
        509: [],
        517: {0: [1, 2], 3: [], -4: [2**31 - 1]},
        518: {},
    }
    rows = _rows(build_sql_info_table(values, []))
    assert rows == [
        (0, STRING, "name"),
        (3, BOOL, True),
        (4, BOOL, False),
        (8, INT32, 2),
        (508, STRING_LIST, ["SELECT", "FROM", ""]),
        (509, STRING_LIST, []),
        (517, INT_MAP, [(0, [1, 2]), (3, []), (-4, [2**31 - 1])]),
        (518, INT_MAP, []),
        (522, INT32, -(2**31)),
        (541, BIGINT, 0),
        (542, BIGINT, 2**40),
        (543, BIGINT, -(2**63)),
    ]


def test_requested_ids_keep_request_order_and_drop_unknown_ones() -> None:
    values: dict[int, SqlInfoValue] = {0: "a", 1: "b", 500: False, 10_000: 7}
    rows = _rows(build_sql_info_table(values, [500, 424242, 0, 500, 10_000]))
    assert [(name, value) for name, _, value in rows] == [(500, False), (0, "a"), (10_000, 7)]


def test_only_unknown_ids_give_an_empty_table() -> None:
    table = build_sql_info_table({0: "a"}, [99])
    assert table.num_rows == 0
    assert table.schema.equals(SQL_INFO_SCHEMA, check_metadata=True)
    assert build_sql_info_table({}, []).num_rows == 0


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (2**63, ValueError),
        (1.5, TypeError),
        (b"bytes", TypeError),
        (["a", 1], TypeError),
        ({1: [2**31]}, ValueError),
        ({"a": [1]}, TypeError),
        ({1: [True]}, TypeError),
    ],
)
def test_invalid_values_are_rejected(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        build_sql_info_table({0: value}, [])


def test_int32_bitmask_is_range_checked() -> None:
    with pytest.raises(ValueError):
        Int32Bitmask(2**31)
    with pytest.raises(TypeError):
        Int32Bitmask(True)
    assert bitmask() == Int32Bitmask(0)
    assert bitmask(0, 3) == Int32Bitmask(0b1001)


# ---------------------------------------------------------------------------
# default_sql_info
# ---------------------------------------------------------------------------

# Ids the spec types as int32 (including bitmasks), which must use the int32 union slot.
INT32_IDS = {8, 100, 101, 522, 525, 526, 528, 533, 534, 535, 538, 540, 564, 567, 568, 569, 570, 571}
# int64 per spec, plus the ordinals the reference servers send as int64 (503, 505, 507, 562).
INT64_IDS = {503, 505, 507, 562, *range(541, 556), *range(557, 562)}
STRING_IDS = {0, 1, 2, 504, 513, 514, 529, 530, 531}
LIST_IDS = {508, 509, 510, 511, 512}


def test_defaults_cover_every_sql_info_id_except_null_only_ones() -> None:
    info = _defaults()
    # Substrait min/max versions must be null when Substrait is unsupported: no row at all.
    assert set(pb.SqlInfo.values()) - set(info) == {6, 7}
    assert set(info) <= set(pb.SqlInfo.values())
    for info_id, value in info.items():
        if info_id in INT32_IDS:
            assert isinstance(value, Int32Bitmask), info_id
        elif info_id in INT64_IDS:
            assert isinstance(value, int) and not isinstance(value, bool), info_id
        elif info_id in STRING_IDS:
            assert isinstance(value, str), info_id
        elif info_id in LIST_IDS:
            assert isinstance(value, list), info_id
        elif info_id == pb.SqlInfo.SQL_SUPPORTS_CONVERT:
            assert isinstance(value, dict)
        else:
            assert isinstance(value, bool), info_id
    assert len(_rows(build_sql_info_table(info, []))) == len(info)


def test_defaults_values() -> None:
    i = pb.SqlInfo
    info = _defaults()
    assert info[i.FLIGHT_SQL_SERVER_NAME] == "flight-gateway"
    assert info[i.FLIGHT_SQL_SERVER_VERSION] == "1.2.3"
    assert info[i.FLIGHT_SQL_SERVER_ARROW_VERSION] == pa.__version__
    assert info[i.FLIGHT_SQL_SERVER_SQL] is True
    assert info[i.FLIGHT_SQL_SERVER_SUBSTRAIT] is False
    assert info[i.FLIGHT_SQL_SERVER_TRANSACTION] == Int32Bitmask(0)
    assert info[i.FLIGHT_SQL_SERVER_CANCEL] is True
    assert info[i.FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT] == Int32Bitmask(0)
    assert info[i.SQL_IDENTIFIER_QUOTE_CHAR] == '"'
    assert info[i.SQL_SEARCH_STRING_ESCAPE] == "\\"
    assert info[i.SQL_DDL_CATALOG] is False
    assert info[i.SQL_DDL_SCHEMA] is True
    assert info[i.SQL_DDL_TABLE] is True
    assert info[i.SQL_KEYWORDS] == ["SELECT", "PIVOT"]
    assert info[i.SQL_SELECT_FOR_UPDATE_SUPPORTED] is False
    assert info[i.SQL_OUTER_JOINS_SUPPORT_LEVEL] == Int32Bitmask(2)
    assert info[i.SQL_SUPPORTED_GROUP_BY] == Int32Bitmask(0b11)
    assert info[i.SQL_SUPPORTED_SUBQUERIES] == Int32Bitmask(0b1111)
    assert info[i.SQL_SUPPORTED_UNIONS] == Int32Bitmask(0b11)
    assert info[i.SQL_MAX_COLUMN_NAME_LENGTH] == 0
    assert info[i.SQL_MAX_ROW_SIZE_INCLUDES_BLOBS] is False
    assert info[i.SQL_TRANSACTIONS_SUPPORTED] is False
    assert info[i.SQL_DEFAULT_TRANSACTION_ISOLATION] == 0
    assert info[i.SQL_SUPPORTED_TRANSACTIONS_ISOLATION_LEVELS] == Int32Bitmask(1)
    assert info[i.SQL_SUPPORTED_RESULT_SET_TYPES] == Int32Bitmask(0b10)


def test_defaults_follow_the_switches() -> None:
    i = pb.SqlInfo
    read_only = _defaults(read_only=True, bulk_ingestion=True, batch_updates=True)
    assert read_only[i.FLIGHT_SQL_SERVER_READ_ONLY] is True
    assert read_only[i.SQL_DDL_SCHEMA] is False
    assert read_only[i.SQL_DDL_TABLE] is False
    assert read_only[i.FLIGHT_SQL_SERVER_BULK_INGESTION] is False
    assert read_only[i.SQL_BATCH_UPDATES_SUPPORTED] is False

    writable = _defaults(bulk_ingestion=True, batch_updates=True, sql_transactions=True)
    assert writable[i.FLIGHT_SQL_SERVER_BULK_INGESTION] is True
    assert writable[i.SQL_BATCH_UPDATES_SUPPORTED] is True
    assert writable[i.SQL_TRANSACTIONS_SUPPORTED] is True
    repeatable_read = pb.SqlTransactionIsolationLevel.SQL_TRANSACTION_REPEATABLE_READ
    assert writable[i.SQL_DEFAULT_TRANSACTION_ISOLATION] == repeatable_read
    assert writable[i.SQL_SUPPORTED_TRANSACTIONS_ISOLATION_LEVELS] == Int32Bitmask(1 << repeatable_read)
    # Flight SQL transaction actions stay unsupported either way.
    assert writable[i.FLIGHT_SQL_SERVER_TRANSACTION] == Int32Bitmask(0)


# The DuckDB claims below are checked against the DuckDB that the gateway embeds.


@pytest.fixture(scope="module")
def duck() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def test_duckdb_nulls_sort_at_end_in_both_directions(duck: duckdb.DuckDBPyConnection) -> None:
    assert _defaults()[pb.SqlInfo.SQL_NULL_ORDERING] == pb.SqlNullOrdering.SQL_NULLS_SORTED_AT_END
    for direction in ("ASC", "DESC"):
        rows = duck.sql(f"SELECT x FROM (VALUES (1), (NULL), (2)) t(x) ORDER BY x {direction}").fetchall()
        assert rows[-1] == (None,)


def test_duckdb_identifier_case_rules(duck: duckdb.DuckDBPyConnection) -> None:
    insensitive = pb.SqlSupportedCaseSensitivity.SQL_CASE_SENSITIVITY_CASE_INSENSITIVE
    info = _defaults()
    assert info[pb.SqlInfo.SQL_IDENTIFIER_CASE] == insensitive
    assert info[pb.SqlInfo.SQL_QUOTED_IDENTIFIER_CASE] == insensitive
    # Quoted names that differ only in case clash, and spelling is preserved.
    with pytest.raises(duckdb.Error):
        duck.sql('CREATE TEMP TABLE clash ("A" INT, "a" INT)')
    relation = duck.sql('SELECT 1 AS "MiXed"')
    assert relation.columns == ["MiXed"]


def test_duckdb_null_concatenation_and_extra_name_characters(duck: duckdb.DuckDBPyConnection) -> None:
    assert duck.sql("SELECT 'a' || NULL").fetchall() == [(None,)]
    assert duck.sql("SELECT 1 AS a$b").columns == ["a$b"]


# JDBC-ish SqlSupportsConvert name -> a DuckDB type and a sample value of it.
_CONVERT_SAMPLES: dict[str, tuple[str, str]] = {
    "BIGINT": ("BIGINT", "1"),
    "BINARY": ("BLOB", "'\\x01'::BLOB"),
    "BIT": ("BOOLEAN", "true"),
    "CHAR": ("VARCHAR", "'1'"),
    "DATE": ("DATE", "DATE '2020-01-01'"),
    "DECIMAL": ("DECIMAL(18,3)", "1"),
    "FLOAT": ("DOUBLE", "1"),
    "INTEGER": ("INTEGER", "1"),
    "INTERVAL_DAY_TIME": ("INTERVAL", "INTERVAL 1 DAY"),
    "INTERVAL_YEAR_MONTH": ("INTERVAL", "INTERVAL 1 MONTH"),
    "LONGVARBINARY": ("BLOB", "'\\x01'::BLOB"),
    "LONGVARCHAR": ("VARCHAR", "'1'"),
    "NUMERIC": ("DECIMAL(18,3)", "1"),
    "REAL": ("FLOAT", "1"),
    "SMALLINT": ("SMALLINT", "1"),
    "TIME": ("TIME", "TIME '01:02:03'"),
    "TIMESTAMP": ("TIMESTAMP", "TIMESTAMP '2020-01-01 01:02:03'"),
    "TINYINT": ("TINYINT", "1"),
    "VARBINARY": ("BLOB", "'\\x01'::BLOB"),
    "VARCHAR": ("VARCHAR", "'1'"),
}


def test_supported_conversions_match_duckdb_casts(duck: duckdb.DuckDBPyConnection) -> None:
    codes = {name.removeprefix("SQL_CONVERT_"): code for name, code in pb.SqlSupportsConvert.items()}
    assert set(codes) == set(_CONVERT_SAMPLES)
    columns = ", ".join(f'"{name}" {duck_type}' for name, (duck_type, _) in _CONVERT_SAMPLES.items())
    duck.sql(f"CREATE TEMP TABLE convert_samples ({columns})")
    duck.sql(f"INSERT INTO convert_samples VALUES ({', '.join(v for _, v in _CONVERT_SAMPLES.values())})")
    derived: dict[int, list[int]] = {}
    for source in _CONVERT_SAMPLES:
        targets = []
        for target, (target_type, _) in _CONVERT_SAMPLES.items():
            try:
                duck.sql(f'SELECT CAST("{source}" AS {target_type}) FROM convert_samples').fetchall()
            except duckdb.Error as exc:
                # A parse failure of this one sample still means the cast exists.
                if "Unimplemented type for cast" in str(exc):
                    continue
            targets.append(codes[target])
        derived[codes[source]] = sorted(targets)
    assert DUCKDB_SUPPORTED_CONVERSIONS == derived
    assert _defaults()[pb.SqlInfo.SQL_SUPPORTS_CONVERT] == derived


# ---------------------------------------------------------------------------
# XdbcTypeInfo
# ---------------------------------------------------------------------------


def _xdbc(name: str, data_type: int) -> XdbcType:
    return XdbcType(type_name=name, data_type=data_type, sql_data_type=data_type)


def test_xdbc_table_is_sorted_by_data_type_then_name() -> None:
    types = [_xdbc("b", 4), _xdbc("a", 12), _xdbc("a", 4), _xdbc("z", -5)]
    table = build_xdbc_type_info_table(types, None)
    assert table.schema.equals(XDBC_TYPE_INFO_SCHEMA, check_metadata=True)
    assert list(zip(table["data_type"].to_pylist(), table["type_name"].to_pylist(), strict=True)) == [
        (-5, "z"),
        (4, "a"),
        (4, "b"),
        (12, "a"),
    ]


def test_xdbc_filter_by_data_type() -> None:
    types = [_xdbc("b", 4), _xdbc("a", 12), _xdbc("a", 4)]
    assert build_xdbc_type_info_table(types, 4)["type_name"].to_pylist() == ["a", "b"]
    empty = build_xdbc_type_info_table(types, 93)
    assert empty.num_rows == 0
    assert empty.schema.equals(XDBC_TYPE_INFO_SCHEMA, check_metadata=True)


def test_xdbc_row_values_round_trip() -> None:
    row = XdbcType(
        type_name="DECIMAL",
        data_type=pb.XdbcDataType.XDBC_DECIMAL,
        sql_data_type=pb.XdbcDataType.XDBC_DECIMAL,
        column_size=38,
        create_params=("precision", "scale"),
        unsigned_attribute=False,
        minimum_scale=0,
        maximum_scale=38,
        num_prec_radix=10,
    )
    table = build_xdbc_type_info_table([row, _xdbc("X", 1)], None)
    table.validate(full=True)
    first, second = table.to_pylist()
    assert first["type_name"] == "X" and first["create_params"] is None and first["column_size"] is None
    assert second["create_params"] == ["precision", "scale"]
    assert second["nullable"] == pb.Nullable.NULLABILITY_NULLABLE
    assert second["searchable"] == pb.Searchable.SEARCHABLE_BASIC
    assert (second["minimum_scale"], second["maximum_scale"], second["num_prec_radix"]) == (0, 38, 10)


def test_duckdb_xdbc_types_exist_in_duckdb(duck: duckdb.DuckDBPyConnection) -> None:
    names = [t.type_name for t in DUCKDB_XDBC_TYPES]
    assert len(names) == len(set(names))
    assert {"BOOLEAN", "HUGEINT", "UBIGINT", "DECIMAL", "VARCHAR", "BLOB", "UUID", "INTERVAL"} <= set(names)
    assert {"TIMESTAMP WITH TIME ZONE", "TIME", "DATE", "DOUBLE"} <= set(names)
    valid_codes = set(pb.XdbcDataType.values())
    temporal_codes = {pb.XdbcDataType.XDBC_DATETIME, pb.XdbcDataType.XDBC_INTERVAL}
    for xdbc_type in DUCKDB_XDBC_TYPES:
        [(duck_type,)] = duck.sql(f"SELECT typeof(CAST(NULL AS {xdbc_type.type_name}))").fetchall()
        assert duck_type.split("(")[0] == xdbc_type.type_name
        assert xdbc_type.data_type in valid_codes and xdbc_type.sql_data_type in valid_codes
        is_temporal = xdbc_type.sql_data_type in temporal_codes
        assert (xdbc_type.datetime_subcode is not None) == is_temporal
        assert xdbc_type.sql_data_type == xdbc_type.data_type or is_temporal


_LITERAL_SAMPLES = {
    "VARCHAR": "it''s",
    "BLOB": "AB01",
    "UUID": "00000000-0000-0000-0000-00000000000A",
    "DATE": "2020-01-02",
    "TIME": "01:02:03.123456",
    "TIME_NS": "01:02:03.123456789",
    "TIME WITH TIME ZONE": "01:02:03+02",
    "TIMESTAMP": "2020-01-02 01:02:03",
    "TIMESTAMP_S": "2020-01-02 01:02:03",
    "TIMESTAMP_MS": "2020-01-02 01:02:03.123",
    "TIMESTAMP_NS": "2020-01-02 01:02:03.123456789",
    "TIMESTAMP WITH TIME ZONE": "2020-01-02 01:02:03+02",
    "TIMESTAMPTZ_NS": "2020-01-02 01:02:03+02",
    "INTERVAL": "1 day",
}


def test_duckdb_xdbc_literal_affixes_produce_the_type(duck: duckdb.DuckDBPyConnection) -> None:
    with_affixes = [t for t in DUCKDB_XDBC_TYPES if t.literal_prefix is not None]
    assert {t.type_name for t in with_affixes} == set(_LITERAL_SAMPLES)
    for xdbc_type in with_affixes:
        sample = _LITERAL_SAMPLES[xdbc_type.type_name]
        literal = f"{xdbc_type.literal_prefix}{sample}{xdbc_type.literal_suffix}"
        # Only typeof() is fetched: timezone-aware values would need pytz to reach Python.
        assert duck.sql(f"SELECT typeof({literal})").fetchall() == [(xdbc_type.type_name,)], literal


def test_duckdb_xdbc_table_builds() -> None:
    table = build_xdbc_type_info_table(DUCKDB_XDBC_TYPES, None)
    table.validate(full=True)
    assert table.num_rows == len(DUCKDB_XDBC_TYPES)
    for column in ("type_name", "data_type", "nullable", "case_sensitive", "searchable", "sql_data_type"):
        assert table[column].null_count == 0
    assert table["fixed_prec_scale"].null_count == 0
    timestamps = build_xdbc_type_info_table(DUCKDB_XDBC_TYPES, pb.XdbcDataType.XDBC_TIMESTAMP)
    assert timestamps["type_name"].to_pylist() == [
        "TIMESTAMP",
        "TIMESTAMP WITH TIME ZONE",
        "TIMESTAMPTZ_NS",
        "TIMESTAMP_MS",
        "TIMESTAMP_NS",
        "TIMESTAMP_S",
    ]
