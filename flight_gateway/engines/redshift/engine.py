"""The Redshift engine: per-tenant pools of psycopg connections logged in as the tenant's
database user (password, Secrets Manager or IAM temporary credentials), WLM query group and
statement timeout set per connection, results decoded from Redshift's text format to Arrow in
bulk, catalog from the SVV_* views, huge results UNLOADed to S3 (`redshift.unload`).

It shares the PostgreSQL engine's pool (`pgwire.pool`) and SQLSTATE mapping
(`pgwire.errors`); it does not share its ADBC driver, which cannot read from Redshift (no
COPY TO STDOUT there, and adbc-driver-postgresql 1.13 dropped its Redshift mode).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import psycopg

from auth import Tenant
from flight_gateway.config import RedshiftEngineConfig, TenantConfig
from flight_gateway.engines.base import EngineInfo
from flight_gateway.engines.pgwire.pool import ConnectionPool, Connector, TenantPools
from flight_gateway.engines.redshift.connection import check_query_group, connector, reset_session
from flight_gateway.engines.redshift.credentials import RedshiftCredentials
from flight_gateway.engines.redshift.session import RedshiftSession
from flight_gateway.engines.redshift.sqlinfo import SQL_INFO
from flight_gateway.engines.redshift.typeinfo import XDBC_TYPES

log = logging.getLogger("flight_gateway.engines.redshift")
Conn = psycopg.Connection[tuple[str | None, ...]]


class RedshiftEngine:
    dialect = "redshift"
    xdbc_types = XDBC_TYPES
    sql_info = SQL_INFO

    def __init__(
        self,
        config: RedshiftEngineConfig,
        tenants: Mapping[str, TenantConfig],
        *,
        credentials: RedshiftCredentials | None = None,
    ) -> None:
        self.name = config.name
        self.config = config
        for tenant in tenants.values():
            check_query_group(tenant.id, tenant.wlm_query_group)
        self._credentials = credentials or RedshiftCredentials(config, tenants)
        self._open = connector(config, self._credentials)
        self._pools: TenantPools[Conn] = TenantPools(self.name, config.pool)

    def info(self) -> EngineInfo:
        from flight_gateway.engines.redshift.catalog import redshift_info

        return redshift_info()

    def _pool(self, tenant: Tenant) -> ConnectionPool[Conn]:
        def make() -> ConnectionPool[Conn]:
            return ConnectionPool(
                f"{self.name}/{tenant.id}",
                self.config.pool,
                Connector(
                    open=lambda: self._open(tenant),
                    check=_check_alive,
                    reset=lambda conn: reset_session(conn, tenant, self.config),
                    close=lambda conn: conn.close(),
                ),
            )

        return self._pools.get(tenant.id, make)

    @contextmanager
    def side_connection(self, tenant: Tenant) -> Iterator[Conn]:
        """A connection outside the pool (for cancelling): never blocked by a busy pool."""
        conn = self._open(tenant)
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def session(self, tenant: Tenant) -> Iterator[RedshiftSession]:
        with self._pool(tenant).connection() as lease:
            yield RedshiftSession(lease, tenant, self)

    def close(self) -> None:
        self._pools.close()


def _check_alive(conn: Conn) -> None:
    conn.execute(b"select 1").fetchall()
