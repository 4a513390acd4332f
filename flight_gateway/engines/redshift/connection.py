"""Opening a Redshift connection for a tenant: login, driver settings, session settings.

The driver is psycopg 3 (libpq, C) rather than redshift_connector: the same wire protocol,
but rows are split in C and reach us as strings, which `redshift.types` turns into Arrow in
bulk (see docs/engines/redshift.md for the measured difference). Three Redshift quirks:
* Redshift reports `client_encoding = UNICODE`, a name psycopg does not know; it is UTF-8.
* No server-side prepared statements are kept (`prepare_threshold=None`): Redshift has no
  `DEALLOCATE ALL`, and pooled connections must not accumulate plans.
* Results in text format only (Redshift has no binary transfer); every loader is the text loader.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import _encodings, generators
from psycopg.adapt import AdaptersMap
from psycopg.types.string import TextLoader

from auth import Tenant
from flight_gateway.config import ConfigError, RedshiftEngineConfig
from flight_gateway.engines.pgwire.errors import map_postgres_error, sqlstate_of
from flight_gateway.engines.redshift.credentials import RedshiftCredentials
from flight_gateway.errors import GatewayError

# Redshift's name for UTF-8 (psycopg issue #122); registering it is what the driver lacks.
_encodings.py_codecs.setdefault(b"UNICODE", "utf-8")

# WLM query group labels are plain words; anything else is refused at start-up rather than quoted.
_QUERY_GROUP = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
_LOGIN_REFUSED = ("28P01", "28000")


def _text_adapters() -> AdaptersMap:
    adapters = AdaptersMap(psycopg.adapters)
    for info in psycopg.adapters.types:
        adapters.register_loader(info.oid, TextLoader)
        if info.array_oid:
            adapters.register_loader(info.array_oid, TextLoader)
    return adapters


TEXT_ADAPTERS = _text_adapters()


def check_query_group(tenant_id: str, group: str | None) -> None:
    if group is not None and not _QUERY_GROUP.match(group):
        raise ConfigError(
            f"tenants.{tenant_id}.wlm_query_group: {group!r} is not a plain label (letters, digits, _ . : @ -)"
        )


def quote_literal(value: str) -> str:
    """A SQL string literal. Backslashes are refused: Redshift reads them as escapes, PostgreSQL
    (standard_conforming_strings) does not, so no single quoting means the same to both."""
    if "\\" in value:
        raise ValueError("backslashes are not allowed in this literal")
    return "'" + value.replace("'", "''") + "'"


def session_settings(tenant: Tenant, config: RedshiftEngineConfig) -> list[str]:
    """The SET statements a fresh connection runs before it serves the tenant."""
    statements = ["SET TimeZone TO 'UTC'"]  # timestamptz text is then always +00
    timeout = tenant.limits.statement_timeout_seconds or config.statement_timeout_seconds
    statements.append(f"SET statement_timeout TO {int(timeout * 1000) if timeout else 0}")
    if tenant.wlm_query_group:
        check_query_group(tenant.id, tenant.wlm_query_group)
        statements.append(f"SET query_group TO {quote_literal(tenant.wlm_query_group)}")
    return statements


def run_simple(conn: psycopg.Connection[Any], sql: str) -> None:
    """Statements without parameters or results in one round trip (the simple query protocol,
    which takes several statements at once)."""
    conn.pgconn.send_query(sql.encode())
    for result in conn.wait(generators.execute(conn.pgconn)):
        if result.status == psycopg.pq.ExecStatus.FATAL_ERROR:
            raise psycopg.errors.error_from_result(result, encoding=conn.info.encoding)


def reset_session(conn: psycopg.Connection[Any], tenant: Tenant, config: RedshiftEngineConfig) -> None:
    """A connection coming back to the pool: whatever the last statement changed in the session
    (set_config, an open transaction) is undone, and the tenant's settings are applied again."""
    if conn.closed or conn.broken:
        raise ConnectionError("the connection is gone")
    if conn.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.rollback()
    run_simple(conn, "; ".join(["RESET ALL", *session_settings(tenant, config)]))


def connector(
    config: RedshiftEngineConfig, credentials: RedshiftCredentials
) -> Callable[[Tenant], psycopg.Connection[tuple[str | None, ...]]]:
    """A function opening a ready connection for a tenant (one retry after a refused login)."""

    def open_for(tenant: Tenant) -> psycopg.Connection[tuple[str | None, ...]]:
        for attempt in (1, 2):
            login = credentials.login(tenant)
            try:
                conn: psycopg.Connection[tuple[str | None, ...]] = psycopg.Connection.connect(
                    host=config.host,
                    port=config.port,
                    dbname=config.database,
                    user=login.user,
                    password=login.password,
                    sslmode=config.sslmode,
                    sslrootcert=str(config.sslrootcert) if config.sslrootcert else None,
                    connect_timeout=max(2, int(config.connect_timeout_seconds)),
                    # Per tenant, so STL_CONNECTION_LOG / pg_stat_activity tell tenants apart.
                    application_name=f"{config.application_name}/{tenant.id}",
                    autocommit=True,
                    prepare_threshold=None,
                    context=TEXT_ADAPTERS,
                )
            except psycopg.Error as exc:
                refused = sqlstate_of(exc) in _LOGIN_REFUSED or "password authentication failed" in str(exc)
                if refused and attempt == 1:
                    credentials.invalidate(tenant)  # rotated secret or expired token: fetch a fresh one
                    continue
                raise _connect_failed(exc, config, tenant) from exc
            try:
                run_simple(conn, "; ".join(session_settings(tenant, config)))
            except BaseException:
                conn.close()
                raise
            return conn
        raise AssertionError("unreachable")  # pragma: no cover

    return open_for


def _connect_failed(exc: psycopg.Error, config: RedshiftEngineConfig, tenant: Tenant) -> GatewayError:
    error = map_postgres_error(exc)
    where = f"Redshift at {config.host}:{config.port}/{config.database} as {tenant.db_user!r}"
    return GatewayError(
        error.status, error.code, f"cannot connect to {where}: {error.message}",
        sqlstate=error.sqlstate, retryable=error.retryable,
    )  # fmt: skip
