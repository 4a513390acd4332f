"""Catalog and server metadata through ADBC and raw Flight SQL commands, schemas checked exactly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as fl
import pytest
from conftest import RunningGateway, start_gateway
from google.protobuf import message

from flight_gateway import __version__
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol import schemas
from flight_gateway.protocol.commands import pack

DEMO_TABLES = [("customers", "TABLE"), ("line_items", "TABLE"), ("orders", "TABLE"), ("order_totals", "VIEW")]
CUSTOMERS_SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.int64(), nullable=False),
        pa.field("name", pa.utf8(), nullable=False),
        pa.field("region", pa.utf8(), nullable=False),
        pa.field("segment", pa.utf8(), nullable=True),
        pa.field("created_at", pa.timestamp("us"), nullable=False),
    ]
)
ORDERS_SCHEMA = pa.schema(
    [
        pa.field("order_id", pa.int64(), nullable=False),
        pa.field("customer_id", pa.int64(), nullable=False),
        pa.field("order_date", pa.date32(), nullable=False),
        pa.field("status", pa.utf8(), nullable=False),
        pa.field("total", pa.decimal128(12, 2), nullable=False),
    ]
)
NO_ACTION = 3  # UpdateDeleteRules.NO_ACTION


@pytest.fixture(scope="module")
def meta_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """A gateway of its own, so no other test's tables show up in the catalog."""
    running = start_gateway(tmp_path_factory.mktemp("metadata"))
    yield running
    running.gateway.shutdown()


@pytest.fixture(scope="module")
def conn(meta_gateway: RunningGateway) -> Iterator[flight_sql.Connection]:
    connection = meta_gateway.connect("acme")
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def flight(meta_gateway: RunningGateway) -> Iterator[tuple[fl.FlightClient, fl.FlightCallOptions]]:
    client, options = meta_gateway.flight_client("acme")
    yield client, options
    client.close()


def assert_exact_schema(actual: pa.Schema, expected: pa.Schema) -> None:
    """Names, types, nullability and (absent) metadata, down to nested children."""
    assert actual.equals(expected, check_metadata=True), f"\n{actual}\n!=\n{expected}"
    assert actual.metadata is None
    assert actual.serialize().to_pybytes() == expected.serialize().to_pybytes()


def run_command(
    flight: tuple[fl.FlightClient, fl.FlightCallOptions], cmd: message.Message
) -> tuple[fl.FlightInfo, pa.Table]:
    """GetFlightInfo + DoGet of every endpoint; each stream's schema must equal FlightInfo.schema."""
    client, options = flight
    info = client.get_flight_info(fl.FlightDescriptor.for_command(pack(cmd)), options)
    assert info.endpoints
    tables = []
    for endpoint in info.endpoints:
        reader = client.do_get(endpoint.ticket, options)
        assert_exact_schema(reader.schema, info.schema)
        tables.append(reader.read_all())
    table = pa.concat_tables(tables)
    assert_exact_schema(table.schema, info.schema)
    if info.total_records != -1:
        assert info.total_records == table.num_rows
    return info, table


def _constraint_names(conn: flight_sql.Connection) -> dict[tuple[str, str], str]:
    """(table, PRIMARY KEY|FOREIGN KEY) -> name, as DuckDB itself reports them."""
    with conn.cursor() as cur:
        cur.execute(
            "select table_name, constraint_type, constraint_name from duckdb_constraints() "
            "where constraint_type in ('PRIMARY KEY', 'FOREIGN KEY')"
        )
        return {(t, kind): name for t, kind, name in cur.fetchall()}


def _tables_of(objects: pa.Table) -> list[tuple[str, str, str, str, list[str] | None]]:
    out = []
    for catalog in objects.to_pylist():
        for schema in catalog["catalog_db_schemas"] or []:
            for table in schema["db_schema_tables"] or []:
                columns = table["table_columns"]
                names = None if columns is None else [c["column_name"] for c in columns]
                out.append(
                    (catalog["catalog_name"], schema["db_schema_name"], table["table_name"], table["table_type"], names)
                )
    return out


# -- ADBC --------------------------------------------------------------------------------------


def test_adbc_get_info(conn: flight_sql.Connection) -> None:
    info = conn.adbc_get_info()
    assert info["vendor_name"] == "flight-gateway"
    assert str(info["vendor_version"]).startswith(__version__)
    assert "DuckDB" in str(info["vendor_version"])
    assert info["vendor_arrow_version"] == pa.__version__


