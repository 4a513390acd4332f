"""PostgreSQL ↔ Arrow types: what results, describe() and the catalog report, and how bound
parameters are shaped so PostgreSQL accepts them.

The ADBC driver already decodes the binary COPY stream into Arrow; this module fixes what it
leaves vendor-specific: `numeric` arrives as an opaque string column. A constrained
`numeric(p, s)` becomes decimal128(p, s) (decimal256 up to 76 digits); an unconstrained
`numeric` stays a string, because no fixed Arrow decimal holds every value PostgreSQL allows
(up to 131072 digits, NaN, ±Infinity) — cast it in SQL (`x::numeric(18,4)`) to get a decimal.
Driver field metadata is dropped so describe() and the streamed result have identical schemas.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from flight_gateway.errors import GatewayError, Status

_OPAQUE = "arrow.opaque"
_TYPMOD = b"POSTGRESQL:typmod"
_TYPNAME = b"POSTGRESQL:type"
_MAX_DECIMAL256 = 76

# Scalar types by PostgreSQL type name, as the ADBC driver decodes them (catalog answers must
# match what a query on the same column returns).
_SCALARS: dict[str, pa.DataType] = {
    "bool": pa.bool_(),
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "oid": pa.int32(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "text": pa.string(),
    "varchar": pa.string(),
    "bpchar": pa.string(),
    "name": pa.string(),
    "char": pa.string(),
    "bytea": pa.binary(),
    "date": pa.date32(),
    "time": pa.time64("us"),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "interval": pa.month_day_nano_interval(),
    "uuid": pa.uuid(),
    "json": pa.json_(),
    "jsonb": pa.json_(),
}


def numeric_type(typmod: int) -> pa.DataType:
    """numeric(p, s) → decimal; unconstrained numeric (typmod -1) or p > 76 → string."""
    if typmod < 4:
        return pa.string()
    precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
    if precision <= 38:
        return pa.decimal128(precision, scale)
    if precision <= _MAX_DECIMAL256:
        return pa.decimal256(precision, scale)
    return pa.string()


def catalog_type(typname: str, typmod: int, element: str | None) -> pa.DataType:
    """The Arrow type of a column, from pg_type's name (arrays: `element` is the item type)."""
    if element is not None:
        return pa.list_(catalog_type(element, typmod, None))
    if typname == "numeric":
        return numeric_type(typmod)
    return _SCALARS.get(typname, pa.string())


def _gateway_type(data_type: pa.DataType, typmod: int) -> pa.DataType:
    if isinstance(data_type, pa.BaseExtensionType) and data_type.extension_name == _OPAQUE:
        storage = data_type.storage_type
        return numeric_type(typmod) if getattr(data_type, "type_name", "") == "numeric" else storage
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        return pa.list_(_gateway_type(data_type.value_type, -1))
    return data_type


def gateway_field(field: pa.Field) -> pa.Field:
    typmod = int((field.metadata or {}).get(_TYPMOD, b"-1"))
    return pa.field(field.name, _gateway_type(field.type, typmod), field.nullable)


def gateway_schema(schema: pa.Schema) -> pa.Schema:
    """The schema clients see for a driver schema (no driver metadata, numeric resolved)."""
    return pa.schema([gateway_field(f) for f in schema])


def _to_gateway(array: pa.Array, target: pa.DataType) -> pa.Array:
    if isinstance(array.type, pa.BaseExtensionType) and array.type.extension_name == _OPAQUE:
        array = array.storage
    if array.type.equals(target):
        return array
    if pa.types.is_list(target) and isinstance(array, pa.ListArray | pa.LargeListArray):
        values = _to_gateway(array.values, target.value_type)
        return pa.ListArray.from_arrays(array.offsets, values, mask=array.is_null())
    try:
        return pc.cast(array, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise GatewayError(
            Status.INVALID_ARGUMENT,
            "DATA_ERROR",
            f"a value does not fit the column's Arrow type {target} ({exc}); cast the column in SQL",
        ) from exc


def batch_converter(source: pa.Schema) -> Callable[[pa.RecordBatch], pa.RecordBatch]:
    """Turns the driver's batches into batches of gateway_schema(source); cheap when nothing changes."""
    target = gateway_schema(source)
    changed = [i for i, (s, t) in enumerate(zip(source, target, strict=True)) if not s.type.equals(t.type)]

    def convert(batch: pa.RecordBatch) -> pa.RecordBatch:
        columns = list(batch.columns)
        for i in changed:
            columns[i] = _to_gateway(columns[i], target.field(i).type)
        return pa.RecordBatch.from_arrays(columns, schema=target)

    return convert


# -- parameters ---------------------------------------------------------------------------------


def _max_scale(strings: pa.Array) -> int:
    scales = [len(s.split(".", 1)[1]) if "." in s else 0 for s in strings.to_pylist() if s is not None]
    return min(max(scales, default=0), 37)


def _bindable(array: pa.Array, expected: pa.Field) -> pa.Array:
    """The parameter column in the Arrow type the driver binds as PostgreSQL's inferred type.

    ADBC prepares with the bound Arrow types, so a string bound where PostgreSQL expects jsonb,
    uuid or numeric would fail with "expression is of type text"; typed NULLs likewise. Values
    that cannot be converted are bound as sent and PostgreSQL has the last word.
    """
    target = expected.type
    if isinstance(target, pa.BaseExtensionType) and target.extension_name == _OPAQUE:
        if getattr(target, "type_name", "") != "numeric" or not pa.types.is_string(array.type):
            return array
        target = pa.decimal128(38, _max_scale(array))
    if array.type.equals(target):
        return array
    if pa.types.is_fixed_size_binary(array.type) and target == pa.uuid():
        return pa.ExtensionArray.from_storage(pa.uuid(), array)
    try:
        if target == pa.uuid() and pa.types.is_string(array.type):
            from uuid import UUID

            values = [None if v is None else UUID(v).bytes for v in array.to_pylist()]
            return pa.ExtensionArray.from_storage(pa.uuid(), pa.array(values, pa.binary(16)))
        if isinstance(target, pa.BaseExtensionType):
            storage = pc.cast(array, target.storage_type)
            return pa.ExtensionArray.from_storage(target, storage)
        return pc.cast(array, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError):
        return array


def bindable_parameters(params: pa.RecordBatch, expected: pa.Schema) -> pa.RecordBatch:
    """Parameters shaped for the driver, given the schema PostgreSQL inferred when describing."""
    if params.num_columns != len(expected):
        raise GatewayError(
            Status.INVALID_ARGUMENT,
            "PARAMETER_MISMATCH",
            f"the statement has {len(expected)} parameter(s) but {params.num_columns} were bound; "
            "bind one value per parameter",
        )
    columns = [_bindable(params.column(i), expected.field(i)) for i in range(params.num_columns)]
    return pa.RecordBatch.from_arrays(columns, names=[f"${i + 1}" for i in range(len(columns))])


def parameter_schema(driver_schema: pa.Schema) -> pa.Schema:
    """The parameter schema clients see (numbered `$1`, …, like the SQL that names them)."""
    return gateway_schema(driver_schema)
