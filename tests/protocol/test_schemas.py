"""Flight SQL wire definitions: generated protobuf messages and the fixed result schemas.

Expectations are written out by hand from the Flight SQL spec and the Arrow C++
reference server, independently of the code under test.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from google.protobuf import any_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol import schemas

PACKAGE = "arrow.flight.protocol.sql"

# message -> "name type number [?=optional|*=repeated]" per field, as in FlightSql.proto.
EXPECTED_MESSAGES: dict[str, str] = {
    "CommandGetSqlInfo": "info uint32 1 *",
    "CommandGetXdbcTypeInfo": "data_type int32 1 ?",
    "CommandGetCatalogs": "",
    "CommandGetDbSchemas": "catalog string 1 ?; db_schema_filter_pattern string 2 ?",
    "CommandGetTables": (
        "catalog string 1 ?; db_schema_filter_pattern string 2 ?; table_name_filter_pattern string 3 ?;"
        " table_types string 4 *; include_schema bool 5"
    ),
    "CommandGetTableTypes": "",
    "CommandGetPrimaryKeys": "catalog string 1 ?; db_schema string 2 ?; table string 3",
    "CommandGetExportedKeys": "catalog string 1 ?; db_schema string 2 ?; table string 3",
    "CommandGetImportedKeys": "catalog string 1 ?; db_schema string 2 ?; table string 3",
    "CommandGetCrossReference": (
        "pk_catalog string 1 ?; pk_db_schema string 2 ?; pk_table string 3;"
        " fk_catalog string 4 ?; fk_db_schema string 5 ?; fk_table string 6"
    ),
    "ActionCreatePreparedStatementRequest": "query string 1; transaction_id bytes 2 ?",
    "SubstraitPlan": "plan bytes 1; version string 2",
    "ActionCreatePreparedSubstraitPlanRequest": "plan SubstraitPlan 1; transaction_id bytes 2 ?",
    "ActionCreatePreparedStatementResult": (
        "prepared_statement_handle bytes 1; dataset_schema bytes 2; parameter_schema bytes 3"
    ),
    "ActionClosePreparedStatementRequest": "prepared_statement_handle bytes 1",
    "ActionBeginTransactionRequest": "",
    "ActionBeginSavepointRequest": "transaction_id bytes 1; name string 2",
    "ActionBeginTransactionResult": "transaction_id bytes 1",
    "ActionBeginSavepointResult": "savepoint_id bytes 1",
    "ActionEndTransactionRequest": "transaction_id bytes 1; action EndTransaction 2",
    "ActionEndSavepointRequest": "savepoint_id bytes 1; action EndSavepoint 2",
    "CommandStatementQuery": "query string 1; transaction_id bytes 2 ?",
    "CommandStatementSubstraitPlan": "plan SubstraitPlan 1; transaction_id bytes 2 ?",
    "TicketStatementQuery": "statement_handle bytes 1",
    "CommandPreparedStatementQuery": "prepared_statement_handle bytes 1",
    "CommandStatementUpdate": "query string 1; transaction_id bytes 2 ?",
    "CommandPreparedStatementUpdate": "prepared_statement_handle bytes 1",
    "CommandStatementIngest": (
        "table_definition_options TableDefinitionOptions 1; table string 2; schema string 3 ?;"
        " catalog string 4 ?; temporary bool 5; transaction_id bytes 6 ?; options OptionsEntry 1000 *"
    ),
    "CommandStatementIngest.TableDefinitionOptions": (
        "if_not_exist TableNotExistOption 1; if_exists TableExistsOption 2"
    ),
    "DoPutUpdateResult": "record_count int64 1",
    "DoPutPreparedStatementResult": "prepared_statement_handle bytes 1 ?",
    "ActionCancelQueryRequest": "info bytes 1",
    "ActionCancelQueryResult": "result CancelResult 1",
}

_SCALAR_NAMES = {
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_UINT32: "uint32",
}


def _describe(field: FieldDescriptor) -> str:
    if field.message_type is not None:
        type_name = field.message_type.name
    elif field.enum_type is not None:
        type_name = field.enum_type.name
    else:
        type_name = _SCALAR_NAMES[field.type]
    words = [field.name, type_name, str(field.number)]
    if field.is_repeated:
        words.append("*")
    # proto3 `optional` is a synthetic one-field oneof named "_<field>".
    elif field.containing_oneof is not None and field.containing_oneof.name == f"_{field.name}":
        words.append("?")
    return " ".join(words)


def _all_messages(descriptors: list[Descriptor]) -> list[Descriptor]:
    found: list[Descriptor] = []
    for descriptor in descriptors:
        found.append(descriptor)
        found.extend(_all_messages(list(descriptor.nested_types)))
    return found


def _all_enums() -> list[EnumDescriptor]:
    enums = list(pb.DESCRIPTOR.enum_types_by_name.values())
    for message in _all_messages(list(pb.DESCRIPTOR.message_types_by_name.values())):
        enums.extend(message.enum_types)
    return enums


def test_package_is_the_flight_sql_one() -> None:
    assert pb.DESCRIPTOR.package == PACKAGE


def test_every_message_and_enum_lives_in_the_flight_sql_package() -> None:
    messages = _all_messages(list(pb.DESCRIPTOR.message_types_by_name.values()))
    assert len(messages) >= len(EXPECTED_MESSAGES)
    for descriptor in [*messages, *_all_enums()]:
        assert descriptor.full_name.startswith(PACKAGE + "."), descriptor.full_name


@pytest.mark.parametrize("name", sorted(EXPECTED_MESSAGES))
def test_message_fields_match_the_spec(name: str) -> None:
    descriptor = pb.DESCRIPTOR.message_types_by_name[name.split(".")[0]]
    for nested in name.split(".")[1:]:
        descriptor = descriptor.nested_types_by_name[nested]
    assert descriptor.full_name == f"{PACKAGE}.{name}"
    expected = [part.strip() for part in EXPECTED_MESSAGES[name].split(";") if part.strip()]
    assert [_describe(field) for field in descriptor.fields] == expected


def test_top_level_message_set_is_complete() -> None:
    top_level = {name for name in EXPECTED_MESSAGES if "." not in name}
    assert set(pb.DESCRIPTOR.message_types_by_name) == top_level


def test_ingest_options_is_a_string_map() -> None:
    options = pb.CommandStatementIngest.DESCRIPTOR.fields_by_name["options"]
    entry = options.message_type
    assert entry is not None
    assert entry.GetOptions().map_entry
    assert [(f.name, f.type) for f in entry.fields] == [
        ("key", FieldDescriptor.TYPE_STRING),
        ("value", FieldDescriptor.TYPE_STRING),
    ]


def test_any_type_url_matches_what_clients_send() -> None:
    packed = any_pb2.Any()
    packed.Pack(pb.CommandStatementQuery(query="SELECT 1"))
    assert packed.type_url == "type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"
    unpacked = pb.CommandStatementQuery()
    assert packed.Unpack(unpacked)
    assert unpacked.query == "SELECT 1"
    assert not unpacked.HasField("transaction_id")


def test_small_enums() -> None:
    assert dict(pb.SqlSupportedTransaction.items()) == {
        "SQL_SUPPORTED_TRANSACTION_NONE": 0,
        "SQL_SUPPORTED_TRANSACTION_TRANSACTION": 1,
        "SQL_SUPPORTED_TRANSACTION_SAVEPOINT": 2,
    }
    assert dict(pb.SqlNullOrdering.items()) == {
        "SQL_NULLS_SORTED_HIGH": 0,
        "SQL_NULLS_SORTED_LOW": 1,
        "SQL_NULLS_SORTED_AT_START": 2,
        "SQL_NULLS_SORTED_AT_END": 3,
    }
    assert dict(pb.SqlSupportedCaseSensitivity.items()) == {
        "SQL_CASE_SENSITIVITY_UNKNOWN": 0,
        "SQL_CASE_SENSITIVITY_CASE_INSENSITIVE": 1,
        "SQL_CASE_SENSITIVITY_UPPERCASE": 2,
        "SQL_CASE_SENSITIVITY_LOWERCASE": 3,
    }
    assert dict(pb.Nullable.items()) == {
        "NULLABILITY_NO_NULLS": 0,
        "NULLABILITY_NULLABLE": 1,
        "NULLABILITY_UNKNOWN": 2,
    }
    assert dict(pb.Searchable.items()) == {
        "SEARCHABLE_NONE": 0,
        "SEARCHABLE_CHAR": 1,
        "SEARCHABLE_BASIC": 2,
        "SEARCHABLE_FULL": 3,
    }
    assert dict(pb.UpdateDeleteRules.items()) == {
        "CASCADE": 0,
        "RESTRICT": 1,
        "SET_NULL": 2,
        "NO_ACTION": 3,
        "SET_DEFAULT": 4,
    }
    assert dict(pb.SqlTransactionIsolationLevel.items()) == {
        "SQL_TRANSACTION_NONE": 0,
        "SQL_TRANSACTION_READ_UNCOMMITTED": 1,
        "SQL_TRANSACTION_READ_COMMITTED": 2,
        "SQL_TRANSACTION_REPEATABLE_READ": 3,
        "SQL_TRANSACTION_SERIALIZABLE": 4,
    }
    assert dict(pb.SqlOuterJoinsSupportLevel.items()) == {
        "SQL_JOINS_UNSUPPORTED": 0,
        "SQL_LIMITED_OUTER_JOINS": 1,
        "SQL_FULL_OUTER_JOINS": 2,
    }
    assert pb.SqlSupportedSubqueries.SQL_SUBQUERIES_IN_QUANTIFIEDS == 3
    assert pb.SqlSupportedResultSetType.SQL_RESULT_SET_TYPE_SCROLL_SENSITIVE == 3
    assert pb.SqlSupportedResultSetConcurrency.SQL_RESULT_SET_CONCURRENCY_UPDATABLE == 2
    assert pb.SqlSupportedTransactions.SQL_DATA_MANIPULATION_TRANSACTIONS == 2
    assert pb.SupportedAnsi92SqlGrammarLevel.ANSI92_FULL_SQL == 2
    assert pb.SupportedSqlGrammar.SQL_EXTENDED_GRAMMAR == 2
    assert pb.SqlSupportedElementActions.SQL_ELEMENT_IN_PRIVILEGE_DEFINITIONS == 2
    assert pb.SqlSupportedPositionedCommands.SQL_POSITIONED_UPDATE == 1
    assert pb.SqlSupportedGroupBy.SQL_GROUP_BY_BEYOND_SELECT == 1
    assert pb.SqlSupportedUnions.SQL_UNION_ALL == 1


def test_sql_info_ids() -> None:
    server = {
        "NAME": 0, "VERSION": 1, "ARROW_VERSION": 2, "READ_ONLY": 3, "SQL": 4, "SUBSTRAIT": 5,
        "SUBSTRAIT_MIN_VERSION": 6, "SUBSTRAIT_MAX_VERSION": 7, "TRANSACTION": 8, "CANCEL": 9,
        "BULK_INGESTION": 10, "INGEST_TRANSACTIONS_SUPPORTED": 11, "STATEMENT_TIMEOUT": 100,
        "TRANSACTION_TIMEOUT": 101,
    }  # fmt: skip
    syntax = (
        "DDL_CATALOG DDL_SCHEMA DDL_TABLE IDENTIFIER_CASE IDENTIFIER_QUOTE_CHAR QUOTED_IDENTIFIER_CASE"
        " ALL_TABLES_ARE_SELECTABLE NULL_ORDERING KEYWORDS NUMERIC_FUNCTIONS STRING_FUNCTIONS"
        " SYSTEM_FUNCTIONS DATETIME_FUNCTIONS SEARCH_STRING_ESCAPE EXTRA_NAME_CHARACTERS"
        " SUPPORTS_COLUMN_ALIASING NULL_PLUS_NULL_IS_NULL SUPPORTS_CONVERT SUPPORTS_TABLE_CORRELATION_NAMES"
        " SUPPORTS_DIFFERENT_TABLE_CORRELATION_NAMES SUPPORTS_EXPRESSIONS_IN_ORDER_BY"
        " SUPPORTS_ORDER_BY_UNRELATED SUPPORTED_GROUP_BY SUPPORTS_LIKE_ESCAPE_CLAUSE"
        " SUPPORTS_NON_NULLABLE_COLUMNS SUPPORTED_GRAMMAR ANSI92_SUPPORTED_LEVEL"
        " SUPPORTS_INTEGRITY_ENHANCEMENT_FACILITY OUTER_JOINS_SUPPORT_LEVEL SCHEMA_TERM PROCEDURE_TERM"
        " CATALOG_TERM CATALOG_AT_START SCHEMAS_SUPPORTED_ACTIONS CATALOGS_SUPPORTED_ACTIONS"
        " SUPPORTED_POSITIONED_COMMANDS SELECT_FOR_UPDATE_SUPPORTED STORED_PROCEDURES_SUPPORTED"
        " SUPPORTED_SUBQUERIES CORRELATED_SUBQUERIES_SUPPORTED SUPPORTED_UNIONS MAX_BINARY_LITERAL_LENGTH"
        " MAX_CHAR_LITERAL_LENGTH MAX_COLUMN_NAME_LENGTH MAX_COLUMNS_IN_GROUP_BY MAX_COLUMNS_IN_INDEX"
        " MAX_COLUMNS_IN_ORDER_BY MAX_COLUMNS_IN_SELECT MAX_COLUMNS_IN_TABLE MAX_CONNECTIONS"
        " MAX_CURSOR_NAME_LENGTH MAX_INDEX_LENGTH DB_SCHEMA_NAME_LENGTH MAX_PROCEDURE_NAME_LENGTH"
        " MAX_CATALOG_NAME_LENGTH MAX_ROW_SIZE MAX_ROW_SIZE_INCLUDES_BLOBS MAX_STATEMENT_LENGTH"
        " MAX_STATEMENTS MAX_TABLE_NAME_LENGTH MAX_TABLES_IN_SELECT MAX_USERNAME_LENGTH"
        " DEFAULT_TRANSACTION_ISOLATION TRANSACTIONS_SUPPORTED SUPPORTED_TRANSACTIONS_ISOLATION_LEVELS"
        " DATA_DEFINITION_CAUSES_TRANSACTION_COMMIT DATA_DEFINITIONS_IN_TRANSACTIONS_IGNORED"
        " SUPPORTED_RESULT_SET_TYPES SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_UNSPECIFIED"
        " SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_FORWARD_ONLY"
        " SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_SCROLL_SENSITIVE"
        " SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_SCROLL_INSENSITIVE BATCH_UPDATES_SUPPORTED"
        " SAVEPOINTS_SUPPORTED NAMED_PARAMETERS_SUPPORTED LOCATORS_UPDATE_COPY"
        " STORED_FUNCTIONS_USING_CALL_SYNTAX_SUPPORTED"
    ).split()
    expected = {f"FLIGHT_SQL_SERVER_{name}": number for name, number in server.items()}
    expected |= {f"SQL_{name}": 500 + offset for offset, name in enumerate(syntax)}
    assert dict(pb.SqlInfo.items()) == expected
    assert pb.SqlInfo.SQL_STORED_FUNCTIONS_USING_CALL_SYNTAX_SUPPORTED == 576


def test_xdbc_enums() -> None:
    assert dict(pb.XdbcDataType.items()) == {
        "XDBC_UNKNOWN_TYPE": 0, "XDBC_CHAR": 1, "XDBC_NUMERIC": 2, "XDBC_DECIMAL": 3, "XDBC_INTEGER": 4,
        "XDBC_SMALLINT": 5, "XDBC_FLOAT": 6, "XDBC_REAL": 7, "XDBC_DOUBLE": 8, "XDBC_DATETIME": 9,
        "XDBC_INTERVAL": 10, "XDBC_VARCHAR": 12, "XDBC_DATE": 91, "XDBC_TIME": 92, "XDBC_TIMESTAMP": 93,
        "XDBC_LONGVARCHAR": -1, "XDBC_BINARY": -2, "XDBC_VARBINARY": -3, "XDBC_LONGVARBINARY": -4,
        "XDBC_BIGINT": -5, "XDBC_TINYINT": -6, "XDBC_BIT": -7, "XDBC_WCHAR": -8, "XDBC_WVARCHAR": -9,
    }  # fmt: skip
    subcodes = dict(pb.XdbcDatetimeSubcode.items())
    assert len(subcodes) == 32
    assert subcodes["XDBC_SUBCODE_DATE"] == subcodes["XDBC_SUBCODE_YEAR"] == 1
    assert subcodes["XDBC_SUBCODE_TIMESTAMP_WITH_TIMEZONE"] == subcodes["XDBC_SUBCODE_MINUTE"] == 5
    assert subcodes["XDBC_SUBCODE_MINUTE_TO_SECOND"] == 13
    assert subcodes["XDBC_SUBCODE_INTERVAL_YEAR"] == 101
    assert subcodes["XDBC_SUBCODE_INTERVAL_MINUTE_TO_SECOND"] == 113
    assert len(pb.SqlSupportsConvert.values()) == 20
    assert pb.SqlSupportsConvert.SQL_CONVERT_VARCHAR == 19


def test_nested_enums() -> None:
    options = pb.CommandStatementIngest.TableDefinitionOptions
    assert dict(options.TableNotExistOption.items()) == {
        "TABLE_NOT_EXIST_OPTION_UNSPECIFIED": 0,
        "TABLE_NOT_EXIST_OPTION_CREATE": 1,
        "TABLE_NOT_EXIST_OPTION_FAIL": 2,
    }
    assert dict(options.TableExistsOption.items()) == {
        "TABLE_EXISTS_OPTION_UNSPECIFIED": 0,
        "TABLE_EXISTS_OPTION_FAIL": 1,
        "TABLE_EXISTS_OPTION_APPEND": 2,
        "TABLE_EXISTS_OPTION_REPLACE": 3,
    }
    assert pb.ActionEndTransactionRequest.END_TRANSACTION_ROLLBACK == 2
    assert pb.ActionEndSavepointRequest.END_SAVEPOINT_RELEASE == 1
    assert pb.ActionCancelQueryResult.CANCEL_RESULT_NOT_CANCELLABLE == 3


# ---------------------------------------------------------------------------
# Result schemas
# ---------------------------------------------------------------------------

S, NN = True, False  # nullable / not null, to keep the tables below readable

EXPECTED_FLAT_SCHEMAS: dict[str, list[tuple[str, pa.DataType, bool]]] = {
    "CATALOGS_SCHEMA": [("catalog_name", pa.string(), NN)],
    "DB_SCHEMAS_SCHEMA": [("catalog_name", pa.string(), S), ("db_schema_name", pa.string(), NN)],
    "TABLES_SCHEMA": [
        ("catalog_name", pa.string(), S),
        ("db_schema_name", pa.string(), S),
        ("table_name", pa.string(), NN),
        ("table_type", pa.string(), NN),
    ],
    "TABLES_SCHEMA_WITH_SCHEMA": [
        ("catalog_name", pa.string(), S),
        ("db_schema_name", pa.string(), S),
        ("table_name", pa.string(), NN),
        ("table_type", pa.string(), NN),
        ("table_schema", pa.binary(), NN),
    ],
    "TABLE_TYPES_SCHEMA": [("table_type", pa.string(), NN)],
    # Arrow C++/Go/Java order: key_sequence before key_name.
    "PRIMARY_KEYS_SCHEMA": [
        ("catalog_name", pa.string(), S),
        ("db_schema_name", pa.string(), S),
        ("table_name", pa.string(), NN),
        ("column_name", pa.string(), NN),
        ("key_sequence", pa.int32(), NN),
        ("key_name", pa.string(), S),
    ],
    "KEYS_SCHEMA": [
        ("pk_catalog_name", pa.string(), S),
        ("pk_db_schema_name", pa.string(), S),
        ("pk_table_name", pa.string(), NN),
        ("pk_column_name", pa.string(), NN),
        ("fk_catalog_name", pa.string(), S),
        ("fk_db_schema_name", pa.string(), S),
        ("fk_table_name", pa.string(), NN),
        ("fk_column_name", pa.string(), NN),
        ("key_sequence", pa.int32(), NN),
        ("fk_key_name", pa.string(), S),
        ("pk_key_name", pa.string(), S),
        ("update_rule", pa.uint8(), NN),
        ("delete_rule", pa.uint8(), NN),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_FLAT_SCHEMAS))
def test_flat_schemas(name: str) -> None:
    schema: pa.Schema = getattr(schemas, name)
    assert [(f.name, f.type, f.nullable) for f in schema] == EXPECTED_FLAT_SCHEMAS[name]
    assert schema.metadata is None
    assert all(f.metadata is None for f in schema)


def test_key_schemas_are_shared() -> None:
    for name in ("EXPORTED_KEYS_SCHEMA", "IMPORTED_KEYS_SCHEMA", "CROSS_REFERENCE_SCHEMA"):
        assert getattr(schemas, name).equals(schemas.KEYS_SCHEMA, check_metadata=True)


def test_xdbc_type_info_schema() -> None:
    expected = [
        ("type_name", pa.string(), NN),
        ("data_type", pa.int32(), NN),
        ("column_size", pa.int32(), S),
        ("literal_prefix", pa.string(), S),
        ("literal_suffix", pa.string(), S),
        ("create_params", pa.list_(pa.field("item", pa.string(), nullable=False)), S),
        ("nullable", pa.int32(), NN),
        ("case_sensitive", pa.bool_(), NN),
        ("searchable", pa.int32(), NN),
        ("unsigned_attribute", pa.bool_(), S),
        ("fixed_prec_scale", pa.bool_(), NN),
        ("auto_increment", pa.bool_(), S),
        ("local_type_name", pa.string(), S),
        ("minimum_scale", pa.int32(), S),
        ("maximum_scale", pa.int32(), S),
        ("sql_data_type", pa.int32(), NN),
        ("datetime_subcode", pa.int32(), S),
        ("num_prec_radix", pa.int32(), S),
        ("interval_precision", pa.int32(), S),
    ]
    schema = schemas.XDBC_TYPE_INFO_SCHEMA
    assert [(f.name, f.type, f.nullable) for f in schema] == expected
    create_params = schema.field("create_params").type
    assert create_params.value_field.name == "item"
    assert create_params.value_field.nullable is False
    assert schema.metadata is None


def test_sql_info_schema() -> None:
    schema = schemas.SQL_INFO_SCHEMA
    assert schema.names == ["info_name", "value"]
    assert schema.field("info_name").type == pa.uint32()
    assert schema.field("info_name").nullable is False
    value = schema.field("value")
    assert value.nullable is False
    union = value.type
    assert union.id == pa.dense_union([]).id
    assert list(union.type_codes) == [0, 1, 2, 3, 4, 5]
    children = [union.field(i) for i in range(union.num_fields)]
    # Arrow C++ SqlSchema::GetSqlInfoSchema declares every union child non-nullable.
    assert [(c.name, c.nullable) for c in children] == [
        ("string_value", False),
        ("bool_value", False),
        ("bigint_value", False),
        ("int32_bitmask", False),
        ("string_list", False),
        ("int32_to_int32_list_map", False),
    ]
    assert [c.type for c in children[:4]] == [pa.string(), pa.bool_(), pa.int64(), pa.int32()]

    string_list = children[4].type
    assert pa.types.is_list(string_list)
    assert (string_list.value_field.name, string_list.value_type, string_list.value_field.nullable) == (
        "item",
        pa.string(),
        True,
    )

    int_map = children[5].type
    assert pa.types.is_map(int_map)
    assert not int_map.keys_sorted
    key = int_map.key_field
    assert (key.name, key.type, key.nullable) == ("key", pa.int32(), False)
    assert (int_map.item_field.name, int_map.item_field.nullable) == ("value", True)
    item_list = int_map.item_type
    assert pa.types.is_list(item_list)
    assert (item_list.value_field.name, item_list.value_type, item_list.value_field.nullable) == (
        "item",
        pa.int32(),
        True,
    )
    assert "entries: struct<key: int32 not null, value: list<item: int32>> not null" in str(schema)


def test_sql_info_type_codes_match_union_positions() -> None:
    union = schemas.SQL_INFO_SCHEMA.field("value").type
    assert list(schemas.SQL_INFO_TYPE_CODES) == [union.field(i).name for i in range(union.num_fields)]
    assert list(schemas.SQL_INFO_TYPE_CODES.values()) == list(union.type_codes)
