"""ADBC DB-API (and low-level ADBC, polars, pandas) against a real gateway on the demo tenants."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from conftest import DEMO_ROWS, RunningGateway

Connect = Callable[..., flight_sql.Connection]

CUSTOMERS = max(10, DEMO_ROWS // 20)
ORDERS = max(20, DEMO_ROWS // 4)
LINE_ITEMS = 3 * ORDERS


def _table_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def _scalar(conn: flight_sql.Connection, sql: str, params: Any = None) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
        assert row is not None
        assert cur.fetchone() is None
        return row[0]


def test_demo_sizes_match_the_generator(connect: Connect) -> None:
    conn = connect("acme")
    assert _scalar(conn, "select count(*) from customers") == CUSTOMERS == 100
    assert _scalar(conn, "select count(*) from orders") == ORDERS == 500
    assert _scalar(conn, "select count(*) from line_items") == LINE_ITEMS == 1500
    # Every order has exactly three line items and points at an existing customer.
    assert _scalar(conn, "select count(distinct order_id) from line_items") == ORDERS
    assert _scalar(conn, "select count(*) from orders o join customers c using (customer_id)") == ORDERS


def test_fetchone_fetchmany_fetchall(connect: Connect) -> None:
    with connect("acme").cursor() as cur:
        cur.execute("select customer_id, name from customers order by customer_id")
        assert cur.fetchone() == (1, "acme customer 1")
        assert cur.fetchmany(3) == [(2, "acme customer 2"), (3, "acme customer 3"), (4, "acme customer 4")]
        rest = cur.fetchall()
        assert len(rest) == CUSTOMERS - 4
        assert rest[0] == (5, "acme customer 5")
        assert rest[-1] == (CUSTOMERS, f"acme customer {CUSTOMERS}")
        assert [r[0] for r in rest] == list(range(5, CUSTOMERS + 1))
        assert cur.fetchone() is None
        assert cur.fetchall() == []


def test_description_names_and_types(connect: Connect) -> None:
    with connect("acme").cursor() as cur:
        cur.execute("select * from customers limit 1")
        assert cur.description is not None
        columns = [(d[0], d[1]) for d in cur.description]
        assert columns == [
            ("customer_id", pa.int64()),
            ("name", pa.string()),
            ("region", pa.string()),
            ("segment", pa.string()),
            ("created_at", pa.timestamp("us")),
        ]
        assert len(cur.fetchall()) == 1


def test_fetch_arrow_table(connect: Connect) -> None:
    with connect("acme").cursor() as cur:
        cur.execute("select order_id, customer_id, order_date, status, total from orders order by order_id")
        table = cur.fetch_arrow_table()
    assert table.num_rows == ORDERS
    assert table.schema.names == ["order_id", "customer_id", "order_date", "status", "total"]
    assert table.schema.field("order_id").type == pa.int64()
    assert table.schema.field("order_date").type == pa.date32()
    assert table.schema.field("total").type == pa.decimal128(12, 2)
    assert table.column("order_id").to_pylist() == list(range(1, ORDERS + 1))
    assert set(table.column("status").to_pylist()) <= {"open", "shipped", "delivered", "returned"}
    assert all(1 <= c <= CUSTOMERS for c in table.column("customer_id").to_pylist())


def test_fetch_record_batch_streams_all_rows(connect: Connect) -> None:
    n = 300_000
    with connect("acme").cursor() as cur:
        cur.execute(f"select range as id from range({n})")
        reader = cur.fetch_record_batch()
        assert reader.schema.names == ["id"]
        rows = total = batches = 0
        for batch in reader:
            batches += 1
            rows += batch.num_rows
            total += sum(batch.column(0).to_pylist())
    assert rows == n
    assert total == n * (n - 1) // 2
    assert batches >= 2  # really streamed in several batches, not one blob


def test_order_totals_match_line_items(connect: Connect) -> None:
    conn = connect("acme")
    with conn.cursor() as cur:
        cur.execute("select order_id, total from orders order by order_id")
        totals = dict(cur.fetchall())
        cur.execute("select order_id, quantity, price from line_items")
        computed: dict[int, Decimal] = {}
        for order_id, quantity, price in cur.fetchall():
            computed[order_id] = computed.get(order_id, Decimal(0)) + quantity * price
    assert totals == computed


@pytest.mark.parametrize(
    ("value", "expected_type"),
    [
        (42, int),
        (-(2**40), int),
        (2.5, float),
        ("héllo 'quoted'", str),
        (None, type(None)),
        (dt.date(2024, 2, 29), dt.date),
        (dt.datetime(2024, 2, 29, 13, 14, 15, 123456), dt.datetime),
        (Decimal("12345.67"), Decimal),
        (b"\x00\xffbinary", bytes),
        (True, bool),
        (False, bool),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else repr(v)[:24],
)
def test_execute_with_parameter(connect: Connect, value: Any, expected_type: type) -> None:
    with connect("acme").cursor() as cur:
        cur.execute("select ? as v", (value,))
        row = cur.fetchone()
        assert cur.fetchone() is None
    assert row is not None
    assert row[0] == value
    assert type(row[0]) is expected_type


def test_execute_with_several_parameters_in_where(connect: Connect) -> None:
    with connect("acme").cursor() as cur:
        cur.execute(
            "select customer_id, name from customers where customer_id between ? and ? and name like ? "
            "order by customer_id",
            (3, 6, "acme customer %"),
        )
        assert cur.fetchall() == [(i, f"acme customer {i}") for i in range(3, 7)]
        cur.execute("select count(*) from orders where customer_id = ?", (7,))
        by_param = cur.fetchone()
        cur.execute("select count(*) from orders where customer_id = 7")
        assert by_param == cur.fetchone()


def test_ddl_dml_and_executemany(connect: Connect) -> None:
    table = _table_name("many")
    conn = connect("acme")
    rows = [
        (1, 1.5, "one", dt.date(2024, 1, 1), Decimal("1.10"), True),
        (2, None, "two", dt.date(2024, 1, 2), Decimal("2.20"), False),
        (3, 3.5, None, None, None, None),
    ]
    with conn.cursor() as cur:
        cur.execute(f"create table {table} (id integer, f double, s varchar, d date, m decimal(10, 2), b boolean)")
        cur.executemany(f"insert into {table} values (?, ?, ?, ?, ?, ?)", rows)
        assert cur.rowcount == len(rows)
        cur.execute(f"select * from {table} order by id")
        assert cur.fetchall() == rows
        cur.execute(f"update {table} set s = 'changed' where id >= ?", (2,))
        cur.execute(f"delete from {table} where id = ?", (1,))
        cur.execute(f"select id, s from {table} order by id")
        assert cur.fetchall() == [(2, "changed"), (3, "changed")]
        cur.executemany(f"delete from {table} where id = ?", [(2,), (3,), (4,)])
        assert cur.rowcount == 2
        cur.execute(f"select count(*) from {table}")
        assert cur.fetchone() == (0,)
        cur.execute(f"drop table {table}")


def test_ddl_and_dml_through_a_prepared_query_take_effect_without_fetch(connect: Connect) -> None:
    table = _table_name("nofetch")
    writer = connect("acme")
    with writer.cursor() as cur:
        cur.execute(f"create table {table} (a integer)")  # never fetched
        cur.execute(f"insert into {table} values (1), (2), (3)")  # never fetched
        cur.execute(f"insert into {table} values (?)", (4,))  # never fetched
    with connect("acme").cursor() as cur:
        cur.execute(f"select a from {table} order by a")
        assert cur.fetchall() == [(1,), (2,), (3,), (4,)]
        cur.execute(f"drop table {table}")


def test_execute_partitions_equal_direct_query(connect: Connect) -> None:
    sql = "select order_id, customer_id, total from orders order by order_id"
    conn = connect("acme")
    with conn.cursor() as cur:
        cur.execute(sql)
        direct = cur.fetch_arrow_table()
    with conn.cursor() as cur:
        partitions, schema = cur.adbc_execute_partitions(sql)
        assert partitions
        assert schema is not None
        assert schema.equals(direct.schema)
        parts = []
        for partition in partitions:
            cur.adbc_read_partition(partition)
            parts.append(cur.fetch_arrow_table())
    combined = pa.concat_tables(parts)
    assert combined.schema.equals(direct.schema)
    assert combined.num_rows == ORDERS
    assert combined.sort_by("order_id").equals(direct)


def test_low_level_statement_update_without_prepare(gateway: RunningGateway) -> None:
    table = _table_name("lowlevel")
    with (
        adbc_driver_flightsql.connect(gateway.uri, db_kwargs={"username": "acme", "password": gateway.password}) as db,
        adbc_driver_manager.AdbcConnection(db) as conn,
    ):
        with adbc_driver_manager.AdbcStatement(conn) as stmt:
            stmt.set_sql_query(f"create table {table} (a bigint, s varchar)")
            stmt.execute_update()
        with adbc_driver_manager.AdbcStatement(conn) as stmt:
            stmt.set_sql_query(f"insert into {table} select range, 'r' || range from range(7)")
            assert stmt.execute_update() == 7
        with adbc_driver_manager.AdbcStatement(conn) as stmt:
            stmt.set_sql_query(f"delete from {table} where a >= 5")
            assert stmt.execute_update() == 2
        with adbc_driver_manager.AdbcStatement(conn) as stmt:
            stmt.set_sql_query(f"select a, s from {table} order by a")
            handle, _ = stmt.execute_query()
            result = pa.RecordBatchReader._import_from_c(handle.address).read_all()
        assert result.to_pydict() == {"a": [0, 1, 2, 3, 4], "s": ["r0", "r1", "r2", "r3", "r4"]}
        with adbc_driver_manager.AdbcStatement(conn) as stmt:
            stmt.set_sql_query(f"drop table {table}")
            stmt.execute_update()


def test_polars_read_database(connect: Connect) -> None:
    conn = connect("acme")
    frame = pl.read_database(
        "select region, count(*) as n, min(customer_id) as first_id from customers group by region order by region",
        conn,
    )
    with conn.cursor() as cur:
        cur.execute("select region, customer_id from customers")
        expected: dict[str, list[int]] = {}
        for region, customer_id in cur.fetchall():
            expected.setdefault(region, []).append(customer_id)
    assert frame.columns == ["region", "n", "first_id"]
    assert frame["region"].to_list() == sorted(expected)
    assert frame["n"].to_list() == [len(expected[r]) for r in sorted(expected)]
    assert frame["first_id"].to_list() == [min(expected[r]) for r in sorted(expected)]
    assert frame["n"].sum() == CUSTOMERS


def test_pandas_read_sql(connect: Connect) -> None:
    conn = connect("acme")
    frame = pd.read_sql("select * from line_items order by order_id, line_no", conn)
    assert len(frame) == LINE_ITEMS
    assert list(frame.columns) == ["order_id", "line_no", "product", "quantity", "price"]
    assert frame["order_id"].nunique() == ORDERS
    assert sorted(frame["line_no"].unique().tolist()) == [1, 2, 3]
    assert set(frame["product"]) <= {"widget", "gadget", "gizmo", "doohickey", "sprocket"}
    assert frame["quantity"].between(1, 9).all()
    revenue = sum(Decimal(str(p)) * q for p, q in zip(frame["price"], frame["quantity"], strict=True))
    assert _scalar(conn, "select sum(total) from orders") == revenue


def test_tenants_see_only_their_own_rows(connect: Connect) -> None:
    acme, globex = connect("acme"), connect("globex")
    for tenant, conn in (("acme", acme), ("globex", globex)):
        with conn.cursor() as cur:
            cur.execute("select name from customers")
            names = [r[0] for r in cur.fetchall()]
        assert len(names) == CUSTOMERS
        assert all(n.startswith(f"{tenant} customer ") for n in names), names[:3]
    # The tenants' datasets differ (seeded by tenant id), not just their names.
    assert _scalar(acme, "select sum(total) from orders") != _scalar(globex, "select sum(total) from orders")
    with globex.cursor() as cur, pytest.raises(adbc_driver_manager.ProgrammingError) as info:
        cur.execute("select * from acme.main.customers")
    assert info.value.status_code == adbc_driver_manager.AdbcStatusCode.NOT_FOUND


def test_tables_created_by_one_tenant_are_invisible_to_another(connect: Connect) -> None:
    table = _table_name("private")
    acme, globex = connect("acme"), connect("globex")
    with acme.cursor() as cur:
        cur.execute(f"create table {table} (secret varchar)")
        cur.execute(f"insert into {table} values ('acme only')")
    try:
        with globex.cursor() as cur, pytest.raises(adbc_driver_manager.ProgrammingError) as info:
            cur.execute(f"select * from {table}")
        assert info.value.status_code == adbc_driver_manager.AdbcStatusCode.NOT_FOUND
        objects = globex.adbc_get_objects(depth="tables", table_name_filter=table).read_all()
        tables = [
            t["table_name"]
            for catalog in objects.to_pylist()
            for schema in catalog["catalog_db_schemas"] or []
            for t in schema["db_schema_tables"] or []
        ]
        assert tables == []
        assert _scalar(acme, f"select secret from {table}") == "acme only"
    finally:
        with acme.cursor() as cur:
            cur.execute(f"drop table {table}")
