"""Small helpers for talking to the isolated gateway through real Flight SQL clients."""

from __future__ import annotations

from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as fl
import pytest
from adbc_driver_manager import AdbcStatusCode
from google.protobuf import message

from flight_gateway.protocol.commands import pack


def rows(conn: flight_sql.Connection, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall()) if cur.description else []


def failure(conn: flight_sql.Connection, sql: str, params: Any = None) -> flight_sql.Error:
    """The error the gateway answers to `sql` (the test fails if it answers rows)."""
    with pytest.raises(flight_sql.Error) as caught:  # reading is part of running a query
        with conn.cursor() as cur:
            cur.execute(sql, params)
            if cur.description:
                cur.fetchall()
    return caught.value


def is_permission_denied(error: flight_sql.Error) -> bool:
    return error.status_code == AdbcStatusCode.UNAUTHORIZED and "PermissionDenied" in str(error)


def assert_clean(error: BaseException, *forbidden: str) -> None:
    """A client-facing message: no traceback, no repr, none of the `forbidden` words."""
    text = str(error)
    for word in ("Traceback", 'File "', "psycopg", "Error(", *forbidden):
        assert word not in text, f"{word!r} leaked in {text!r}"


def command(client: fl.FlightClient, options: fl.FlightCallOptions, cmd: message.Message) -> pa.Table:
    """Run one Flight SQL command (GetTables, GetPrimaryKeys, ...) with pyarrow.flight: info, then DoGet."""
    info = client.get_flight_info(fl.FlightDescriptor.for_command(pack(cmd)), options)
    tables = [client.do_get(endpoint.ticket, options).read_all() for endpoint in info.endpoints]
    return pa.concat_tables(tables) if tables else info.schema.empty_table()
