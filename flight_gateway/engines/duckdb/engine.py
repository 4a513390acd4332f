"""The embedded DuckDB engine: one database per tenant, locked against files and settings."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from auth import Tenant
from flight_gateway.engines.base import EngineInfo
from flight_gateway.engines.duckdb.errors import redact_paths
from flight_gateway.engines.duckdb.info import duckdb_info
from flight_gateway.engines.duckdb.session import DuckDBSession, ShapeCache
from flight_gateway.engines.duckdb.sqlinfo import SQL_INFO
from flight_gateway.engines.duckdb.typeinfo import XDBC_TYPES
from flight_gateway.errors import GatewayError, Status, not_found

# Tenant sessions may not reach files, extensions or settings: what a tenant can touch is its
# own database and nothing else on the host.
LOCKED_CONFIG: dict[str, Any] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "lock_configuration": True,
}


def _open(path: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A tenant database; a read-only tenant's is opened read-only, so DuckDB itself refuses writes."""
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if read_only and not Path(path).exists():
            duckdb.connect(path).close()  # read-only opening needs an existing file
    config = dict(LOCKED_CONFIG)
    if read_only and path != ":memory:":
        config["access_mode"] = "READ_ONLY"
    return duckdb.connect(path, config=config)


class DuckDBEngine:
    """Opens each tenant's database once (locked) and hands out a cursor per session."""

    name = "duckdb"
    dialect = "duckdb"
    xdbc_types = XDBC_TYPES
    sql_info = SQL_INFO

    def __init__(self, databases: Mapping[str, Path | str]) -> None:
        self._paths = dict(databases)
        self._dbs: dict[str, duckdb.DuckDBPyConnection] = {}
        self._lock = threading.Lock()
        self._info: EngineInfo | None = None
        self._shapes = ShapeCache()

    def info(self) -> EngineInfo:
        if self._info is None:
            self._info = duckdb_info()
        return self._info

    def _database(self, tenant: Tenant) -> duckdb.DuckDBPyConnection:
        with self._lock:
            db = self._dbs.get(tenant.id)
            if db is None:
                path = self._paths.get(tenant.id)
                if path is None:
                    raise not_found("NO_DATABASE", f"no DuckDB database is configured for tenant {tenant.id!r}")
                try:
                    db = _open(str(path), tenant.read_only)
                except (duckdb.Error, OSError) as exc:
                    raise GatewayError(
                        Status.UNAVAILABLE,
                        "ENGINE_UNAVAILABLE",
                        f"cannot open the tenant database: {redact_paths(str(exc))}",
                    ) from exc
                self._dbs[tenant.id] = db
            return db

    @contextmanager
    def session(self, tenant: Tenant) -> Iterator[DuckDBSession]:
        cursor = self._database(tenant).cursor()
        try:
            yield DuckDBSession(cursor, tenant, self._shapes)
        finally:
            cursor.close()

    def close(self) -> None:
        with self._lock:
            for db in self._dbs.values():
                db.close()
            self._dbs.clear()
