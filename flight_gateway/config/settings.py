"""The settings model: every setting, its default and its validation (`loading.py` reads them).

Precedence: CLI flags > `FLIGHT_GATEWAY_*` environment variables > TOML file (`--config`) > defaults.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from auth.secret_strength import weakness
from flight_gateway.config.sections import (
    ApiKeyConfig,
    CertRuleConfig,
    EngineConfig,
    JwtIssuerConfig,
    PostgresEngineConfig,
    RedshiftEngineConfig,
    UserConfig,
)
from flight_gateway.config.tenants import OffloadMode, TenantConfig

PREFIX = "FLIGHT_GATEWAY_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="forbid")

    host: str = Field(default="127.0.0.1", description="address to listen on; 0.0.0.0 for every interface (containers)")
    port: int = Field(
        default=8815, ge=0, le=65535, description="port to listen on; 0 picks a free one (the banner shows it)"
    )
    data_dir: Path = Field(
        default=Path(".flight-gateway"),
        description="state (job store, signing key, demo password and databases, default tenant databases); "
        "relative to the working directory",
    )
    jobs_db: Path | None = Field(default=None, description="SQLite job store; default <data_dir>/jobs.sqlite3")
    demo: bool | None = Field(
        default=None, description="serve the demo tenants acme and globex; unset: on only when nothing is configured"
    )
    demo_rows: int = Field(
        default=100_000,
        ge=100,
        le=1_000_000_000,
        description="rows of each demo dataset; each size is generated once under <data_dir>/demo/",
    )
    demo_password: SecretStr | None = Field(
        default=None,
        description="password of both demo tenants; unset: generated and kept in <data_dir>/demo-password",
    )
    token_ttl_seconds: int = Field(
        default=12 * 3600, ge=60, description="lifetime of a gateway bearer token (12 h by default)"
    )
    token_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="signing keys, key id -> a random secret (openssl rand -hex 32; phrases, placeholders and "
        "patterns are refused); in the environment a JSON object; empty: one key generated and kept in "
        "<data_dir>/signing-key",
    )
    token_active_key: str | None = Field(
        default=None,
        description="key id that signs new tokens, tickets and prepared-statement handles; unset: the last key id "
        "in sort order",
    )
    ticket_ttl_seconds: int = Field(
        default=3600, ge=10, description="lifetime of a ticket in a FlightInfo; prepared-statement handles live 24 h"
    )
    batch_rows: int = Field(default=65_536, ge=1024, le=4_194_304, description="rows per streamed record batch")
    heartbeat_seconds: float = Field(
        default=20.0, gt=0, le=600, description="send an empty batch after this long without data"
    )
    max_streams: int = Field(default=64, ge=1, le=4096, description="result streams read concurrently")
    store_sql_text: bool = Field(
        default=False, description="keep the SQL text in job records (otherwise only a fingerprint)"
    )
    max_statement_bytes: int = Field(
        default=1 << 20,
        ge=1024,
        description="largest SQL statement accepted (UTF-8 bytes); larger ones answer STATEMENT_TOO_LARGE, "
        "and text holding a NUL character answers NUL_IN_STATEMENT, on every engine",
    )
    job_retention_days: float = Field(
        default=30, gt=0, le=36_500, description="job records are deleted this long after they were created"
    )
    instance_heartbeat_seconds: float = Field(
        default=10,
        gt=0,
        le=3600,
        description="how often this gateway proves it is alive in the job store; its running jobs are "
        "failed (GATEWAY_RESTARTED) once its heartbeat is 3 times this old",
    )
    job_sweep_seconds: float = Field(
        default=60,
        gt=0,
        le=86_400,
        description="how often the restart-recovery, never-fetched and retention sweeps run",
    )
    max_detached_jobs: int = Field(
        default=4, ge=1, le=1024, description="detached jobs (SubmitJob) this gateway runs at once; more are refused"
    )
    idempotency_window_seconds: float = Field(
        default=86_400,
        gt=0,
        le=30 * 86_400,
        description="how long a client request id (x-flight-gateway-request-id) returns its first call's outcome; "
        "at most job_retention_days",
    )
    offload_dir: Path | None = Field(
        default=None, description="where offloaded Parquet results go; default <data_dir>/offload"
    )
    offload_mode: OffloadMode = Field(
        # Off unless asked for: offloading writes whole results to the gateway's disk.
        default="never",
        description="when results are offloaded: auto (estimated size over offload_threshold_bytes), always, never; "
        "per tenant `offload`, per call the x-flight-gateway-delivery header",
    )
    offload_threshold_bytes: int = Field(
        default=256 * 1024 * 1024, ge=0, description="auto offloads results estimated above this (256 MiB by default)"
    )
    offload_max_bytes: int = Field(
        default=8 * 1024**3,
        ge=1,
        description="largest result offloaded: auto streams results estimated beyond it (endless or huge queries "
        "read lazily), and an offload that grows past it fails (OFFLOAD_TOO_LARGE); 8 GiB by default",
    )
    offload_part_rows: int = Field(default=1_000_000, ge=1, description="rows per offloaded Parquet file (endpoint)")
    offload_ttl_seconds: int = Field(
        default=3600, ge=1, description="how long offloaded results are kept; RenewFlightEndpoint extends it"
    )
    offload_sweep_seconds: float = Field(
        default=60, gt=0, le=86_400, description="how often expired offloaded results are deleted (also at start-up)"
    )
    offload_target: str | None = Field(
        default=None,
        description="s3://bucket/prefix to offload to S3 instead of offload_dir (default credentials chain)",
    )
    offload_s3_endpoint_url: str | None = Field(
        default=None, description="S3 endpoint override (MinIO, moto, a VPC endpoint)"
    )
    offload_s3_region: str | None = Field(default=None, description="the bucket's region; default: the AWS chain's")
    offload_sse: Literal["AES256", "aws:kms"] | None = Field(
        default=None,
        description="server-side encryption of every offloaded object: AES256 (SSE-S3) or aws:kms (SSE-KMS); S3 "
        "only; unset: the bucket's default",
    )
    offload_kms_key_id: str | None = Field(
        default=None, description="KMS key (id or ARN) for offload_sse = aws:kms; unset: the AWS-managed key"
    )
    job_store: Literal["sqlite", "dynamodb"] = Field(
        default="sqlite", description="where job records live: sqlite (one node) or dynamodb (shared by replicas)"
    )
    dynamodb_table: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]{3,255}$",
        description="the DynamoDB job table; required with job_store = dynamodb",
    )
    dynamodb_region: str | None = Field(default=None, description="the job table's region; unset: the AWS chain's")
    dynamodb_endpoint_url: str | None = Field(
        default=None, description="DynamoDB endpoint override (DynamoDB Local, moto)"
    )
    dynamodb_create_table: bool = Field(
        default=False,
        description="create the job table (keys, indexes, TTL, on-demand capacity) if it is missing: for "
        "development and tests; in production create it with your infrastructure code",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="least level logged (any case is accepted)"
    )
    tls_cert_file: Path | None = Field(
        default=None,
        description="server certificate chain (PEM, the server's certificate first); with tls_key_file the "
        "gateway serves grpc+tls://",
    )
    tls_key_file: Path | None = Field(
        default=None, description="the server's private key (unencrypted PEM: RSA, ECDSA or Ed25519)"
    )
    tls_client_ca_file: Path | None = Field(
        default=None,
        description="CA bundle (PEM): clients must present a certificate it signed (mTLS); needs tls_cert_file",
    )
    tls_self_signed: bool = Field(
        default=False,
        description="serve TLS with a throwaway self-signed certificate written to <data_dir>/tls-self-signed.pem, "
        "for local trials; not with tls_cert_file",
    )
    client_cert_header: str | None = Field(
        default=None,
        description="header in which a TLS-terminating proxy forwards the client certificate; trust only behind it",
    )
    client_cert_rules: list[CertRuleConfig] = Field(
        default_factory=list,
        description="rules mapping a client certificate (forwarded by a proxy, or verified by mTLS with "
        "tls_client_identity) to a tenant; the first match wins",
    )
    tls_client_identity: bool = Field(
        default=False,
        description="identify callers by their verified client certificate (mTLS) via client_cert_rules; "
        "disables the Basic login Handshake; needs tls_client_ca_file",
    )
    api_keys: list[ApiKeyConfig] = Field(
        default_factory=list, description="API keys, as printed by `flight-gateway auth create-key`"
    )
    jwt_issuers: list[JwtIssuerConfig] = Field(default_factory=list, description="trusted identity providers")
    auth_max_failures: int = Field(
        default=10,
        ge=1,
        description="failed authentications within the window that lock a username or client address out",
    )
    auth_failure_window_seconds: float = Field(
        default=60, gt=0, description="the window in which authentication failures are counted"
    )
    auth_lockout_seconds: float = Field(default=300, gt=0, description="how long a lockout lasts")
    engines: list[EngineConfig] = Field(
        default_factory=list,
        description="PostgreSQL and Redshift servers that tenants name in `engine` (DuckDB is built in)",
    )
    tenants: list[TenantConfig] = Field(default_factory=list, description="the tenants this gateway serves")
    users: list[UserConfig] = Field(default_factory=list, description="username and password logins")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("token_keys")
    @classmethod
    def _strong_keys(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for kid, secret in value.items():
            if len(secret.get_secret_value()) < 32:
                raise ValueError(f"key {kid!r} is shorter than 32 characters; use `openssl rand -hex 32`")
            problem = weakness(secret.get_secret_value())
            if problem is not None:
                raise ValueError(f"key {kid!r} {problem}")
        return value

    @model_validator(mode="after")
    def _tls_consistent(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file must be set together")
        if self.tls_self_signed and self.tls_cert_file is not None:
            raise ValueError("tls_self_signed conflicts with tls_cert_file; choose one")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file (mTLS) needs tls_cert_file and tls_key_file")
        if self.tls_client_identity and (self.tls_client_ca_file is None or not self.client_cert_rules):
            raise ValueError("tls_client_identity needs tls_client_ca_file and client_cert_rules")
        return self

    @model_validator(mode="after")
    def _engines_known(self) -> Settings:
        names = [engine.name for engine in self.engines]
        for name in names:
            if name == "duckdb" or names.count(name) > 1:
                raise ValueError(f"engines: name {name!r} is reserved or declared twice")
        for tenant in self.tenants:
            if tenant.engine != "duckdb" and tenant.engine not in names:
                raise ValueError(f"tenant {tenant.id!r}: engine {tenant.engine!r} is not declared in [[engines]]")
            if tenant.engine != "duckdb" and not tenant.db_user:
                raise ValueError(f"tenant {tenant.id!r}: engine {tenant.engine!r} needs db_user (the tenant's login)")
        return self

    @field_validator("offload_target")
    @classmethod
    def _s3_target(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", value):
            raise ValueError("must look like s3://bucket/prefix (a valid bucket name; the prefix may be empty)")
        return value

    @model_validator(mode="after")
    def _stores_consistent(self) -> Settings:
        if self.offload_sse is not None and self.offload_target is None:
            raise ValueError("offload_sse applies to S3 only: set offload_target = 's3://bucket/prefix' or drop it")
        if self.offload_kms_key_id is not None and self.offload_sse != "aws:kms":
            raise ValueError("offload_kms_key_id needs offload_sse = 'aws:kms'")
        if self.job_store == "dynamodb" and not self.dynamodb_table:
            raise ValueError("job_store = 'dynamodb' needs dynamodb_table (the table name)")
        return self

    def engine_config(self, name: str) -> PostgresEngineConfig | RedshiftEngineConfig:
        return next(engine for engine in self.engines if engine.name == name)

    @property
    def tls_enabled(self) -> bool:
        return self.tls_self_signed or self.tls_cert_file is not None

    @property
    def demo_enabled(self) -> bool:
        return self.demo if self.demo is not None else not self.tenants

    @property
    def offload_path(self) -> Path:
        return self.offload_dir or self.data_dir / "offload"

    @property
    def jobs_path(self) -> Path:
        return self.jobs_db or self.data_dir / "jobs.sqlite3"
