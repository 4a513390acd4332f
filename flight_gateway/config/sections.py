"""Sections of the settings model: database engines and credentials/identity sources.

Plain data with validation; `settings.py` composes them into `Settings` and `loading.py` stays the
only reader of the environment and the config file.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from auth.secret_strength import weakness

NAME = r"^[A-Za-z][A-Za-z0-9_-]{0,62}$"


class ConfigError(Exception):
    """Invalid configuration; the message names the key and the fix."""


SslMode = Literal["disable", "prefer", "require", "verify-ca", "verify-full"]


class PoolConfig(BaseModel):
    """Per-tenant connection pool of a database engine (one pool per tenant db user)."""

    model_config = ConfigDict(extra="forbid")

    min_size: int = Field(default=0, ge=0, le=1000, description="connections kept open per tenant")
    max_size: int = Field(default=8, ge=1, le=1000, description="most connections per tenant")
    acquire_timeout_seconds: float = Field(default=10, gt=0, description="wait for a free connection, then fail")
    idle_timeout_seconds: float = Field(default=300, gt=0, description="close connections idle this long")
    max_lifetime_seconds: float = Field(default=3600, gt=0, description="replace connections this old")
    health_check: bool = Field(default=True, description="check a connection before handing it out")

    @model_validator(mode="after")
    def _sizes(self) -> PoolConfig:
        if self.min_size > self.max_size:
            raise ValueError("min_size must not exceed max_size")
        return self


class PostgresEngineConfig(BaseModel):
    """A PostgreSQL server; every tenant on it logs in as its own `db_user`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME, description="what tenants put in `engine` (not duckdb)")
    type: Literal["postgres"] = Field(default="postgres", description="the engine's kind")
    host: str = Field(default="127.0.0.1", description="the server's host")
    port: int = Field(default=5432, ge=1, le=65535, description="the server's port")
    database: str = Field(default="postgres", description="the database every tenant of this engine connects to")
    sslmode: SslMode = Field(default="prefer", description="libpq TLS mode; verify-full checks the server's name")
    sslrootcert: Path | None = Field(default=None, description="CA file for verify-ca / verify-full")
    connect_timeout_seconds: float = Field(default=10, gt=0, description="libpq connect timeout")
    statement_timeout_seconds: float | None = Field(
        default=None, gt=0, description="default statement timeout; a tenant's limits.statement_timeout_seconds wins"
    )
    application_name: str = Field(default="flight-gateway", description="shows in pg_stat_activity")
    pool: PoolConfig = Field(default_factory=PoolConfig, description="one connection pool per tenant")
    region: str | None = Field(default=None, description="Secrets Manager region for db_secret_arn; default: the ARN's")
    aws_endpoint_url: str | None = Field(default=None, description="Secrets Manager endpoint override (VPC, moto)")


