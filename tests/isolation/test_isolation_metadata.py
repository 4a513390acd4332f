"""Metadata through the gateway shows a tenant what its database login may read, and nothing else:
no other tenant's private schema, no table it has no privilege on, no column hidden from it.

The oracle is PostgreSQL's own information_schema, read by the same login straight from the
database: it lists only what that login has privileges on.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from adbc_driver_flightsql.dbapi import Error as AdbcError

from flight_gateway.protocol import flightsql_pb2 as pb
from isolation.conftest import IsolatedGateway
from isolation.gateway_client import assert_clean, command
from isolation.isolation_db import VISIBLE_ORDER_COLUMNS

TENANTS = ["acme", "globex"]
USER_TABLES = {
    "acme": {"acme_private.plans", "shared.customers", "shared.notes", "shared.order_totals", "shared.orders"},
    "globex": {"shared.customers", "shared.notes", "shared.order_totals", "shared.orders"},
}


def _system(schema: str) -> bool:
    return schema.startswith("pg_") or schema == "information_schema"


def _oracle_tables(iso: IsolatedGateway, tenant: str) -> dict[str, list[str]]:
    """table -> columns, as information_schema shows them to the tenant's login."""
    with iso.direct(tenant) as conn:
        found = conn.execute(
            "SELECT table_schema || '.' || table_name, column_name FROM information_schema.columns"
            " WHERE table_schema NOT LIKE 'pg\\_%' AND table_schema <> 'information_schema'"
            " ORDER BY 1, ordinal_position"
        ).fetchall()
    tables: dict[str, list[str]] = {}
    for table, column in found:
        tables.setdefault(table, []).append(column)
    return tables


def _objects(iso: IsolatedGateway, tenant: str) -> list[dict[str, Any]]:
    with iso.connect(tenant) as conn:
        result: list[dict[str, Any]] = conn.adbc_get_objects(depth="all").read_all().to_pylist()
    return result


@pytest.mark.parametrize("tenant", TENANTS)
def test_get_objects_lists_exactly_the_readable_tables_and_columns(iso: IsolatedGateway, tenant: str) -> None:
    oracle = _oracle_tables(iso, tenant)
    assert set(oracle) == USER_TABLES[tenant]  # the database is set up as the tests believe
    listed: dict[str, list[str]] = {}
    for catalog in _objects(iso, tenant):
        for schema in catalog["catalog_db_schemas"] or []:
            if _system(schema["db_schema_name"]):
                continue
            for table in schema["db_schema_tables"] or []:
                name = f"{schema['db_schema_name']}.{table['table_name']}"
                listed[name] = [column["column_name"] for column in table["table_columns"] or []]
    assert listed == oracle
    assert listed["shared.orders"] == VISIBLE_ORDER_COLUMNS


@pytest.mark.parametrize("tenant", TENANTS)
def test_get_catalogs_lists_only_the_tenants_database(iso: IsolatedGateway, tenant: str) -> None:
    client, options = iso.flight(tenant)
    with client:
        catalogs = command(client, options, pb.CommandGetCatalogs()).column("catalog_name").to_pylist()
    assert catalogs == [iso.names.database]


def test_get_db_schemas_hides_the_foreign_private_schema(iso: IsolatedGateway) -> None:
    listed = {}
    for tenant in TENANTS:
        client, options = iso.flight(tenant)
        with client:
            table = command(client, options, pb.CommandGetDbSchemas())
        listed[tenant] = {s for s in table.column("db_schema_name").to_pylist() if not _system(s)}
    assert "acme_private" in listed["acme"]
    assert "acme_private" not in listed["globex"]
    assert "shared" in listed["globex"]
    client, options = iso.flight("globex")
    with client:
        filtered = command(client, options, pb.CommandGetDbSchemas(db_schema_filter_pattern="acme%"))
    assert filtered.num_rows == 0


