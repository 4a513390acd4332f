"""Every PostgreSQL type through the gateway: result columns, bound parameters, NULLs, arrays,
prepared statements and executemany — with real Flight SQL clients."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pyarrow as pa
import pytest
from conftest import RunningGateway
from pg_support import pg_database, pg_gateway, tenant
from services import PostgresService

UTC = dt.UTC
UID = uuid.UUID("12345678-1234-5678-1234-567812345678")

# (SQL type, SQL literal, Arrow type, Python value as the client reads it)
TYPES: list[tuple[str, str, pa.DataType, object]] = [
    ("int2", "7", pa.int16(), 7),
    ("int4", "-42", pa.int32(), -42),
    ("int8", "9000000000", pa.int64(), 9_000_000_000),
    ("numeric(10,2)", "12345.67", pa.decimal128(10, 2), Decimal("12345.67")),
    ("numeric(50,5)", "1.5", pa.decimal256(50, 5), Decimal("1.50000")),
    ("numeric", "3.14159265358979323846264338327950288", pa.string(), "3.14159265358979323846264338327950288"),
    ("float4", "1.5", pa.float32(), 1.5),
    ("float8", "2.25", pa.float64(), 2.25),
    ("bool", "true", pa.bool_(), True),
    ("text", "'héllo'", pa.string(), "héllo"),
    ("varchar(10)", "'abc'", pa.string(), "abc"),
    ("char(4)", "'ab'", pa.string(), "ab  "),
    ("bytea", "'\\x00ff'", pa.binary(), b"\x00\xff"),
    ("date", "'2024-02-29'", pa.date32(), dt.date(2024, 2, 29)),
    ("time", "'13:14:15.123456'", pa.time64("us"), dt.time(13, 14, 15, 123456)),
    ("timestamp", "'2024-01-02 03:04:05.5'", pa.timestamp("us"), dt.datetime(2024, 1, 2, 3, 4, 5, 500000)),
    ("timestamptz", "'2024-01-02 03:04:05+02'", pa.timestamp("us", tz="UTC"),
     dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)),
    ("interval", "'1 mon 2 days 00:00:03'", pa.month_day_nano_interval(), pa.MonthDayNano([1, 2, 3_000_000_000])),
    ("uuid", f"'{UID}'", pa.uuid(), UID),
    ("json", "'{\"a\": 1}'", pa.json_(), '{"a": 1}'),
    ("jsonb", "'{\"b\": [1, 2]}'", pa.json_(), '{"b": [1, 2]}'),
    ("int4[]", "'{1,NULL,3}'", pa.list_(pa.int32()), [1, None, 3]),
    ("text[]", "'{a,b}'", pa.list_(pa.string()), ["a", "b"]),
]  # fmt: skip
IDS = [t[0] for t in TYPES]


@pytest.fixture(scope="module")
def gw(postgres: PostgresService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with pg_database(postgres, "types") as db:
        columns = ", ".join(f"c{i} {sql_type}" for i, (sql_type, *_rest) in enumerate(TYPES))
        db.sql(f"create table everything (id int primary key, {columns})")
        password = db.role("types_user", grants=["grant select, insert, delete on everything to types_user"])
        running = pg_gateway(tmp_path_factory.mktemp("types"), [db.engine()], [tenant("t", "types_user", password)])
        yield running
        running.gateway.shutdown()


def _value(table: pa.Table, column: int = 0) -> object:
    value = table.column(column)[0]
    return value.as_py() if not isinstance(value.type, pa.MonthDayNanoIntervalType) else value.as_py()


@pytest.mark.parametrize(("sql_type", "literal", "arrow_type", "expected"), TYPES, ids=IDS)
def test_result_type_and_value(
    gw: RunningGateway, sql_type: str, literal: str, arrow_type: pa.DataType, expected: object
) -> None:
    with gw.connect("t") as conn, conn.cursor() as cur:
        cur.execute(f"select {literal}::{sql_type} as v, null::{sql_type} as n")
        table = cur.fetch_arrow_table()
    assert table.schema.field("v").type == arrow_type
    assert table.schema.field("n").type == arrow_type
    assert table.column("v").to_pylist() == [expected]
    assert table.column("n").to_pylist() == [None]


@pytest.mark.parametrize(("sql_type", "literal", "arrow_type", "expected"), TYPES, ids=IDS)
def test_bound_parameter_round_trip(
    gw: RunningGateway, sql_type: str, literal: str, arrow_type: pa.DataType, expected: object
) -> None:
    """The value PostgreSQL received equals the literal (compared in SQL), and comes back whole."""
    value = pa.array([expected, None], arrow_type)
    params = pa.record_batch([value.slice(0, 1), value.slice(1, 1)], names=["v", "n"])
    with gw.connect("t") as conn, conn.cursor() as cur:
        cur.execute(
            f"select $1::{sql_type} as v, $2::{sql_type} as n, "
            f"($1::{sql_type})::text = ({literal}::{sql_type})::text as same",
            params,
        )
        table = cur.fetch_arrow_table()
    assert table.column("same").to_pylist() == [True]
    assert table.column("v").to_pylist() == [expected]
    assert table.column("n").to_pylist() == [None]


def test_prepared_statement_schemas_and_executemany(gw: RunningGateway) -> None:
    placeholders = ", ".join(f"${i + 2}" for i in range(len(TYPES)))
    insert = f"insert into everything values ($1, {placeholders})"
    rows = 3
    columns = [pa.array(range(100, 100 + rows), pa.int32())]
    for _sql_type, _literal, arrow_type, expected in TYPES:
        columns.append(pa.array([expected, None, expected], arrow_type))  # NULLs in every column
    params = pa.record_batch(columns, names=[f"p{i}" for i in range(len(columns))])
    with gw.connect("t") as conn, conn.cursor() as cur:
        cur.adbc_prepare(insert)
        parameter_schema = cur.adbc_statement.get_parameter_schema()
        assert len(pa.schema(parameter_schema)) == len(TYPES) + 1
        cur.executemany(insert, params)
        assert cur.rowcount == rows
        cur.execute("select * from everything where id >= 100 order by id")
        table = cur.fetch_arrow_table()
        cur.execute("delete from everything where id >= 100")
        assert cur.fetchall() == [(rows,)]  # a statement without rows answers its count
    assert table.num_rows == rows
    for i, (_sql_type, _literal, arrow_type, expected) in enumerate(TYPES):
        assert table.schema.field(f"c{i}").type == arrow_type
        assert table.column(f"c{i}").to_pylist() == [expected, None, expected]


def test_describe_does_not_run_the_statement(gw: RunningGateway) -> None:
    """Preparing (Parse/Describe) an INSERT gives its parameter schema but inserts nothing."""
    with gw.connect("t") as conn, conn.cursor() as cur:
        cur.adbc_prepare("insert into everything (id, c0) values ($1, $2)")
        schema = pa.schema(cur.adbc_statement.get_parameter_schema())
        cur.execute("select count(*) as n from everything")
        assert cur.fetchall() == [(0,)]
    assert [f.type for f in schema] == [pa.int32(), pa.int16()]