class RedshiftEngineConfig(BaseModel):
    """An Amazon Redshift cluster or Serverless workgroup (or the simulator)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME, description="what tenants put in `engine`")
    type: Literal["redshift"] = Field(default="redshift", description="the engine's kind")
    host: str = Field(default="127.0.0.1", description="the cluster or workgroup endpoint")
    port: int = Field(default=5439, ge=1, le=65535, description="the endpoint's port")
    database: str = Field(default="dev", description="the database every tenant of this engine connects to")
    sslmode: SslMode = Field(default="prefer", description="libpq TLS mode; use verify-full with Redshift's CA bundle")
    sslrootcert: Path | None = Field(default=None, description="CA file for verify-ca / verify-full")
    connect_timeout_seconds: float = Field(default=10, gt=0, description="libpq connect timeout")
    statement_timeout_seconds: float | None = Field(
        default=None, gt=0, description="statement_timeout of every connection; a tenant's limits win"
    )
    application_name: str = Field(
        default="flight-gateway", description="connections carry <application_name>/<tenant id> (STL_CONNECTION_LOG)"
    )
    pool: PoolConfig = Field(default_factory=PoolConfig, description="one connection pool per tenant")
    credentials: Literal["password", "iam", "serverless", "secrets_manager"] = Field(
        default="password",
        description="password: the tenant's db_password*; iam: GetClusterCredentials (provisioned); "
        "serverless: redshift-serverless GetCredentials; secrets_manager: the tenant's db_secret_arn",
    )
    cluster_identifier: str | None = Field(default=None, description="the provisioned cluster; required with iam")
    workgroup_name: str | None = Field(default=None, description="the Serverless workgroup; required with serverless")
    region: str | None = Field(
        default=None, description="region of the Redshift and Secrets Manager APIs; unset: the AWS chain's"
    )
    aws_endpoint_url: str | None = Field(default=None, description="AWS API endpoint override (VPC endpoint, moto)")
    auto_create_user: bool = Field(default=False, description="GetClusterCredentials AutoCreate")
    credentials_duration_seconds: int = Field(
        default=900, ge=900, le=3600, description="lifetime asked for temporary credentials (iam, serverless)"
    )
    credentials_refresh_seconds: float = Field(
        default=120, ge=0, description="renew temporary credentials this long before they expire"
    )
    unload_iam_role: str | None = Field(
        default=None,
        description="IAM role ARN Redshift assumes to UNLOAD offloaded results to S3; unset: the gateway writes them",
    )
    unload_max_file_size_mb: int = Field(default=256, ge=5, le=6200, description="UNLOAD's MAXFILESIZE")

    @model_validator(mode="after")
    def _credentials_complete(self) -> RedshiftEngineConfig:
        if self.credentials == "iam" and not self.cluster_identifier:
            raise ValueError("credentials = 'iam' needs cluster_identifier")
        if self.credentials == "serverless" and not self.workgroup_name:
            raise ValueError("credentials = 'serverless' needs workgroup_name")
        return self


EngineConfig = Annotated[PostgresEngineConfig | RedshiftEngineConfig, Field(discriminator="type")]


class UserConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, description="the login name")
    password_hash: str = Field(description="scrypt hash from `flight-gateway auth hash-password`")
    tenant: str = Field(pattern=NAME, description="a configured tenant id")
    roles: list[str] = Field(
        default_factory=list, description="carried in the bearer token, not used for authorization yet"
    )

    @field_validator("password_hash")
    @classmethod
    def _is_hash(cls, value: str) -> str:
        if not (value.startswith("scrypt$") and value.count("$") == 5):
            raise ValueError("must be an scrypt hash (scrypt$...), never a clear-text password")
        return value


class CertRuleConfig(BaseModel):
    """Maps a client certificate forwarded by a TLS-terminating proxy to a tenant."""

    model_config = ConfigDict(extra="forbid")

    field: Literal["cn", "dns", "uri", "email"] = Field(
        description="the name matched: the subject's CN or a subject alternative name (dns, uri, email)"
    )
    pattern: str = Field(min_length=1, description="literal, except `*` for any run of characters")
    tenant: str = Field(pattern=NAME, description="the tenant a matching certificate maps to")
    subject: str = Field(default="{value}", description="the caller's subject; {value} is the matched name")
    roles: list[str] = Field(default_factory=list, description="carried, not used for authorization yet")


class ApiKeyConfig(BaseModel):
    """One `[[api_keys]]` entry, as printed by `flight-gateway auth create-key`."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="the key's public id (the 12 characters after fgk_); logs name it")
    hash: str = Field(description="the SHA-256 hash of the key (sha256$...); the key itself is never stored")
    tenant: str = Field(pattern=NAME, description="the tenant the key logs in to")
    subject: str = Field(default="", description="the caller's subject; empty: key:<id>")
    roles: list[str] = Field(default_factory=list, description="carried, not used for authorization yet")
    expires_at: datetime | None = Field(default=None, description="expiry, with a timezone; unset: never")
    disabled: bool = Field(default=False, description="refuse the key (takes effect on restart)")


class JwtIssuerConfig(BaseModel):
    """One trusted identity provider (`[[jwt_issuers]]`); exactly one key source."""

    model_config = ConfigDict(extra="forbid")

    issuer: str = Field(description="the exact `iss` of the provider's tokens")
    algorithms: list[str] = Field(
        description="accepted `alg` values; none is never accepted, HS* only with shared_secret, RS*/PS*/ES* only "
        "with a public key"
    )
    audience: str | None = Field(
        default=None, description="when set, the token's `aud` must include it; when unset, `aud` is not checked"
    )
    shared_secret: SecretStr | None = Field(
        default=None, description="key source (one of four): a random secret for HS256/384/512 (at least 32 bytes)"
    )
    public_key_file: Path | None = Field(
        default=None, description="key source: a PEM public key (RSA of at least 2048 bits, or EC)"
    )
    jwks_file: Path | None = Field(default=None, description="key source: a JWKS document on disk, re-read like a URL")
    jwks_url: str | None = Field(default=None, description="key source: the provider's JWKS endpoint (https)")
    tenant_claim: str = Field(
        default="tenant_id", description="claim naming the tenant; a dotted name reaches into nested objects"
    )
    subject_claim: str = Field(default="sub", description="claim naming the caller (jobs and logs show it)")
    db_user_claim: str | None = Field(
        default=None, description="claim naming a database user (with allow_claim_overrides; carried, not used yet)"
    )
    roles_claim: str | None = Field(
        default=None,
        description="claim holding roles, a list or a space-separated string (with allow_claim_overrides; carried, "
        "not used for authorization yet)",
    )
    allow_claim_overrides: bool = Field(
        default=False, description="honour roles_claim and db_user_claim; without it both are ignored"
    )
    leeway_seconds: float = Field(default=30, ge=0, le=300, description="clock skew tolerated on exp, nbf and iat")
    jwks_cache_seconds: float = Field(
        default=300, gt=0, description="how long fetched JWKS keys are used before they are fetched again"
    )
    jwks_min_refresh_seconds: float = Field(
        default=30, ge=0, description="least time between JWKS refetches on an unknown kid"
    )
    allow_http_jwks_url: bool = Field(
        default=False,
        description="allow a plain http:// jwks_url (always allowed for 127.0.0.1, ::1 and localhost)",
    )

    @field_validator("shared_secret")
    @classmethod
    def _random_secret(cls, value: SecretStr | None) -> SecretStr | None:
        problem = None if value is None else weakness(value.get_secret_value())
        if problem is not None:
            raise ValueError(f"the shared secret {problem}")
        return value
