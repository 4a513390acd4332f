"""The PostgreSQL engine: per-tenant pools of connections logged in as each tenant's own database
user, so PostgreSQL (grants, row-level security) decides what a tenant sees.

A tenant's login (`TenantLogin`, resolved by app.build; Secrets Manager lazily) becomes libpq
keywords with the server settings sent when connecting (statement_timeout, read-only
transactions), which the `DISCARD ALL` run when a connection goes back to the pool restores.
The Redshift engine (`redshift/engine.py`) is a separate class: it shares only the pool
(`pgwire.pool`) and the SQLSTATE mapping (`pgwire.errors`).
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import adbc_driver_postgresql.dbapi as adbc_postgres

from auth import Tenant
from flight_gateway.config import PostgresEngineConfig
from flight_gateway.engines.base import EngineInfo
from flight_gateway.engines.pgwire.errors import map_postgres_error, sqlstate_of
from flight_gateway.engines.pgwire.pool import ConnectionPool, Connector, TenantPools
from flight_gateway.engines.pgwire.sql import PlaceholderRewrites
from flight_gateway.engines.postgres.info import postgres_info
from flight_gateway.engines.postgres.runner import DriverError
from flight_gateway.engines.postgres.session import PostgresSession
from flight_gateway.engines.postgres.sqlinfo import SQL_INFO
from flight_gateway.engines.postgres.typeinfo import XDBC_TYPES
from flight_gateway.errors import GatewayError, Status

if TYPE_CHECKING:
    from adbc_driver_postgresql.dbapi import Connection

log = logging.getLogger("flight_gateway.engines.postgres")
# Result batches from the driver are about this big (then sliced to the gateway's batch_rows):
# memory per stream stays at a few of them.
BATCH_SIZE_HINT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class TenantLogin:
    """How a tenant's connections log in. `password` is called for every new connection (a
    cached secret may rotate); `forget` drops a cached password after a login failure."""

    user: str
    password: Callable[[], str | None] = field(repr=False)
    forget: Callable[[], None] | None = field(default=None, repr=False)


def _conninfo(params: Mapping[str, str]) -> str:
    """libpq keyword/value string; values quoted so no value can add a keyword."""

    def quote(value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    return " ".join(f"{key}={quote(value)}" for key, value in params.items())


class PostgresEngine:
    dialect = "postgres"
    xdbc_types = XDBC_TYPES
    sql_info = SQL_INFO
    batch_size_hint_bytes = BATCH_SIZE_HINT_BYTES

    def __init__(self, name: str, config: PostgresEngineConfig, logins: Mapping[str, TenantLogin]) -> None:
        self.name = name
        self.config = config
        self._logins = dict(logins)
        self._pools: TenantPools[Connection] = TenantPools(name, config.pool)
        self._info: EngineInfo | None = None
        self.placeholders = PlaceholderRewrites()
        # Read once per connection (the ADBC driver does not expose it), for job records.
        self._pids: weakref.WeakKeyDictionary[Connection, int] = weakref.WeakKeyDictionary()

    def login(self, tenant: Tenant) -> TenantLogin:
        login = self._logins.get(tenant.id)
        if login is None:
            raise GatewayError(
                Status.UNAVAILABLE, "ENGINE_UNAVAILABLE",
                f"tenant {tenant.id!r} has no database login on engine {self.name!r}; configure its db_user",
            )  # fmt: skip
        return login

    def connection_params(self, tenant: Tenant) -> dict[str, str]:
        login = self.login(tenant)
        cfg = self.config
        params = {
            "host": cfg.host, "port": str(cfg.port), "dbname": cfg.database, "user": login.user,
            "sslmode": cfg.sslmode, "connect_timeout": str(max(1, round(cfg.connect_timeout_seconds))),
            "application_name": cfg.application_name,
        }  # fmt: skip
        password = login.password()
        if password is not None:
            params["password"] = password
        if cfg.sslrootcert is not None:
            params["sslrootcert"] = str(cfg.sslrootcert)
        options = " ".join(f"-c {key}={value}" for key, value in self.startup_options(tenant).items())
        if options:
            params["options"] = options
        return params

    def open_connection(self, tenant: Tenant) -> Connection:
        login = self.login(tenant)
        try:
            return adbc_postgres.connect(_conninfo(self.connection_params(tenant)), autocommit=True)
        except DriverError as exc:
            if login.forget is None or not (sqlstate_of(exc) or "").startswith("28"):
                raise self.map_error(exc) from exc
        login.forget()  # the cached secret may have been rotated: read it again, once
        try:
            return adbc_postgres.connect(_conninfo(self.connection_params(tenant)), autocommit=True)
        except DriverError as exc:
            raise self.map_error(exc) from exc

    def statement_timeout_seconds(self, tenant: Tenant) -> float | None:
        return tenant.limits.statement_timeout_seconds or self.config.statement_timeout_seconds

    def startup_options(self, tenant: Tenant) -> dict[str, str]:
        options: dict[str, str] = {}
        timeout = self.statement_timeout_seconds(tenant)
        if timeout is not None:
            options["statement_timeout"] = str(max(1, round(timeout * 1000)))
        if tenant.read_only:
            # The database refuses writes too, whatever a "query" turns out to do.
            options["default_transaction_read_only"] = "on"
        return options

    def backend_pid(self, conn: Connection) -> int | None:
        return self._pids.get(conn)

    def map_error(self, exc: BaseException, *, cancel_requested: bool = False) -> GatewayError:
        return map_postgres_error(exc, cancel_requested=cancel_requested)

    def _connector(self, tenant: Tenant) -> Connector[Connection]:
        def open_() -> Connection:
            conn = self.open_connection(tenant)
            try:
                self._pids[conn] = _backend_pid(conn)
            except BaseException:
                conn.close()
                raise
            return conn

        def reset(conn: Connection) -> None:
            # Back to the login's defaults: settings, SET ROLE, temp tables, prepared statements, locks.
            _run(conn, "DISCARD ALL")

        return Connector(open_, lambda conn: _run(conn, "select 1"), reset, lambda conn: conn.close())

    def pool(self, tenant: Tenant) -> ConnectionPool[Connection]:
        label = f"tenant {tenant.id!r} on engine {self.name!r}"
        return self._pools.get(tenant.id, lambda: ConnectionPool(label, self.config.pool, self._connector(tenant)))

    @contextmanager
    def session(self, tenant: Tenant) -> Iterator[PostgresSession]:
        with self.pool(tenant).connection() as lease:
            session = PostgresSession(self, lease, tenant)
            try:
                yield session
            finally:
                session.close()

    def info(self) -> EngineInfo:
        """The server's facts, read once through any tenant's login that works."""
        if self._info is not None:
            return self._info
        error = GatewayError(Status.UNAVAILABLE, "ENGINE_UNAVAILABLE", f"engine {self.name!r} has no tenants")
        for tenant_id in sorted(self._logins):
            # A connection of its own, closed after: never one of the tenant's pool, whose
            # connections open with the tenant's own settings (read-only, statement_timeout),
            # which a stand-in Tenant does not carry (it made a read-only tenant's pool writable).
            probe = Tenant(id=tenant_id, engine=self.name, allowed_statements=frozenset({"query"}))
            try:
                conn = self.open_connection(probe)
            except GatewayError as err:
                error = err
                continue
            try:
                self._info = postgres_info(functools.partial(_fetch, conn))
                return self._info
            except DriverError as exc:
                error = self.map_error(exc)
            finally:
                conn.close()
        raise error

    def close(self) -> None:
        self._pools.close()


def _backend_pid(conn: Any) -> int:
    cursor = conn.cursor()
    try:
        cursor.execute("select pg_backend_pid()")
        return int(cursor.fetchone()[0])
    finally:
        cursor.close()


def _run(conn: Any, sql: str) -> None:
    cursor = conn.cursor()
    try:
        statement = cursor.adbc_statement
        statement.set_sql_query(sql)
        statement.execute_update()
    finally:
        cursor.close()


def _fetch(conn: Any, sql: str, params: Sequence[str | None]) -> list[tuple[Any, ...]]:
    """postgres_info's `rows` on a connection of its own (its queries take no parameters)."""
    if params:  # postgres_info binds none
        raise ValueError("the engine-info queries take no parameters")
    cursor = conn.cursor()
    try:
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        cursor.close()