def test_get_objects_catalogs(conn: flight_sql.Connection) -> None:
    objects = conn.adbc_get_objects(depth="catalogs").read_all()
    assert [(r["catalog_name"], r["catalog_db_schemas"]) for r in objects.to_pylist()] == [("acme", None)]
    for pattern, expected in [
        ("acme", ["acme"]),
        ("ac%", ["acme"]),
        ("a_me", ["acme"]),
        ("glob%", []),
        ("%", ["acme"]),
    ]:
        got = conn.adbc_get_objects(depth="catalogs", catalog_filter=pattern).read_all()
        assert got.column("catalog_name").to_pylist() == expected, pattern


def test_get_objects_db_schemas(conn: flight_sql.Connection) -> None:
    for pattern, expected in [(None, ["main"]), ("main", ["main"]), ("m_in", ["main"]), ("ma%", ["main"]), ("x%", [])]:
        objects = conn.adbc_get_objects(depth="db_schemas", db_schema_filter=pattern).read_all().to_pylist()
        assert [c["catalog_name"] for c in objects] == ["acme"]
        got = [(s["db_schema_name"], s["db_schema_tables"]) for s in objects[0]["catalog_db_schemas"] or []]
        assert got == [(name, None) for name in expected], pattern


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, DEMO_TABLES),
        ({"table_name_filter": "customers"}, [("customers", "TABLE")]),
        ({"table_name_filter": "cust%"}, [("customers", "TABLE")]),
        ({"table_name_filter": "order_"}, [("orders", "TABLE")]),
        ({"table_name_filter": "order%"}, [("orders", "TABLE"), ("order_totals", "VIEW")]),
        ({"table_name_filter": "%_items"}, [("line_items", "TABLE")]),
        ({"table_name_filter": "nothing%"}, []),
        ({"table_types_filter": ["VIEW"]}, [("order_totals", "VIEW")]),
        ({"table_types_filter": ["TABLE"]}, DEMO_TABLES[:3]),
        (
            {"table_types_filter": ["TABLE", "VIEW"], "table_name_filter": "o%"},
            [("orders", "TABLE"), ("order_totals", "VIEW")],
        ),
        ({"table_types_filter": ["LOCAL TEMPORARY"]}, []),
        (
            {"catalog_filter": "acme", "db_schema_filter": "main", "table_name_filter": "line_items"},
            [("line_items", "TABLE")],
        ),
        ({"db_schema_filter": "other"}, []),
    ],
)
def test_get_objects_tables(
    conn: flight_sql.Connection, kwargs: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    tables = _tables_of(conn.adbc_get_objects(depth="tables", **kwargs).read_all())
    assert sorted((t[2], t[3]) for t in tables) == sorted(expected)
    assert all(t[:2] == ("acme", "main") for t in tables)
    assert all(t[4] is None for t in tables)  # no columns at this depth


@pytest.mark.parametrize("depth", ["columns", "all"])
def test_get_objects_columns(conn: flight_sql.Connection, depth: Literal["columns", "all"]) -> None:
    tables = _tables_of(conn.adbc_get_objects(depth=depth).read_all())
    assert {t[2]: t[4] for t in tables} == {
        "customers": CUSTOMERS_SCHEMA.names,
        "orders": ORDERS_SCHEMA.names,
        "line_items": ["order_id", "line_no", "product", "quantity", "price"],
        "order_totals": ["region", "orders", "revenue"],
    }
    objects = conn.adbc_get_objects(depth=depth, table_name_filter="customers").read_all().to_pylist()
    columns = objects[0]["catalog_db_schemas"][0]["db_schema_tables"][0]["table_columns"]
    assert [(c["column_name"], c["ordinal_position"], c["xdbc_data_type"]) for c in columns] == [
        ("customer_id", 1, pb.XdbcDataType.XDBC_BIGINT),
        ("name", 2, pb.XdbcDataType.XDBC_VARCHAR),
        ("region", 3, pb.XdbcDataType.XDBC_VARCHAR),
        ("segment", 4, pb.XdbcDataType.XDBC_VARCHAR),
        ("created_at", 5, pb.XdbcDataType.XDBC_TIMESTAMP),
    ]


@pytest.mark.parametrize(
    ("table_filter", "column_filter", "expected"),
    [
        ("orders", "%_id", {"orders": ["order_id", "customer_id"]}),
        ("orders", "status", {"orders": ["status"]}),
        ("customers", "c%", {"customers": ["customer_id", "created_at"]}),
        ("customers", "_egion", {"customers": ["region"]}),
        ("order%", "revenue", {"orders": [], "order_totals": ["revenue"]}),
    ],
)
def test_get_objects_column_filter(
    conn: flight_sql.Connection, table_filter: str, column_filter: str, expected: dict[str, list[str]]
) -> None:
    objects = conn.adbc_get_objects(
        depth="columns",
        catalog_filter="acme",
        db_schema_filter="main",
        table_name_filter=table_filter,
        column_name_filter=column_filter,
    ).read_all()
    assert {t[2]: t[4] for t in _tables_of(objects)} == expected


def test_get_table_schema(conn: flight_sql.Connection) -> None:
    customers = conn.adbc_get_table_schema("customers")
    assert customers.remove_metadata().equals(CUSTOMERS_SCHEMA)
    assert [f.nullable for f in customers] == [False, False, False, True, False]
    assert customers.field("customer_id").type == pa.int64()
    assert not customers.field("customer_id").nullable
    assert customers.field("segment").nullable
    orders = conn.adbc_get_table_schema("orders", catalog_filter="acme", db_schema_filter="main")
    assert orders.remove_metadata().equals(ORDERS_SCHEMA)
    view = conn.adbc_get_table_schema("order_totals")
    assert view.names == ["region", "orders", "revenue"]
    assert view.field("orders").type == pa.int64()


def test_get_table_types(conn: flight_sql.Connection) -> None:
    types = conn.adbc_get_table_types()
    assert set(types) >= {"TABLE", "VIEW"}
    assert len(types) == len(set(types))


# -- raw Flight SQL: catalog commands ----------------------------------------------------------


def test_raw_get_tables_with_schema(flight: tuple[fl.FlightClient, fl.FlightCallOptions]) -> None:
    cmd = pb.CommandGetTables(catalog="acme", table_name_filter_pattern="c_stomers", include_schema=True)
    info, table = run_command(flight, cmd)
    assert_exact_schema(info.schema, schemas.TABLES_SCHEMA_WITH_SCHEMA)
    rows = table.to_pylist()
    assert [(r["catalog_name"], r["db_schema_name"], r["table_name"], r["table_type"]) for r in rows] == [
        ("acme", "main", "customers", "TABLE")
    ]
    assert pa.ipc.read_schema(pa.py_buffer(rows[0]["table_schema"])).remove_metadata().equals(CUSTOMERS_SCHEMA)


@pytest.mark.parametrize(
    ("cmd", "expected"),
    [
        (pb.CommandGetTables(), DEMO_TABLES),
        (pb.CommandGetTables(catalog="acme", db_schema_filter_pattern="%"), DEMO_TABLES),
        (pb.CommandGetTables(catalog="globex"), []),
        (pb.CommandGetTables(table_types=["VIEW"]), [("order_totals", "VIEW")]),
        (
            pb.CommandGetTables(table_name_filter_pattern="%s", table_types=["TABLE"]),
            [("customers", "TABLE"), ("line_items", "TABLE"), ("orders", "TABLE")],
        ),
        (pb.CommandGetTables(db_schema_filter_pattern="nope"), []),
    ],
)
def test_raw_get_tables_filters(
    flight: tuple[fl.FlightClient, fl.FlightCallOptions], cmd: message.Message, expected: list[tuple[str, str]]
) -> None:
    info, table = run_command(flight, cmd)
    assert_exact_schema(info.schema, schemas.TABLES_SCHEMA)
    assert sorted((r["table_name"], r["table_type"]) for r in table.to_pylist()) == sorted(expected)


def test_raw_catalogs_and_schemas(flight: tuple[fl.FlightClient, fl.FlightCallOptions]) -> None:
    _, catalogs = run_command(flight, pb.CommandGetCatalogs())
    assert catalogs.to_pylist() == [{"catalog_name": "acme"}]
    _, db_schemas = run_command(flight, pb.CommandGetDbSchemas(catalog="acme", db_schema_filter_pattern="ma_n"))
    assert db_schemas.to_pylist() == [{"catalog_name": "acme", "db_schema_name": "main"}]
    _, none = run_command(flight, pb.CommandGetDbSchemas(catalog="globex"))
    assert none.num_rows == 0


@pytest.mark.parametrize(
    ("table", "columns"),
    [
        ("customers", ["customer_id"]),
        ("orders", ["order_id"]),
        ("line_items", ["order_id", "line_no"]),
        ("order_totals", []),
    ],
)
def test_primary_keys(
    flight: tuple[fl.FlightClient, fl.FlightCallOptions], conn: flight_sql.Connection, table: str, columns: list[str]
) -> None:
    info, result = run_command(flight, pb.CommandGetPrimaryKeys(table=table))
    assert_exact_schema(info.schema, schemas.PRIMARY_KEYS_SCHEMA)
    name = _constraint_names(conn).get((table, "PRIMARY KEY"))
    assert result.to_pylist() == [
        {
            "catalog_name": "acme",
            "db_schema_name": "main",
            "table_name": table,
            "column_name": column,
            "key_sequence": seq,
            "key_name": name,
        }
        for seq, column in enumerate(columns, start=1)
    ]
    _, qualified = run_command(flight, pb.CommandGetPrimaryKeys(catalog="acme", db_schema="main", table=table))
    assert qualified.equals(result)
    _, elsewhere = run_command(flight, pb.CommandGetPrimaryKeys(catalog="globex", table=table))
    assert elsewhere.num_rows == 0


def _fk_row(names: dict[tuple[str, str], str], pk_table: str, fk_table: str, column: str) -> dict[str, Any]:
    return {
        "pk_catalog_name": "acme",
        "pk_db_schema_name": "main",
        "pk_table_name": pk_table,
        "pk_column_name": column,
        "fk_catalog_name": "acme",
        "fk_db_schema_name": "main",
        "fk_table_name": fk_table,
        "fk_column_name": column,
        "key_sequence": 1,
        "fk_key_name": names[(fk_table, "FOREIGN KEY")],
        "pk_key_name": names[(pk_table, "PRIMARY KEY")],
        "update_rule": NO_ACTION,
        "delete_rule": NO_ACTION,
    }


# The demo's foreign keys: orders.customer_id -> customers, line_items.order_id -> orders.
_FK = {
    "orders->customers": ("customers", "orders", "customer_id"),
    "line_items->orders": ("orders", "line_items", "order_id"),
}


@pytest.mark.parametrize(
    ("cmd", "expected"),
    [
        (pb.CommandGetExportedKeys(table="customers"), ["orders->customers"]),
        (pb.CommandGetExportedKeys(table="orders"), ["line_items->orders"]),
        (pb.CommandGetExportedKeys(catalog="acme", db_schema="main", table="line_items"), []),
        (pb.CommandGetImportedKeys(table="orders"), ["orders->customers"]),
        (pb.CommandGetImportedKeys(table="line_items"), ["line_items->orders"]),
        (pb.CommandGetImportedKeys(catalog="acme", db_schema="main", table="customers"), []),
        (pb.CommandGetImportedKeys(catalog="globex", table="orders"), []),
        (pb.CommandGetCrossReference(pk_table="customers", fk_table="orders"), ["orders->customers"]),
        (
            pb.CommandGetCrossReference(
                pk_catalog="acme",
                pk_db_schema="main",
                pk_table="orders",
                fk_catalog="acme",
                fk_db_schema="main",
                fk_table="line_items",
            ),
            ["line_items->orders"],
        ),
        (pb.CommandGetCrossReference(pk_table="customers", fk_table="line_items"), []),
        (pb.CommandGetCrossReference(pk_table="orders", fk_table="customers"), []),
    ],
    ids=lambda v: type(v).__name__.removeprefix("CommandGet") if isinstance(v, message.Message) else None,
)
def test_foreign_keys(
    flight: tuple[fl.FlightClient, fl.FlightCallOptions],
    conn: flight_sql.Connection,
    cmd: message.Message,
    expected: list[str],
) -> None:
    info, result = run_command(flight, cmd)
    assert_exact_schema(info.schema, schemas.KEYS_SCHEMA)
    names = _constraint_names(conn)
    assert result.to_pylist() == [_fk_row(names, *_FK[key]) for key in expected]


# -- raw Flight SQL: SqlInfo and XdbcTypeInfo --------------------------------------------------


def _sql_info(table: pa.Table) -> list[tuple[int, int, Any]]:
    """(info_name, union type code, value) per row."""
    names = table.column("info_name").combine_chunks()
    values = table.column("value").combine_chunks()
    rows = []
    for i in range(table.num_rows):
        code = values.type_codes[i].as_py()
        rows.append((names[i].as_py(), code, values.field(code)[values.offsets[i].as_py()].as_py()))
    return rows


STRING, BOOL, BIGINT, INT32, STRING_LIST, INT_MAP = (
    schemas.SQL_INFO_TYPE_CODES[k] for k in schemas.SQL_INFO_TYPE_CODES
)


def test_sql_info_specific_ids(flight: tuple[fl.FlightClient, fl.FlightCallOptions]) -> None:
    i = pb.SqlInfo
    requested = [
        i.FLIGHT_SQL_SERVER_TRANSACTION,
        i.FLIGHT_SQL_SERVER_NAME,
        i.FLIGHT_SQL_SERVER_VERSION,
        i.FLIGHT_SQL_SERVER_ARROW_VERSION,
        i.FLIGHT_SQL_SERVER_CANCEL,
        i.FLIGHT_SQL_SERVER_READ_ONLY,
    ]
    info, table = run_command(flight, pb.CommandGetSqlInfo(info=requested))
    assert_exact_schema(info.schema, schemas.SQL_INFO_SCHEMA)
    rows = _sql_info(table)
    assert [r[0] for r in rows] == requested
    by_id = {r[0]: (r[1], r[2]) for r in rows}
    assert by_id[i.FLIGHT_SQL_SERVER_TRANSACTION] == (INT32, pb.SqlSupportedTransaction.SQL_SUPPORTED_TRANSACTION_NONE)
    assert by_id[i.FLIGHT_SQL_SERVER_TRANSACTION][1] == 0
    assert by_id[i.FLIGHT_SQL_SERVER_CANCEL] == (BOOL, True)
    assert by_id[i.FLIGHT_SQL_SERVER_NAME] == (STRING, "flight-gateway")
    assert by_id[i.FLIGHT_SQL_SERVER_ARROW_VERSION] == (STRING, pa.__version__)
    assert by_id[i.FLIGHT_SQL_SERVER_READ_ONLY] == (BOOL, False)
    code, version = by_id[i.FLIGHT_SQL_SERVER_VERSION]
    assert code == STRING and version.startswith(__version__)


def test_sql_info_all_ids(flight: tuple[fl.FlightClient, fl.FlightCallOptions]) -> None:
    info, table = run_command(flight, pb.CommandGetSqlInfo())
    assert_exact_schema(info.schema, schemas.SQL_INFO_SCHEMA)
    table.validate(full=True)
    rows = _sql_info(table)
    ids = [r[0] for r in rows]
    assert ids == sorted(set(ids))
    assert len(ids) > 50
    by_id = {r[0]: (r[1], r[2]) for r in rows}
    i = pb.SqlInfo
    assert by_id[i.FLIGHT_SQL_SERVER_NAME] == (STRING, "flight-gateway")
    assert by_id[i.FLIGHT_SQL_SERVER_TRANSACTION] == (INT32, 0)
    assert by_id[i.FLIGHT_SQL_SERVER_CANCEL] == (BOOL, True)
    assert by_id[i.SQL_IDENTIFIER_QUOTE_CHAR] == (STRING, '"')
    code, keywords = by_id[i.SQL_KEYWORDS]
    assert code == STRING_LIST and "SELECT" in keywords
    assert {r[1] for r in rows} >= {STRING, BOOL, BIGINT, INT32, STRING_LIST, INT_MAP}
    # Unknown ids are skipped rather than failing the request.
    _, some = run_command(flight, pb.CommandGetSqlInfo(info=[i.FLIGHT_SQL_SERVER_NAME, 999_999]))
    assert [r[0] for r in _sql_info(some)] == [i.FLIGHT_SQL_SERVER_NAME]


def test_xdbc_type_info_all(flight: tuple[fl.FlightClient, fl.FlightCallOptions]) -> None:
    info, table = run_command(flight, pb.CommandGetXdbcTypeInfo())
    assert_exact_schema(info.schema, schemas.XDBC_TYPE_INFO_SCHEMA)
    table.validate(full=True)
    rows = table.to_pylist()
    assert len(rows) > 10
    keys = [(r["data_type"], r["type_name"]) for r in rows]
    assert keys == sorted(keys)
    names = {r["type_name"]: r for r in rows}
    assert {"BIGINT", "VARCHAR", "BOOLEAN", "DOUBLE", "DATE", "TIMESTAMP", "DECIMAL"} <= set(names)
    assert names["BIGINT"]["data_type"] == pb.XdbcDataType.XDBC_BIGINT
    assert names["VARCHAR"]["data_type"] == pb.XdbcDataType.XDBC_VARCHAR


@pytest.mark.parametrize(
    ("data_type", "expected"),
    [
        (pb.XdbcDataType.XDBC_BIGINT, {"BIGINT", "UBIGINT"}),
        (pb.XdbcDataType.XDBC_VARCHAR, {"VARCHAR"}),
        (pb.XdbcDataType.XDBC_DATE, {"DATE"}),
        (12345, set()),
    ],
)
def test_xdbc_type_info_filtered(
    flight: tuple[fl.FlightClient, fl.FlightCallOptions], data_type: int, expected: set[str]
) -> None:
    info, table = run_command(flight, pb.CommandGetXdbcTypeInfo(data_type=data_type))
    assert_exact_schema(info.schema, schemas.XDBC_TYPE_INFO_SCHEMA)
    rows = table.to_pylist()
    assert {r["type_name"] for r in rows} == expected
    assert all(r["data_type"] == data_type for r in rows)


# -- GetSchema == FlightInfo.schema == DoGet schema == canonical -------------------------------


@pytest.mark.parametrize(
    ("cmd", "expected"),
    [
        (pb.CommandGetCatalogs(), schemas.CATALOGS_SCHEMA),
        (pb.CommandGetDbSchemas(), schemas.DB_SCHEMAS_SCHEMA),
        (pb.CommandGetTables(), schemas.TABLES_SCHEMA),
        (pb.CommandGetTables(include_schema=True), schemas.TABLES_SCHEMA_WITH_SCHEMA),
        (pb.CommandGetTableTypes(), schemas.TABLE_TYPES_SCHEMA),
        (pb.CommandGetPrimaryKeys(table="customers"), schemas.PRIMARY_KEYS_SCHEMA),
        (pb.CommandGetExportedKeys(table="customers"), schemas.KEYS_SCHEMA),
        (pb.CommandGetImportedKeys(table="orders"), schemas.KEYS_SCHEMA),
        (pb.CommandGetCrossReference(pk_table="customers", fk_table="orders"), schemas.KEYS_SCHEMA),
        (pb.CommandGetSqlInfo(), schemas.SQL_INFO_SCHEMA),
        (pb.CommandGetSqlInfo(info=[pb.SqlInfo.FLIGHT_SQL_SERVER_NAME]), schemas.SQL_INFO_SCHEMA),
        (pb.CommandGetXdbcTypeInfo(), schemas.XDBC_TYPE_INFO_SCHEMA),
        (pb.CommandGetXdbcTypeInfo(data_type=pb.XdbcDataType.XDBC_BIGINT), schemas.XDBC_TYPE_INFO_SCHEMA),
    ],
    ids=lambda v: type(v).__name__.removeprefix("CommandGet") if isinstance(v, message.Message) else "",
)
def test_metadata_schemas_agree(
    flight: tuple[fl.FlightClient, fl.FlightCallOptions], cmd: message.Message, expected: pa.Schema
) -> None:
    client, options = flight
    descriptor = fl.FlightDescriptor.for_command(pack(cmd))
    assert_exact_schema(client.get_schema(descriptor, options).schema, expected)
    info, table = run_command(flight, cmd)  # checks every DoGet stream against FlightInfo.schema
    assert_exact_schema(info.schema, expected)
    assert table.num_rows > 0


def test_table_types_raw(flight: tuple[fl.FlightClient, fl.FlightCallOptions]) -> None:
    _, table = run_command(flight, pb.CommandGetTableTypes())
    types = table.column("table_type").to_pylist()
    assert {"TABLE", "VIEW"} <= set(types)
    assert len(types) == len(set(types))


def test_query_flight_info_schema_equals_stream_schema(flight: tuple[fl.FlightClient, fl.FlightCallOptions]) -> None:
    cmd = pb.CommandStatementQuery(query="select * from orders where order_id <= 10")
    info, table = run_command(flight, cmd)
    assert [(f.name, f.type) for f in info.schema] == [(f.name, f.type) for f in ORDERS_SCHEMA]
    assert table.num_rows == 10
