"""Database logins for Redshift tenants: the tenant's password, a Secrets Manager secret, or
temporary IAM credentials (provisioned `GetClusterCredentials`, Serverless `GetCredentials`).

Temporary credentials are cached per database user and renewed `credentials_refresh_seconds`
before they expire, one AWS call per user at a time however many sessions ask. Failures become
GatewayErrors that name the cluster or workgroup and what to check, never a password.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from auth import Tenant
from flight_gateway.config import ConfigError, RedshiftEngineConfig, TenantConfig
from flight_gateway.engines.pgwire.aws_secrets import SecretsManagerPasswords
from flight_gateway.errors import GatewayError, Status

ClientFactory = Callable[[str], Any]

_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "AccessDeniedFault",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
}


@dataclass(frozen=True)
class DbLogin:
    """What a connection logs in with; `expires_at` (epoch seconds) is None for passwords that last."""

    user: str
    password: str = field(repr=False)
    expires_at: float | None = None


def boto3_clients(config: RedshiftEngineConfig) -> ClientFactory:
    """boto3 clients for the engine's region and endpoint (credentials from the usual AWS chain)."""

    def make(service: str) -> Any:
        import boto3  # optional dependency: only the Redshift engine needs it

        return boto3.client(service, region_name=config.region, endpoint_url=config.aws_endpoint_url)

    return make


class RedshiftCredentials:
    """Hands out a DbLogin per tenant according to the engine's `credentials` setting."""

    def __init__(
        self,
        config: RedshiftEngineConfig,
        tenants: Mapping[str, TenantConfig],
        *,
        clients: ClientFactory | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._tenants = dict(tenants)
        self._make_client = clients or boto3_clients(config)
        self._clock = clock
        self._clients: dict[str, Any] = {}
        self._cache: dict[str, DbLogin] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._secrets = SecretsManagerPasswords(
            region=config.region,
            endpoint_url=config.aws_endpoint_url,
            ttl_seconds=float(config.credentials_duration_seconds),
            client_factory=lambda _region, _endpoint: self._client("secretsmanager"),
            clock=clock,
        )

    def login(self, tenant: Tenant) -> DbLogin:
        user = tenant.db_user
        if not user:
            raise ConfigError(f"tenant {tenant.id!r}: the Redshift engine needs db_user")
        mode = self._config.credentials
        if mode == "password":
            return DbLogin(user, self._tenant_config(tenant).db_password_value() or "")
        if mode == "secrets_manager":
            arn = self._tenant_config(tenant).db_secret_arn
            if not arn:
                raise ConfigError(f"tenant {tenant.id!r}: credentials = 'secrets_manager' needs db_secret_arn")
            return DbLogin(user, self._secrets.password(arn))
        return self._temporary(tenant, user)

    def invalidate(self, tenant: Tenant) -> None:
        """Forget what `tenant` logged in with (after the database refused it: rotated, revoked)."""
        with self._lock:
            self._cache.pop(self._key(tenant), None)
        arn = self._tenants[tenant.id].db_secret_arn if tenant.id in self._tenants else None
        if arn:
            self._secrets.invalidate(arn)

    def _tenant_config(self, tenant: Tenant) -> TenantConfig:
        try:
            return self._tenants[tenant.id]
        except KeyError:
            raise ConfigError(f"tenant {tenant.id!r} is not configured for engine {self._config.name!r}") from None

    def _key(self, tenant: Tenant) -> str:
        # Groups are part of the login: the same user with other groups is another credential.
        return f"{tenant.db_user}\0{','.join(sorted(tenant.db_groups))}"

    def _temporary(self, tenant: Tenant, user: str) -> DbLogin:
        key = self._key(tenant)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # concurrent sessions of one user wait for one AWS call
            with self._lock:
                cached = self._cache.get(key)
            if cached is not None and not self._stale(cached):
                return cached
            fresh = self._fetch(user, tuple(tenant.db_groups))
            with self._lock:
                self._cache[key] = fresh
            return fresh

    def _stale(self, login: DbLogin) -> bool:
        if login.expires_at is None:
            return False
        return self._clock() >= login.expires_at - self._config.credentials_refresh_seconds

    def _client(self, service: str) -> Any:
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                client = self._clients[service] = self._make_client(service)
            return client

    def _fetch(self, user: str, groups: tuple[str, ...]) -> DbLogin:
        cfg = self._config
        try:
            if cfg.credentials == "iam":
                args: dict[str, Any] = {
                    "DbUser": user,
                    "DbName": cfg.database,
                    "ClusterIdentifier": cfg.cluster_identifier,
                    "DurationSeconds": cfg.credentials_duration_seconds,
                    "AutoCreate": cfg.auto_create_user,
                }
                if groups:
                    args["DbGroups"] = list(groups)
                reply = self._client("redshift").get_cluster_credentials(**args)
                return DbLogin(reply["DbUser"], reply["DbPassword"], _epoch(reply["Expiration"]))
            reply = self._client("redshift-serverless").get_credentials(
                workgroupName=cfg.workgroup_name,
                dbName=cfg.database,
                durationSeconds=cfg.credentials_duration_seconds,
            )
            return DbLogin(reply["dbUser"], reply["dbPassword"], _epoch(reply["expiration"]))
        except GatewayError:
            raise
        except Exception as exc:  # botocore raises many unrelated types; all mean "no login"
            raise self._failed(exc) from exc

    def _failed(self, exc: BaseException) -> GatewayError:
        cfg = self._config
        if cfg.credentials == "iam":
            where, api = f"cluster {cfg.cluster_identifier!r}", "redshift:GetClusterCredentials"
        else:
            where, api = f"Redshift Serverless workgroup {cfg.workgroup_name!r}", "redshift-serverless:GetCredentials"
        code, detail = _aws_error(exc)
        if code in _DENIED:
            return GatewayError(
                Status.PERMISSION_DENIED,
                "REDSHIFT_CREDENTIALS_DENIED",
                f"AWS refused temporary database credentials for {where} ({code}); "
                f"check that the gateway's IAM identity may call {api} for this user and its groups",
            )
        return GatewayError(
            Status.UNAVAILABLE,
            "REDSHIFT_CREDENTIALS_UNAVAILABLE",
            f"cannot get temporary database credentials for {where} ({detail}); "
            f"check the engine's cluster/workgroup name, region and aws_endpoint_url, and the gateway's AWS "
            "credentials, then retry",
            retryable=True,
        )


def _aws_error(exc: BaseException) -> tuple[str, str]:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        code = str(error.get("Code", "error"))
        message = str(error.get("Message", "")).strip()
        return code, f"{code}: {message}" if message else code
    return type(exc).__name__, type(exc).__name__


def _epoch(value: datetime | str | float) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        return datetime.fromisoformat(value).timestamp()
    return float(value)
