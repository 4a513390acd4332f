"""Redshift's SVV_* catalog views and type names in the simulator, filtered by the current user's privileges."""

from __future__ import annotations

from typing import Any

from flight_gateway.simulation.process import SimulatorProcess as RedshiftSimulator


def _rows(cursor: Any, sql: str) -> list[list[Any]]:
    cursor.execute(sql)
    return [list(row) for row in cursor.fetchall()]


def test_svv_views_show_only_what_the_user_may_see(rs_connect: Any) -> None:
    owner, acme = rs_connect(user="sim_owner").cursor(), rs_connect(user="sim_acme").cursor()
    tables = "select table_name from svv_all_tables where schema_name = 'public' order by 1"
    assert _rows(owner, tables) == [["orders"], ["owner_only"]]
    assert _rows(acme, tables) == [["orders"]]
    assert _rows(acme, "select count(*) from svv_all_columns where table_name = 'owner_only'") == [[0]]
    assert _rows(acme, "select count(*) from svv_table_info where \"table\" = 'owner_only'") == [[0]]
    assert _rows(owner, "select count(*) from svv_table_info where \"table\" = 'owner_only'") == [[1]]


def test_svv_all_columns_shape(rs_connect: Any) -> None:
    cursor = rs_connect().cursor()
    rows = _rows(
        cursor,
        "select database_name, column_name, ordinal_position, is_nullable, data_type, character_maximum_length,"
        " numeric_precision, numeric_scale from svv_all_columns where table_name = 'orders' order by 3",
    )
    assert rows == [
        ["simdev", "id", 1, "NO", "integer", None, 32, 0],
        ["simdev", "tenant", 2, "NO", "character varying", 16, None, None],
        ["simdev", "amount", 3, "YES", "numeric", None, 12, 2],
        ["simdev", "note", 4, "YES", "character varying", 40, None, None],
        ["simdev", "placed", 5, "YES", "date", None, None, None],
    ]
    schemas = _rows(cursor, "select schema_name from svv_all_schemas order by 1")
    assert ["public"] in schemas and ["redshift_sim"] not in schemas
    keys = _rows(  # keys come from information_schema (owner's view), on Redshift as here
        rs_connect(user="sim_owner").cursor(),
        "select c.constraint_type, k.column_name from information_schema.table_constraints c"
        " join information_schema.key_column_usage k using (constraint_schema, constraint_name)"
        " where c.table_name = 'orders'",
    )
    assert keys == [["PRIMARY KEY", "id"]]


def test_views_resolve_whatever_the_search_path(rs_connect: Any) -> None:
    conn = rs_connect()
    conn.autocommit = True
    cursor = conn.cursor()
    cursor.execute("set search_path to nothing_here")
    assert _rows(cursor, "select count(*) from svv_all_tables where table_name = 'orders'") == [[1]]


def test_redshift_type_names(redshift_sim: RedshiftSimulator, rs_connect: Any) -> None:
    with redshift_sim.backend_connect("simdev", user="sim_owner") as conn:
        conn.execute(
            "create table if not exists typed (doc super, raw varbyte, shape geometry, sketch hllsketch, t timetz)"
        )
        conn.execute("grant select on typed to sim_acme")
    cursor = rs_connect().cursor()
    rows = _rows(cursor, "select column_name, data_type from svv_all_columns where table_name = 'typed' order by 1")
    assert rows == [["doc", "super"], ["raw", "varbyte"], ["shape", "geometry"], ["sketch", "hllsketch"],
                    ["t", "time with time zone"]]  # fmt: skip
    assert _rows(cursor, "select json_typeof('{\"a\": 1}'::super::json)") == [["object"]]


def test_redshift_function_shims(rs_connect: Any) -> None:
    cursor = rs_connect().cursor()
    rows = _rows(cursor, "select len('abc'), charindex('lo', 'hello'), nvl(null::int, 7), nvl2(1, 'a', 'b'), "
                         "getdate() <= localtimestamp")  # fmt: skip
    assert rows == [[3, 4, 7, "a", True]]
