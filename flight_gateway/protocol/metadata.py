"""Catalog metadata commands: Flight SQL message in, canonical Arrow table out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from google.protobuf import message

from flight_gateway.engines.base import Catalog, ForeignKeyColumn, TableFilter
from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol import schemas


def _opt(cmd: Any, field: str) -> str | None:
    return getattr(cmd, field) if cmd.HasField(field) else None


def _catalogs(catalog: Catalog, cmd: Any) -> pa.Table:
    return pa.Table.from_pydict({"catalog_name": catalog.catalogs()}, schema=schemas.CATALOGS_SCHEMA)


def _db_schemas(catalog: Catalog, cmd: Any) -> pa.Table:
    rows = catalog.schemas(_opt(cmd, "catalog"), _opt(cmd, "db_schema_filter_pattern"))
    return pa.Table.from_pydict(
        {"catalog_name": [r[0] for r in rows], "db_schema_name": [r[1] for r in rows]},
        schema=schemas.DB_SCHEMAS_SCHEMA,
    )


def _tables(catalog: Catalog, cmd: Any) -> pa.Table:
    where = TableFilter(
        catalog=_opt(cmd, "catalog"),
        schema_pattern=_opt(cmd, "db_schema_filter_pattern"),
        table_pattern=_opt(cmd, "table_name_filter_pattern"),
        table_types=tuple(cmd.table_types),
    )
    refs = catalog.tables(where)
    columns: dict[str, list[Any]] = {
        "catalog_name": [t.catalog for t in refs],
        "db_schema_name": [t.schema for t in refs],
        "table_name": [t.name for t in refs],
        "table_type": [t.type for t in refs],
    }
    if not cmd.include_schema:
        return pa.Table.from_pydict(columns, schema=schemas.TABLES_SCHEMA)
    columns["table_schema"] = [catalog.table_schema(t).serialize().to_pybytes() for t in refs]
    return pa.Table.from_pydict(columns, schema=schemas.TABLES_SCHEMA_WITH_SCHEMA)


def _table_types(catalog: Catalog, cmd: Any) -> pa.Table:
    return pa.Table.from_pydict({"table_type": catalog.table_types()}, schema=schemas.TABLE_TYPES_SCHEMA)


def _primary_keys(catalog: Catalog, cmd: Any) -> pa.Table:
    keys = catalog.primary_keys(_opt(cmd, "catalog"), _opt(cmd, "db_schema"), cmd.table)
    return pa.Table.from_pydict(
        {
            "catalog_name": [k.catalog for k in keys],
            "db_schema_name": [k.schema for k in keys],
            "table_name": [k.table for k in keys],
            "column_name": [k.column for k in keys],
            "key_sequence": [k.seq for k in keys],
            "key_name": [k.name for k in keys],
        },
        schema=schemas.PRIMARY_KEYS_SCHEMA,
    )


def _keys_table(keys: list[ForeignKeyColumn]) -> pa.Table:
    fields = [
        "pk_catalog", "pk_schema", "pk_table", "pk_column", "fk_catalog", "fk_schema", "fk_table",
        "fk_column", "seq", "fk_name", "pk_name", "update_rule", "delete_rule",
    ]  # fmt: skip
    data = {
        field.name: [getattr(k, attr) for k in keys] for field, attr in zip(schemas.KEYS_SCHEMA, fields, strict=True)
    }
    return pa.Table.from_pydict(data, schema=schemas.KEYS_SCHEMA)


def _exported_keys(catalog: Catalog, cmd: Any) -> pa.Table:
    keys = catalog.foreign_keys((_opt(cmd, "catalog"), _opt(cmd, "db_schema"), cmd.table), (None, None, None))
    keys.sort(key=lambda k: (k.fk_catalog, k.fk_schema, k.fk_table, k.fk_name or "", k.seq))
    return _keys_table(keys)


def _imported_keys(catalog: Catalog, cmd: Any) -> pa.Table:
    keys = catalog.foreign_keys((None, None, None), (_opt(cmd, "catalog"), _opt(cmd, "db_schema"), cmd.table))
    keys.sort(key=lambda k: (k.pk_catalog, k.pk_schema, k.pk_table, k.pk_name or "", k.seq))
    return _keys_table(keys)


def _cross_reference(catalog: Catalog, cmd: Any) -> pa.Table:
    keys = catalog.foreign_keys(
        (_opt(cmd, "pk_catalog"), _opt(cmd, "pk_db_schema"), cmd.pk_table),
        (_opt(cmd, "fk_catalog"), _opt(cmd, "fk_db_schema"), cmd.fk_table),
    )
    keys.sort(key=lambda k: (k.fk_catalog, k.fk_schema, k.fk_table, k.fk_name or "", k.seq))
    return _keys_table(keys)


@dataclass(frozen=True)
class MetadataCommand:
    schema: Callable[[Any], pa.Schema]
    table: Callable[[Catalog, Any], pa.Table]


def _fixed(schema: pa.Schema) -> Callable[[Any], pa.Schema]:
    return lambda cmd: schema


# Commands answered from the tenant's catalog, by message type.
CATALOG_COMMANDS: dict[type[message.Message], MetadataCommand] = {
    pb.CommandGetCatalogs: MetadataCommand(_fixed(schemas.CATALOGS_SCHEMA), _catalogs),
    pb.CommandGetDbSchemas: MetadataCommand(_fixed(schemas.DB_SCHEMAS_SCHEMA), _db_schemas),
    pb.CommandGetTables: MetadataCommand(
        lambda cmd: schemas.TABLES_SCHEMA_WITH_SCHEMA if cmd.include_schema else schemas.TABLES_SCHEMA,
        _tables,
    ),
    pb.CommandGetTableTypes: MetadataCommand(_fixed(schemas.TABLE_TYPES_SCHEMA), _table_types),
    pb.CommandGetPrimaryKeys: MetadataCommand(_fixed(schemas.PRIMARY_KEYS_SCHEMA), _primary_keys),
    pb.CommandGetExportedKeys: MetadataCommand(_fixed(schemas.KEYS_SCHEMA), _exported_keys),
    pb.CommandGetImportedKeys: MetadataCommand(_fixed(schemas.KEYS_SCHEMA), _imported_keys),
    pb.CommandGetCrossReference: MetadataCommand(_fixed(schemas.KEYS_SCHEMA), _cross_reference),
}
