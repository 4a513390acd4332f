"""DuckDB tenants never see server paths and cannot make a read-only database write its file.

Through a real gateway and ADBC client: catalog functions and pragmas that show the database file,
the data directory or DuckDB's home are refused (however they are spelled), error messages lose
server paths, and CHECKPOINT / VACUUM / ANALYZE are writes a read-only tenant may not run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import duckdb
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway

from auth import hash_password
from flight_gateway.engines.duckdb.errors import PATH_PLACEHOLDER, map_duckdb_error, map_stream_error
from flight_gateway.errors import Status


@pytest.fixture(scope="module")
def paths_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    data_dir = tmp_path_factory.mktemp("paths")
    shared = data_dir / "reports.duckdb"
    con = duckdb.connect(str(shared))
    con.execute("create table sales as select range as id from range(5)")
    con.close()
    password_hash = hash_password(PASSWORD)
    running = start_gateway(
        data_dir,
        demo=False,
        tenants=[{"id": "reader", "database": str(shared), "read_only": True}, {"id": "owner"}],
        users=[
            {"username": "rita", "password_hash": password_hash, "tenant": "reader"},
            {"username": "olga", "password_hash": password_hash, "tenant": "owner"},
        ],
    )
    yield running
    running.gateway.shutdown()


def _connect(gateway: RunningGateway, user: str) -> flight_sql.Connection:
    return flight_sql.connect(gateway.uri, db_kwargs={"username": user, "password": PASSWORD}, autocommit=True)


def _server_dirs(gateway: RunningGateway) -> list[str]:
    return [str(gateway.data_dir), str(gateway.data_dir.resolve()), os.path.expanduser("~"), str(Path.cwd())]


PATH_REVEALING = [
    "PRAGMA database_list",
    "pragma DATABASE_LIST",
    "select * from duckdb_databases()",
    "select path from duckdb_databases",
    'select path from "duckdb_databases"()',
    "select path from system.main.duckdb_databases()",
    "select * from /* comment */ duckdb_databases ( )",
    "select value from duckdb_settings() where name = 'temp_directory'",
    "select current_setting('temp_directory')",
    "select current_setting('HOME_DIRECTORY')",
    "select current_setting('temp_' || 'directory')",
    "select current_setting(name) from (select 'secret_directory' as name)",
    "select * from duckdb_extensions()",
    "select * from duckdb_temporary_files()",
    "select * from duckdb_secrets()",
    "select * from query_table('duckdb_' || 'databases')",
    "select * from query('select path from duckdb_' || 'databases()')",
    "create view leak as select path from duckdb_databases()",
    "create macro leak() as table select path from duckdb_databases()",
]


@pytest.mark.parametrize("sql", PATH_REVEALING)
def test_path_revealing_catalog_functions_are_refused(paths_gateway: RunningGateway, sql: str) -> None:
    with _connect(paths_gateway, "olga") as conn, conn.cursor() as cur:
        with pytest.raises(flight_sql.Error) as error:
            cur.execute(sql)
            cur.fetchall()
        text = str(error.value)
        assert "STATEMENT_NOT_ALLOWED" in text, text
        for directory in _server_dirs(paths_gateway):
            assert directory not in text
        cur.execute("select 1 as ok")  # the tenant is still served
        assert cur.fetchall() == [(1,)]


def test_error_messages_lose_server_paths(paths_gateway: RunningGateway) -> None:
    """DuckDB names its secret directory under the server's home in this refusal."""
    with _connect(paths_gateway, "olga") as conn, conn.cursor() as cur:
        with pytest.raises(flight_sql.Error) as error:
            cur.execute("create persistent secret s (type s3, key_id 'a', secret 'b')")
        text = str(error.value)
        assert "NOT_ALLOWED" in text and PATH_PLACEHOLDER in text, text
        assert os.path.expanduser("~") + "/" not in text


def test_mapped_messages_replace_server_directories(tmp_path: Path) -> None:
    database = tmp_path / "tenants" / "acme.duckdb"
    for mapped in (
        map_duckdb_error(duckdb.IOException(f'IO Error: Could not set lock on file "{database}"')),
        map_stream_error(OSError(f"IO Error: Cannot open file {database}.wal: No space left")),
    ):
        assert str(tmp_path) not in mapped.message and PATH_PLACEHOLDER in mapped.message
        assert mapped.status is Status.UNAVAILABLE
    # Expressions and URLs are not paths.
    assert "1/0" in map_duckdb_error(duckdb.BinderException("Binder Error: in 1/0")).message
    assert "s3://bucket/key" in map_duckdb_error(duckdb.IOException("IO Error: s3://bucket/key")).message


MAINTENANCE = [
    "CHECKPOINT",
    "checkpoint reports",
    "force checkpoint",
    "call checkpoint()",
    'CALL "checkpoint"()',
    "select * from checkpoint()",
    "VACUUM",
    "vacuum sales",
    "ANALYZE",
    "analyze sales",
]


@pytest.mark.parametrize("sql", MAINTENANCE)
def test_read_only_tenant_cannot_run_maintenance_writes(paths_gateway: RunningGateway, sql: str) -> None:
    with _connect(paths_gateway, "rita") as conn, conn.cursor() as cur:
        with pytest.raises(flight_sql.Error, match="STATEMENT_NOT_ALLOWED") as error:
            cur.execute(sql)
            cur.fetchall()
        assert "may not run admin" in str(error.value)


def test_harmless_settings_stay_readable(paths_gateway: RunningGateway) -> None:
    with _connect(paths_gateway, "olga") as conn, conn.cursor() as cur:
        cur.execute("select current_setting('threads') > 0, current_setting('search_path') is not null")
        assert cur.fetchall() == [(True, True)]


def test_owner_may_checkpoint_its_database(paths_gateway: RunningGateway) -> None:
    with _connect(paths_gateway, "olga") as conn, conn.cursor() as cur:
        cur.execute("create table if not exists t as select 1 as x")
        cur.execute("checkpoint")
        cur.execute("select count(*) from t")
        assert cur.fetchall() == [(1,)]
