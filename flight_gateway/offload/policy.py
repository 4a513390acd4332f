"""When to offload: the tenant's mode, the caller's hint, and a result size guess from the schema."""

from __future__ import annotations

import pyarrow as pa

from flight_gateway.errors import ErrorCode, error

# Values of the `x-flight-gateway-delivery` call header (auth.flight.DELIVERY_HEADER) and the
# offload mode each one selects for that call.
DELIVERY_HINTS = {"offload": "always", "stream": "never", "auto": "auto"}
_VARIABLE_WIDTH_BYTES = 32
_NESTED_BYTES = 64


def offload_mode(default: str, tenant_mode: str | None, hint: str | None) -> str:
    """auto | always | never for one call: the caller's hint wins over the tenant's mode, which
    wins over the gateway's default."""
    if hint is not None and hint.strip():
        mode = DELIVERY_HINTS.get(hint.strip().lower())
        if mode is None:
            raise error(
                ErrorCode.BAD_DELIVERY_HINT,
                f"x-flight-gateway-delivery must be one of {', '.join(DELIVERY_HINTS)}, got {hint.strip()[:40]!r}",
            )
        return mode
    return tenant_mode or default


def _type_bytes(data_type: pa.DataType) -> int:
    if pa.types.is_boolean(data_type) or pa.types.is_null(data_type):
        return 1
    if pa.types.is_dictionary(data_type):
        return _type_bytes(data_type.index_type)
    if pa.types.is_struct(data_type):
        return sum(_type_bytes(data_type.field(i).type) for i in range(data_type.num_fields))
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type) or pa.types.is_map(data_type):
        return _NESTED_BYTES
    try:
        width = int(data_type.bit_width)
    except ValueError:  # variable width: strings, binaries
        return _VARIABLE_WIDTH_BYTES
    return max(1, width // 8)


def estimated_row_bytes(schema: pa.Schema) -> int:
    """A row's size in Arrow, guessed from its types (strings and lists by a typical length)."""
    return max(1, sum(_type_bytes(f.type) for f in schema))


def _parquet_type(data_type: pa.DataType) -> bool:
    if pa.types.is_interval(data_type) or pa.types.is_null(data_type):
        return False
    if pa.types.is_dictionary(data_type):
        return _parquet_type(data_type.value_type)
    if pa.types.is_struct(data_type):
        return data_type.num_fields > 0 and all(
            _parquet_type(data_type.field(i).type) for i in range(data_type.num_fields)
        )
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        return _parquet_type(data_type.value_type)
    if pa.types.is_map(data_type):
        return _parquet_type(data_type.key_type) and _parquet_type(data_type.item_type)
    return True


def parquet_compatible(schema: pa.Schema) -> bool:
    """Whether Parquet can carry the result and give back exactly these types (intervals and
    bare nulls it cannot): results that it cannot stay streamed."""
    return all(_parquet_type(f.type) for f in schema)