@pytest.mark.parametrize("tenant", TENANTS)
def test_get_tables_with_schemas_hides_tables_and_columns(iso: IsolatedGateway, tenant: str) -> None:
    client, options = iso.flight(tenant)
    with client:
        table = command(client, options, pb.CommandGetTables(include_schema=True))
    found = {}
    for row in table.to_pylist():
        if not _system(row["db_schema_name"]):
            schema = pa.ipc.read_schema(pa.py_buffer(row["table_schema"]))
            found[f"{row['db_schema_name']}.{row['table_name']}"] = schema.names
    assert set(found) == USER_TABLES[tenant]
    assert found["shared.orders"] == VISIBLE_ORDER_COLUMNS


def test_get_tables_by_pattern_finds_nothing_foreign(iso: IsolatedGateway) -> None:
    client, options = iso.flight("globex")
    with client:
        for cmd in (
            pb.CommandGetTables(db_schema_filter_pattern="acme_private"),
            pb.CommandGetTables(table_name_filter_pattern="plans"),
            pb.CommandGetTables(table_name_filter_pattern="audit%"),
        ):
            assert command(client, options, cmd).num_rows == 0


@pytest.mark.parametrize("tenant", TENANTS)
def test_table_schema_has_no_hidden_column(iso: IsolatedGateway, tenant: str) -> None:
    with iso.connect(tenant) as conn:
        assert conn.adbc_get_table_schema("orders", db_schema_filter="shared").names == VISIBLE_ORDER_COLUMNS


def test_table_schema_of_a_foreign_private_table_is_refused(iso: IsolatedGateway) -> None:
    with iso.connect("globex") as conn, pytest.raises(AdbcError) as caught:
        conn.adbc_get_table_schema("plans", db_schema_filter="acme_private")
    assert_clean(caught.value, "customer_id", "gold", iso.login("acme"))


def _keys(iso: IsolatedGateway, tenant: str, cmd: Any) -> list[dict[str, Any]]:
    client, options = iso.flight(tenant)
    with client:
        return list(command(client, options, cmd).to_pylist())


EXPORTED = pb.CommandGetExportedKeys(db_schema="shared", table="customers")
CROSS = pb.CommandGetCrossReference(pk_db_schema="shared", pk_table="customers", fk_db_schema="acme_private",
                                    fk_table="plans")  # fmt: skip


def _fk_tables(iso: IsolatedGateway, tenant: str, cmd: Any) -> set[tuple[str, str]]:
    return {(k["fk_db_schema_name"], k["fk_table_name"]) for k in _keys(iso, tenant, cmd)}


def test_keys_of_readable_tables_are_listed(iso: IsolatedGateway) -> None:
    """Without this, the tests below could pass by listing no keys at all."""
    for schema, table in (("shared", "orders"), ("acme_private", "plans")):
        keys = _keys(iso, "acme", pb.CommandGetPrimaryKeys(db_schema=schema, table=table))
        assert [k["column_name"] for k in keys] == ["id"]
    assert _fk_tables(iso, "acme", EXPORTED) == {("acme_private", "plans"), ("shared", "orders")}
    assert _fk_tables(iso, "globex", EXPORTED) == {("shared", "orders")}
    assert len(_keys(iso, "acme", CROSS)) == 1


def test_keys_never_name_what_the_tenant_cannot_read(iso: IsolatedGateway) -> None:
    assert _keys(iso, "globex", pb.CommandGetPrimaryKeys(db_schema="acme_private", table="plans")) == []
    assert _keys(iso, "globex", pb.CommandGetPrimaryKeys(table="plans")) == []
    for tenant in TENANTS:
        assert _keys(iso, tenant, pb.CommandGetPrimaryKeys(db_schema="shared", table="audit_log")) == []
    assert ("acme_private", "plans") not in _fk_tables(iso, "globex", EXPORTED)
    assert _keys(iso, "globex", pb.CommandGetImportedKeys(db_schema="acme_private", table="plans")) == []
    assert _keys(iso, "globex", CROSS) == []
