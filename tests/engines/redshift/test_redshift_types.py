"""Redshift's text result format → Arrow, value by value, including the awkward ones."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pyarrow as pa
import pytest

from flight_gateway.engines.redshift import types as rt
from flight_gateway.errors import GatewayError


def _decode(oid: int, values: list[str | None], typmod: int = -1) -> list[object]:
    field = pa.field("c", rt.arrow_type(oid, typmod))
    batch = rt.BatchDecoder(pa.schema([field]), [oid])([(v,) for v in values])
    return batch.column(0).to_pylist()


def test_floats_keep_nan_and_infinities() -> None:
    got = _decode(rt.FLOAT8, ["1.5", "NaN", "Infinity", "-Infinity", None, "-0.25e-3"])
    assert got[0] == 1.5 and math.isnan(got[1]) and got[2] == math.inf and got[3] == -math.inf
    assert got[4] is None and got[5] == -0.00025


def test_integers_and_booleans() -> None:
    assert _decode(rt.INT8, ["9223372036854775807", "-1", None]) == [2**63 - 1, -1, None]
    assert _decode(rt.INT2, ["-32768"]) == [-32768]
    assert _decode(rt.BOOL, ["t", "f", None]) == [True, False, None]


def test_decimal_from_typmod_and_unconstrained_numeric() -> None:
    typmod = ((12 << 16) | 3) + 4
    assert rt.arrow_type(rt.NUMERIC, typmod) == pa.decimal128(12, 3)
    assert _decode(rt.NUMERIC, ["-123456789.123", "0.5", None], typmod) == [
        Decimal("-123456789.123"), Decimal("0.500"), None,
    ]  # fmt: skip
    assert rt.arrow_type(rt.NUMERIC, -1) == pa.string()
    assert _decode(rt.NUMERIC, ["1e-40"], -1) == ["1e-40"]


def test_dates_times_and_timestamps() -> None:
    assert _decode(rt.DATE, ["2026-11-22", None]) == [dt.date(2026, 11, 22), None]
    assert _decode(rt.TIME, ["23:59:59.999999", "00:00:00"]) == [dt.time(23, 59, 59, 999999), dt.time(0, 0)]
    assert _decode(rt.TIMESTAMP, ["2026-11-22 08:00:00.5"]) == [dt.datetime(2026, 11, 22, 8, 0, 0, 500000)]
    assert _decode(rt.TIMESTAMPTZ, ["2026-11-22 08:00:00+00"]) == [dt.datetime(2026, 11, 22, 8, tzinfo=dt.UTC)]
    assert _decode(rt.TIMETZ, ["10:00:00+02"]) == ["10:00:00+02"]


def test_binary_types_from_hex() -> None:
    assert _decode(rt.BYTEA, ["\\x00ff", None]) == [b"\x00\xff", None]
    assert _decode(rt.VARBYTE, ["616263"]) == [b"abc"]
    assert _decode(rt.GEOMETRY, ["0101000000000000000000F03F000000000000F03F"]) == [
        bytes.fromhex("0101000000000000000000F03F000000000000F03F")
    ]


def test_super_and_unknown_types_are_text() -> None:
    assert rt.arrow_type(rt.SUPER) == pa.string()
    assert rt.arrow_type(987654) == pa.string()
    assert _decode(rt.SUPER, ['{"a": [1, 2]}']) == ['{"a": [1, 2]}']


@pytest.mark.parametrize(
    ("name", "precision", "scale", "expected"),
    [
        ("character varying(20)", None, None, pa.string()),
        ("numeric(18,2)", 18, 2, pa.decimal128(18, 2)),
        ("timestamp with time zone", None, None, pa.timestamp("us", tz="UTC")),
        ("time without time zone", None, None, pa.time64("us")),
        ("super", None, None, pa.string()),
        ("varbyte", None, None, pa.binary()),
        ("geography", None, None, pa.binary()),
        ("hllsketch", None, None, pa.string()),
        ("double precision", 53, None, pa.float64()),
    ],
)
def test_catalog_types_match_query_types(
    name: str, precision: int | None, scale: int | None, expected: pa.DataType
) -> None:
    assert rt.catalog_type(name, precision, scale) == expected


def test_a_value_that_does_not_fit_is_a_data_error_naming_the_column() -> None:
    with pytest.raises(GatewayError) as info:
        _decode(rt.TIMESTAMP, ["infinity"])
    assert info.value.code == "DATA_ERROR" and "'c'" in info.value.message


def test_an_empty_result_is_one_empty_batch_of_the_schema() -> None:
    schema = pa.schema([pa.field("a", pa.int64()), pa.field("b", pa.string())])
    batch = rt.BatchDecoder(schema, [rt.INT8, rt.TEXT])([])
    assert batch.num_rows == 0 and batch.schema == schema
