"""Flight SQL metadata commands against PostgreSQL, as each tenant's database user sees the
catalog: names of schemas, tables, views and columns it holds no privilege on never appear."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.flight as fl
import pytest
from conftest import RunningGateway
from google.protobuf import message
from pg_support import pg_database, pg_gateway, tenant
from services import PostgresService

from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack


@pytest.fixture(scope="module")
def gw(postgres: PostgresService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with pg_database(postgres, "meta") as db:
        db.sql(
            "create schema sales",
            "create schema hr",  # nobody below may use it
            "create table sales.customers (id int primary key, name text not null, secret_note text)",
            "create table sales.orders (id int, line int, customer_id int references sales.customers on delete cascade,"
            " amount numeric(12,2), primary key (id, line))",
            "create view sales.big_orders as select * from sales.orders where amount > 100",
            "create table sales.audit (x int)",  # no grant for anyone
            "create table hr.salaries (who text, amount int)",
            "create table public.shared (k text primary key)",
        )
        reader = db.role(
            "meta_reader",
            grants=[
                "grant usage on schema sales to meta_reader",
                "grant select (id, name) on sales.customers to meta_reader",  # not secret_note
                "grant select on sales.orders, sales.big_orders, public.shared to meta_reader",
            ],
        )
        outsider = db.role("meta_outsider", grants=["grant select on public.shared to meta_outsider"])
        running = pg_gateway(
            tmp_path_factory.mktemp("meta"),
            [db.engine()],
            [tenant("reader", "meta_reader", reader), tenant("outsider", "meta_outsider", outsider)],
        )
        running.database = db.name  # type: ignore[attr-defined]
        yield running
        running.gateway.shutdown()


def command(gw: RunningGateway, tenant_id: str, cmd: message.Message) -> pa.Table:
    client, options = gw.flight_client(tenant_id)
    try:
        info = client.get_flight_info(fl.FlightDescriptor.for_command(pack(cmd)), options)
        reader = client.do_get(info.endpoints[0].ticket, options)
        assert reader.schema.equals(info.schema)
        return reader.read_all()
    finally:
        client.close()


def rows(table: pa.Table, *columns: str) -> list[tuple[Any, ...]]:
    return list(zip(*(table.column(c).to_pylist() for c in columns), strict=True))


def test_catalogs_is_the_connected_database(gw: RunningGateway) -> None:
    table = command(gw, "reader", pb.CommandGetCatalogs())
    assert table.column("catalog_name").to_pylist() == [gw.database]  # type: ignore[attr-defined]


def test_schemas_only_those_the_user_may_use(gw: RunningGateway) -> None:
    assert command(gw, "reader", pb.CommandGetDbSchemas()).column("db_schema_name").to_pylist() == ["public", "sales"]
    assert command(gw, "outsider", pb.CommandGetDbSchemas()).column("db_schema_name").to_pylist() == ["public"]
    filtered = command(gw, "reader", pb.CommandGetDbSchemas(db_schema_filter_pattern="sa%"))
    assert filtered.column("db_schema_name").to_pylist() == ["sales"]
    # A pattern is a bound parameter: quotes in it are data, not SQL.
    assert command(gw, "reader", pb.CommandGetDbSchemas(db_schema_filter_pattern="x' or '1'='1")).num_rows == 0


def test_tables_and_views_by_privilege(gw: RunningGateway) -> None:
    table = command(gw, "reader", pb.CommandGetTables(include_schema=True))
    assert rows(table, "db_schema_name", "table_name", "table_type") == [
        ("public", "shared", "TABLE"),
        ("sales", "big_orders", "VIEW"),
        ("sales", "customers", "TABLE"),
        ("sales", "orders", "TABLE"),
    ]
    names = set(table.column("table_name").to_pylist())
    assert not names & {"audit", "salaries"}
    schemas = {
        name: pa.ipc.read_schema(pa.py_buffer(raw))
        for name, raw in zip(
            table.column("table_name").to_pylist(), table.column("table_schema").to_pylist(), strict=True
        )
    }
    # Only the columns granted; types as a query on them returns.
    assert schemas["customers"].names == ["id", "name"]
    assert schemas["customers"].field("name").nullable is False
    amount = schemas["orders"].field("amount").metadata
    assert amount[b"ARROW:FLIGHT:SQL:TYPE_NAME"] == b"numeric(12,2)"
    assert (amount[b"ARROW:FLIGHT:SQL:PRECISION"], amount[b"ARROW:FLIGHT:SQL:SCALE"]) == (b"12", b"2")
    assert schemas["big_orders"].field("id").metadata[b"ARROW:FLIGHT:SQL:IS_READ_ONLY"] == b"1"
    orders = schemas["orders"]
    assert [orders.field(n).type for n in orders.names] == [pa.int32(), pa.int32(), pa.int32(), pa.decimal128(12, 2)]
    outsider = command(gw, "outsider", pb.CommandGetTables())
    assert outsider.column("table_name").to_pylist() == ["shared"]


def test_table_filters(gw: RunningGateway) -> None:
    views = command(gw, "reader", pb.CommandGetTables(table_types=["VIEW"]))
    assert views.column("table_name").to_pylist() == ["big_orders"]
    by_name = command(
        gw, "reader", pb.CommandGetTables(db_schema_filter_pattern="sales", table_name_filter_pattern="c%")
    )
    assert by_name.column("table_name").to_pylist() == ["customers"]
    other_db = command(gw, "reader", pb.CommandGetTables(catalog="postgres"))
    assert other_db.num_rows == 0


def test_table_types(gw: RunningGateway) -> None:
    types = command(gw, "reader", pb.CommandGetTableTypes()).column("table_type").to_pylist()
    assert {"TABLE", "VIEW"} <= set(types)


def test_primary_keys(gw: RunningGateway) -> None:
    keys = command(gw, "reader", pb.CommandGetPrimaryKeys(db_schema="sales", table="orders"))
    assert rows(keys, "column_name", "key_sequence") == [("id", 1), ("line", 2)]
    assert command(gw, "outsider", pb.CommandGetPrimaryKeys(db_schema="sales", table="orders")).num_rows == 0


def test_foreign_keys(gw: RunningGateway) -> None:
    imported = command(gw, "reader", pb.CommandGetImportedKeys(db_schema="sales", table="orders"))
    assert rows(imported, "pk_table_name", "pk_column_name", "fk_column_name", "delete_rule") == [
        ("customers", "id", "customer_id", 0)  # 0 = CASCADE
    ]
    exported = command(gw, "reader", pb.CommandGetExportedKeys(db_schema="sales", table="customers"))
    assert rows(exported, "fk_table_name", "fk_column_name") == [("orders", "customer_id")]
    cross = command(
        gw, "reader", pb.CommandGetCrossReference(pk_db_schema="sales", pk_table="customers", fk_table="orders")
    )
    assert cross.num_rows == 1
    assert command(gw, "outsider", pb.CommandGetImportedKeys(db_schema="sales", table="orders")).num_rows == 0


def test_adbc_get_objects_through_the_driver(gw: RunningGateway) -> None:
    with gw.connect("outsider") as conn:
        objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
    tables = [
        t["table_name"] for c in objects for s in c["catalog_db_schemas"] or [] for t in s["db_schema_tables"] or []
    ]
    assert tables == ["shared"]


def test_sql_info_describes_postgresql(gw: RunningGateway) -> None:
    # 1 = FLIGHT_SQL_SERVER_VERSION, 508 = SQL_KEYWORDS, 509 = SQL_NUMERIC_FUNCTIONS
    info = command(gw, "reader", pb.CommandGetSqlInfo(info=[1, 508, 509, 503, 507, 531]))
    values = dict(zip(info.column("info_name").to_pylist(), info.column("value").to_pylist(), strict=True))
    assert "PostgreSQL 18" in values[1]
    # Unquoted identifiers fold to lower case, NULLs sort high, catalogs are databases.
    assert values[503] == pb.SqlSupportedCaseSensitivity.SQL_CASE_SENSITIVITY_LOWERCASE
    assert values[507] == pb.SqlNullOrdering.SQL_NULLS_SORTED_HIGH
    assert values[531] == "database"
    assert "ANALYSE" in values[508]  # a PostgreSQL-only keyword
    assert {"abs", "width_bucket"} <= set(values[509])


def test_xdbc_type_info_is_postgresqls(gw: RunningGateway) -> None:
    types = command(gw, "reader", pb.CommandGetXdbcTypeInfo()).column("type_name").to_pylist()
    assert {"integer", "numeric", "text", "bytea", "timestamp with time zone", "uuid"} <= set(types)
    assert "HUGEINT" not in types
