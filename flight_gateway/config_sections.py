"""Sections of the settings model: database engines and credentials/identity sources.

Plain data with validation; flight_gateway/config.py composes them into `Settings` and stays the
only reader of the environment and the config file.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from auth.secret_strength import weakness

NAME = r"^[A-Za-z][A-Za-z0-9_-]{0,62}$"


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

    name: str = Field(pattern=NAME, description="what tenants put in `engine`")
    type: Literal["postgres"] = "postgres"
    host: str = "127.0.0.1"
    port: int = Field(default=5432, ge=1, le=65535)
    database: str = "postgres"
    sslmode: SslMode = "prefer"
    sslrootcert: Path | None = None
    connect_timeout_seconds: float = Field(default=10, gt=0)
    statement_timeout_seconds: float | None = Field(
        default=None, gt=0, description="default statement timeout; a tenant's limits.statement_timeout_seconds wins"
    )
    application_name: str = "flight-gateway"
    pool: PoolConfig = Field(default_factory=PoolConfig)
    region: str | None = Field(default=None, description="Secrets Manager region for db_secret_arn; default: the ARN's")
    aws_endpoint_url: str | None = Field(default=None, description="Secrets Manager endpoint override (VPC, moto)")


class RedshiftEngineConfig(BaseModel):
    """An Amazon Redshift cluster or Serverless workgroup (or the simulator)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME, description="what tenants put in `engine`")
    type: Literal["redshift"] = "redshift"
    host: str = "127.0.0.1"
    port: int = Field(default=5439, ge=1, le=65535)
    database: str = "dev"
    sslmode: SslMode = "prefer"
    sslrootcert: Path | None = None
    connect_timeout_seconds: float = Field(default=10, gt=0)
    statement_timeout_seconds: float | None = Field(default=None, gt=0)
    application_name: str = "flight-gateway"
    pool: PoolConfig = Field(default_factory=PoolConfig)
    credentials: Literal["password", "iam", "serverless", "secrets_manager"] = Field(
        default="password",
        description="password: the tenant's db_password*; iam: GetClusterCredentials (provisioned); "
        "serverless: redshift-serverless GetCredentials; secrets_manager: the tenant's db_secret_arn",
    )
    cluster_identifier: str | None = None
    workgroup_name: str | None = None
    region: str | None = None
    aws_endpoint_url: str | None = Field(default=None, description="AWS API endpoint override (VPC endpoint, moto)")
    auto_create_user: bool = Field(default=False, description="GetClusterCredentials AutoCreate")
    credentials_duration_seconds: int = Field(default=900, ge=900, le=3600)
    credentials_refresh_seconds: float = Field(
        default=120, ge=0, description="renew temporary credentials this long before they expire"
    )
    unload_iam_role: str | None = Field(default=None, description="IAM role ARN Redshift assumes for UNLOAD")
    unload_max_file_size_mb: int = Field(default=256, ge=5, le=6200)

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

    username: str = Field(min_length=1)
    password_hash: str = Field(description="scrypt hash from `flight-gateway auth hash-password`")
    tenant: str = Field(pattern=NAME)
    roles: list[str] = Field(default_factory=list)

    @field_validator("password_hash")
    @classmethod
    def _is_hash(cls, value: str) -> str:
        if not (value.startswith("scrypt$") and value.count("$") == 5):
            raise ValueError("must be an scrypt hash (scrypt$...), never a clear-text password")
        return value


class CertRuleConfig(BaseModel):
    """Maps a client certificate forwarded by a TLS-terminating proxy to a tenant."""

    model_config = ConfigDict(extra="forbid")

    field: Literal["cn", "dns", "uri", "email"]
    pattern: str = Field(min_length=1, description="`*` matches any run of characters")
    tenant: str = Field(pattern=NAME)
    subject: str = "{value}"
    roles: list[str] = Field(default_factory=list)


class ApiKeyConfig(BaseModel):
    """One `[[api_keys]]` entry, as printed by `flight-gateway auth create-key`."""

    model_config = ConfigDict(extra="forbid")

    id: str
    hash: str
    tenant: str = Field(pattern=NAME)
    subject: str = ""
    roles: list[str] = Field(default_factory=list)
    expires_at: datetime | None = None
    disabled: bool = False


class JwtIssuerConfig(BaseModel):
    """One trusted identity provider (`[[jwt_issuers]]`); exactly one key source."""

    model_config = ConfigDict(extra="forbid")

    issuer: str
    algorithms: list[str]
    audience: str | None = None
    shared_secret: SecretStr | None = None
    public_key_file: Path | None = None
    jwks_file: Path | None = None
    jwks_url: str | None = None
    tenant_claim: str = "tenant_id"
    subject_claim: str = "sub"
    db_user_claim: str | None = None
    roles_claim: str | None = None
    allow_claim_overrides: bool = False
    leeway_seconds: float = Field(default=30, ge=0, le=300)
    jwks_cache_seconds: float = Field(default=300, gt=0)
    jwks_min_refresh_seconds: float = Field(
        default=30, ge=0, description="least time between JWKS refetches on an unknown kid"
    )
    allow_http_jwks_url: bool = False

    @field_validator("shared_secret")
    @classmethod
    def _random_secret(cls, value: SecretStr | None) -> SecretStr | None:
        problem = None if value is None else weakness(value.get_secret_value())
        if problem is not None:
            raise ValueError(f"the shared secret {problem}")
        return value
