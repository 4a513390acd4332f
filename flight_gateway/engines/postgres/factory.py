"""Builds a PostgreSQL engine from its config section, with each tenant's login resolved up front.

Passwords from db_password / db_password_file / db_password_env are read now, so a missing file
or variable fails start-up naming the key; Secrets Manager secrets are read when a connection
first needs them (and cached), so a gateway can start while AWS is briefly unreachable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from flight_gateway.config import PostgresEngineConfig, TenantConfig
from flight_gateway.engines.pgwire.aws_secrets import SecretsManagerPasswords
from flight_gateway.engines.postgres.engine import PostgresEngine, TenantLogin


def tenant_login(tenant: TenantConfig, secrets: Callable[[], SecretsManagerPasswords]) -> TenantLogin:
    """The tenant's login; ConfigError (from db_password_value) names a bad password source."""
    user = tenant.db_user or ""
    if tenant.db_secret_arn is not None:
        arn = tenant.db_secret_arn
        store = secrets()
        return TenantLogin(user, store.source(arn), lambda: store.invalidate(arn))
    password = tenant.db_password_value()
    return TenantLogin(user, lambda: password)


def create_engine(config: PostgresEngineConfig, tenants: Sequence[TenantConfig]) -> PostgresEngine:
    """The engine of one `type = "postgres"` entry, with the logins of the tenants that name it."""
    store: list[SecretsManagerPasswords] = []

    def secrets() -> SecretsManagerPasswords:
        if not store:
            store.append(SecretsManagerPasswords(region=config.region, endpoint_url=config.aws_endpoint_url))
        return store[0]

    logins = {t.id: tenant_login(t, secrets) for t in tenants}
    return PostgresEngine(config.name, config, logins)
