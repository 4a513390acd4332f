"""CommandGetSqlInfo: the result table builder. The values are engine facts (the defaults in
`engines/duckdb/sqlinfo.py`, each engine's differences as `Engine.sql_info`); this module only
encodes them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

from flight_gateway.engines.typeinfo import Int32Bitmask, SqlDialectInfo, SqlInfoValue, bitmask
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.schemas import SQL_INFO_SCHEMA, SQL_INFO_TYPE_CODES

__all__ = [
    "Int32Bitmask",
    "SqlInfoValue",
    "bitmask",
    "build_sql_info_table",
    "dialect_sql_info",
]

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _check_int32(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, got {value!r}")
    if not _INT32_MIN <= value <= _INT32_MAX:
        raise ValueError(f"{what} {value} does not fit in int32")
    return value


def _selected_ids(values: Mapping[int, SqlInfoValue], requested: Sequence[int]) -> list[int]:
    if not requested:
        return sorted(values)
    # Request order is kept (it is the row order clients see); repeats would only duplicate
    # rows, and ids the server does not know are dropped instead of failing the request.
    return [info for info in dict.fromkeys(requested) if info in values]


def build_sql_info_table(values: Mapping[int, SqlInfoValue], requested: Sequence[int]) -> pa.Table:
    """Rows of SQL_INFO_SCHEMA for ``requested`` ids (all ids, ascending, when empty)."""
    ids = _selected_ids(values, requested)
    type_ids: list[int] = []
    offsets: list[int] = []
    columns: dict[str, list[object]] = {kind: [] for kind in SQL_INFO_TYPE_CODES}

    def add(kind: str, item: object) -> None:
        type_ids.append(SQL_INFO_TYPE_CODES[kind])
        offsets.append(len(columns[kind]))
        columns[kind].append(item)

    for info in ids:
        if not 0 <= info <= 0xFFFFFFFF:
            raise ValueError(f"SqlInfo id {info} does not fit in uint32")
        value = values[info]
        # Order matters: bool is an int subclass.
        if isinstance(value, Int32Bitmask):
            add("int32_bitmask", value.value)
        elif isinstance(value, bool):
            add("bool_value", value)
        elif isinstance(value, int):
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise ValueError(f"SqlInfo {info}: {value} does not fit in int64")
            add("bigint_value", value)
        elif isinstance(value, str):
            add("string_value", value)
        elif isinstance(value, list):
            if not all(isinstance(item, str) for item in value):
                raise TypeError(f"SqlInfo {info}: string lists may only hold str")
            add("string_list", list(value))
        elif isinstance(value, dict):
            entries = [
                (_check_int32(key, "map key"), [_check_int32(v, "map value") for v in items])
                for key, items in value.items()
            ]
            add("int32_to_int32_list_map", entries)
        else:
            raise TypeError(f"SqlInfo {info}: unsupported value type {type(value).__name__}")

    value_type = SQL_INFO_SCHEMA.field("value").type
    children = [
        pa.array(columns[kind], value_type.field(position).type) for position, kind in enumerate(SQL_INFO_TYPE_CODES)
    ]
    union = pa.UnionArray.from_dense(
        pa.array(type_ids, pa.int8()),
        pa.array(offsets, pa.int32()),
        children,
        list(SQL_INFO_TYPE_CODES),
        list(SQL_INFO_TYPE_CODES.values()),
    )
    # from_dense marks the children nullable; view() re-labels them to the canonical
    # (non-nullable) union type without copying buffers.
    batch = pa.RecordBatch.from_arrays([pa.array(ids, pa.uint32()), union.view(value_type)], schema=SQL_INFO_SCHEMA)
    return pa.Table.from_batches([batch], schema=SQL_INFO_SCHEMA)


def dialect_sql_info(info: SqlDialectInfo) -> dict[int, SqlInfoValue]:
    """An engine's differences from the defaults (`Engine.sql_info`) as SqlInfo values."""
    values: dict[int, SqlInfoValue] = {}
    if info.identifier_case is not None:
        values[pb.SqlInfo.SQL_IDENTIFIER_CASE] = int(info.identifier_case)
    if info.quoted_identifier_case is not None:
        values[pb.SqlInfo.SQL_QUOTED_IDENTIFIER_CASE] = int(info.quoted_identifier_case)
    if info.null_ordering is not None:
        values[pb.SqlInfo.SQL_NULL_ORDERING] = int(info.null_ordering)
    if info.catalog_term is not None:
        values[pb.SqlInfo.SQL_CATALOG_TERM] = info.catalog_term
    if info.schemas_supported_actions is not None:
        values[pb.SqlInfo.SQL_SCHEMAS_SUPPORTED_ACTIONS] = bitmask(*sorted(info.schemas_supported_actions))
    if info.catalogs_supported_actions is not None:
        values[pb.SqlInfo.SQL_CATALOGS_SUPPORTED_ACTIONS] = bitmask(*sorted(info.catalogs_supported_actions))
    if info.procedure_term is not None:
        values[pb.SqlInfo.SQL_PROCEDURE_TERM] = info.procedure_term
    if info.bulk_ingestion is not None:
        values[pb.SqlInfo.FLIGHT_SQL_SERVER_BULK_INGESTION] = info.bulk_ingestion
    return values
