"""Fixed Arrow result schemas of the Flight SQL metadata commands.

Clients (ADBC, the Arrow C++/Go/Java Flight SQL clients) compare these schemas with
``Schema.Equals``, which includes field names, child field names and nullability. They
therefore mirror the reference server implementation (``SqlSchema::Get*Schema()`` in
Arrow C++, ``schema_ref`` in arrow-go) rather than a literal reading of the comments in
FlightSql.proto, wherever the two differ (see the notes on SQL_INFO_SCHEMA and
PRIMARY_KEYS_SCHEMA).
"""

from __future__ import annotations

import pyarrow as pa

__all__ = [
    "CATALOGS_SCHEMA",
    "CROSS_REFERENCE_SCHEMA",
    "DB_SCHEMAS_SCHEMA",
    "EXPORTED_KEYS_SCHEMA",
    "IMPORTED_KEYS_SCHEMA",
    "KEYS_SCHEMA",
    "PRIMARY_KEYS_SCHEMA",
    "SQL_INFO_SCHEMA",
    "SQL_INFO_TYPE_CODES",
    "TABLES_SCHEMA",
    "TABLES_SCHEMA_WITH_SCHEMA",
    "TABLE_TYPES_SCHEMA",
    "XDBC_TYPE_INFO_SCHEMA",
]

CATALOGS_SCHEMA: pa.Schema = pa.schema([pa.field("catalog_name", pa.utf8(), nullable=False)])

DB_SCHEMAS_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("catalog_name", pa.utf8()),
        pa.field("db_schema_name", pa.utf8(), nullable=False),
    ]
)

_TABLES_FIELDS = [
    pa.field("catalog_name", pa.utf8()),
    pa.field("db_schema_name", pa.utf8()),
    pa.field("table_name", pa.utf8(), nullable=False),
    pa.field("table_type", pa.utf8(), nullable=False),
]

TABLES_SCHEMA: pa.Schema = pa.schema(_TABLES_FIELDS)

# Used when CommandGetTables.include_schema is set; table_schema holds an IPC-serialized
# Arrow schema per row.
TABLES_SCHEMA_WITH_SCHEMA: pa.Schema = pa.schema(
    [*_TABLES_FIELDS, pa.field("table_schema", pa.binary(), nullable=False)]
)

TABLE_TYPES_SCHEMA: pa.Schema = pa.schema([pa.field("table_type", pa.utf8(), nullable=False)])

# The proto comment lists key_name before key_sequence, but every reference implementation
# (Arrow C++, Go and Java) emits key_sequence first, and that is what clients check.
PRIMARY_KEYS_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("catalog_name", pa.utf8()),
        pa.field("db_schema_name", pa.utf8()),
        pa.field("table_name", pa.utf8(), nullable=False),
        pa.field("column_name", pa.utf8(), nullable=False),
        pa.field("key_sequence", pa.int32(), nullable=False),
        pa.field("key_name", pa.utf8()),
    ]
)

# Shared by CommandGetExportedKeys, CommandGetImportedKeys and CommandGetCrossReference.
# update_rule / delete_rule carry UpdateDeleteRules values.
KEYS_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("pk_catalog_name", pa.utf8()),
        pa.field("pk_db_schema_name", pa.utf8()),
        pa.field("pk_table_name", pa.utf8(), nullable=False),
        pa.field("pk_column_name", pa.utf8(), nullable=False),
        pa.field("fk_catalog_name", pa.utf8()),
        pa.field("fk_db_schema_name", pa.utf8()),
        pa.field("fk_table_name", pa.utf8(), nullable=False),
        pa.field("fk_column_name", pa.utf8(), nullable=False),
        pa.field("key_sequence", pa.int32(), nullable=False),
        pa.field("fk_key_name", pa.utf8()),
        pa.field("pk_key_name", pa.utf8()),
        pa.field("update_rule", pa.uint8(), nullable=False),
        pa.field("delete_rule", pa.uint8(), nullable=False),
    ]
)
EXPORTED_KEYS_SCHEMA: pa.Schema = KEYS_SCHEMA
IMPORTED_KEYS_SCHEMA: pa.Schema = KEYS_SCHEMA
CROSS_REFERENCE_SCHEMA: pa.Schema = KEYS_SCHEMA

# Union type code of each SqlInfo value kind, in declaration order. The codes equal the
# child positions, as in the reference servers.
SQL_INFO_TYPE_CODES: dict[str, int] = {
    "string_value": 0,
    "bool_value": 1,
    "bigint_value": 2,
    "int32_bitmask": 3,
    "string_list": 4,
    "int32_to_int32_list_map": 5,
}

# The proto comment names the list children "string_data" / "$data$" and says nothing about
# nullability, but the reference servers build the lists with the default child ("item",
# nullable) and declare every union child non-nullable. Clients that check the schema with
# Schema::Equals (e.g. the ADBC driver shipped in Arrow C++) reject any other shape.
_SQL_INFO_VALUE_TYPE = pa.dense_union(
    [
        pa.field("string_value", pa.utf8(), nullable=False),
        pa.field("bool_value", pa.bool_(), nullable=False),
        pa.field("bigint_value", pa.int64(), nullable=False),
        pa.field("int32_bitmask", pa.int32(), nullable=False),
        pa.field("string_list", pa.list_(pa.utf8()), nullable=False),
        pa.field("int32_to_int32_list_map", pa.map_(pa.int32(), pa.list_(pa.int32())), nullable=False),
    ],
    type_codes=list(SQL_INFO_TYPE_CODES.values()),
)

SQL_INFO_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("info_name", pa.uint32(), nullable=False),
        pa.field("value", _SQL_INFO_VALUE_TYPE, nullable=False),
    ]
)

XDBC_TYPE_INFO_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("type_name", pa.utf8(), nullable=False),
        pa.field("data_type", pa.int32(), nullable=False),
        pa.field("column_size", pa.int32()),
        pa.field("literal_prefix", pa.utf8()),
        pa.field("literal_suffix", pa.utf8()),
        pa.field("create_params", pa.list_(pa.field("item", pa.utf8(), nullable=False))),
        pa.field("nullable", pa.int32(), nullable=False),
        pa.field("case_sensitive", pa.bool_(), nullable=False),
        pa.field("searchable", pa.int32(), nullable=False),
        pa.field("unsigned_attribute", pa.bool_()),
        pa.field("fixed_prec_scale", pa.bool_(), nullable=False),
        pa.field("auto_increment", pa.bool_()),
        pa.field("local_type_name", pa.utf8()),
        pa.field("minimum_scale", pa.int32()),
        pa.field("maximum_scale", pa.int32()),
        pa.field("sql_data_type", pa.int32(), nullable=False),
        pa.field("datetime_subcode", pa.int32()),
        pa.field("num_prec_radix", pa.int32()),
        pa.field("interval_precision", pa.int32()),
    ]
)
