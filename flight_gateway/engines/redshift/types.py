"""Redshift ↔ Arrow types, and the fast decoder from Redshift's text result format to Arrow.

Redshift sends results only in the text format (its leader node has no binary transfer), so
every value arrives as a string. The session fetches them as Python strings (psycopg's C text
loader, no per-type Python parsing) and this module turns each column into its Arrow type
with one vectorized Arrow cast per batch — the step where redshift_connector spends its time
parsing values one by one in Python.

Choices clients see (also in docs/engines/redshift.md):
* SUPER → string holding the JSON text; HLLSKETCH → string; INTERVAL → string (Redshift's text).
* GEOMETRY / GEOGRAPHY → binary: the EWKB bytes Redshift prints as hex.
* VARBYTE / VARBINARY (and PostgreSQL bytea) → binary.
* TIMETZ → string (Arrow has no time-with-offset type); TIMESTAMPTZ → timestamp[us, UTC]
  (sessions run with TimeZone = UTC); TIME → time64[us]; TIMESTAMP → timestamp[us].
* DECIMAL(p, s) → decimal128(p, s); NUMERIC without a declared precision → string.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from flight_gateway.errors import GatewayError, Status

Decoder = Callable[[pa.Array], pa.Array]

# Type OIDs as Redshift reports them (PostgreSQL's where the two agree).
BOOL, BYTEA, CHAR, NAME, INT8, INT2, INT4, TEXT, OID = 16, 17, 18, 19, 20, 21, 23, 25, 26
JSON, FLOAT4, FLOAT8, BPCHAR, VARCHAR, DATE, TIME = 114, 700, 701, 1042, 1043, 1082, 1083
TIMESTAMP, TIMESTAMPTZ, INTERVAL, TIMETZ, NUMERIC, UUID, JSONB = 1114, 1184, 1186, 1266, 1700, 2950, 3802
GEOMETRY, GEOGRAPHY, SUPER, VARBYTE = 3000, 3001, 4000, 6551

_BY_OID: dict[int, pa.DataType] = {
    BOOL: pa.bool_(),
    INT2: pa.int16(),
    INT4: pa.int32(),
    INT8: pa.int64(),
    OID: pa.int64(),
    FLOAT4: pa.float32(),
    FLOAT8: pa.float64(),
    DATE: pa.date32(),
    TIME: pa.time64("us"),
    TIMESTAMP: pa.timestamp("us"),
    TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
    BYTEA: pa.binary(),
    VARBYTE: pa.binary(),
    GEOMETRY: pa.binary(),
    GEOGRAPHY: pa.binary(),
}

# SVV_ALL_COLUMNS.data_type (format_type names) → the OID a query on the column reports.
_BY_NAME: dict[str, int] = {
    "boolean": BOOL, "bool": BOOL,
    "smallint": INT2, "int2": INT2,
    "integer": INT4, "int": INT4, "int4": INT4,
    "bigint": INT8, "int8": INT8,
    "real": FLOAT4, "float4": FLOAT4,
    "double precision": FLOAT8, "float8": FLOAT8, "float": FLOAT8,
    "date": DATE,
    "time without time zone": TIME, "time": TIME,
    "time with time zone": TIMETZ, "timetz": TIMETZ,
    "timestamp without time zone": TIMESTAMP, "timestamp": TIMESTAMP,
    "timestamp with time zone": TIMESTAMPTZ, "timestamptz": TIMESTAMPTZ,
    "bytea": BYTEA, "varbyte": VARBYTE, "binary varying": VARBYTE, "varbinary": VARBYTE,
    "geometry": GEOMETRY, "geography": GEOGRAPHY,
    "numeric": NUMERIC, "decimal": NUMERIC,
}  # fmt: skip


def numeric_type(precision: int | None, scale: int | None) -> pa.DataType:
    if precision is None or not 0 < precision <= 38:
        return pa.string()
    return pa.decimal128(precision, scale or 0)


def numeric_typmod(typmod: int) -> tuple[int | None, int | None]:
    if typmod < 4:
        return None, None
    return ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF


def arrow_type(oid: int, typmod: int = -1) -> pa.DataType:
    """The Arrow type of a result column, from its type OID and modifier."""
    if oid == NUMERIC:
        return numeric_type(*numeric_typmod(typmod))
    return _BY_OID.get(oid, pa.string())


def catalog_type(data_type: str, precision: int | None, scale: int | None) -> pa.DataType:
    """The Arrow type of a table column as SVV_ALL_COLUMNS describes it (same as a query on it)."""
    name = data_type.lower().split("(", 1)[0].strip()
    oid = _BY_NAME.get(name)
    if oid == NUMERIC:
        return numeric_type(precision, scale)
    return _BY_OID.get(oid, pa.string()) if oid is not None else pa.string()


def _hex_bytes(column: pa.Array) -> pa.Array:
    # bytea prints as \x<hex>, VARBYTE and GEOMETRY/GEOGRAPHY (EWKB) as bare hex.
    values = [None if v is None else bytes.fromhex(v[2:] if v.startswith("\\x") else v) for v in column.to_pylist()]
    return pa.array(values, pa.binary())


def _boolean(column: pa.Array) -> pa.Array:
    return pc.equal(column, "t")


def _time(column: pa.Array) -> pa.Array:
    # Arrow casts strings to timestamps but not to times: parse as a time on 1970-01-01.
    stamped = pc.cast(pc.binary_join_element_wise("1970-01-01 ", column, ""), pa.timestamp("us"))
    return pc.cast(stamped, pa.time64("us"))


def decoder(target: pa.DataType, oid: int) -> Decoder:
    """How a text column (Arrow strings) becomes `target`."""
    if oid == BOOL:
        return _boolean
    if pa.types.is_binary(target):
        return _hex_bytes
    if pa.types.is_string(target):
        return lambda column: column
    if pa.types.is_time(target):
        return _time
    return lambda column: pc.cast(column, target)


class BatchDecoder:
    """Rows of strings (as psycopg hands them over) → record batches of `schema`."""

    def __init__(self, schema: pa.Schema, oids: Sequence[int]) -> None:
        self.schema = schema
        self._decoders = [decoder(field.type, oid) for field, oid in zip(schema, oids, strict=True)]

    def __call__(self, rows: Sequence[tuple[str | None, ...]]) -> pa.RecordBatch:
        if not self._decoders:
            return pa.RecordBatch.from_arrays([], schema=self.schema)
        columns = zip(*rows, strict=True) if rows else [() for _ in self._decoders]
        arrays = []
        for field, decode, values in zip(self.schema, self._decoders, columns, strict=True):
            try:
                arrays.append(decode(pa.array(values, pa.string())))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                raise GatewayError(
                    Status.INVALID_ARGUMENT,
                    "DATA_ERROR",
                    f"column {field.name!r}: a value does not fit the Arrow type {field.type} ({exc}); "
                    "cast the column in SQL (e.g. to varchar)",
                ) from exc
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)
