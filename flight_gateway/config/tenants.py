"""The tenant section of the settings model: who is served, by which engine, as which database user."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from flight_gateway.config.sections import NAME as _NAME
from flight_gateway.config.sections import ConfigError

StatementClass = Literal[
    "query", "dml", "ddl", "transaction", "session", "admin", "data_movement", "procedural", "ingest", "other"
]
# `other` (before the classes were split): every SQL class but query, dml and ddl.
OTHER_CLASSES = frozenset({"transaction", "session", "admin", "data_movement", "procedural"})
ResultLimitMode = Literal["error", "truncate"]
OffloadMode = Literal["auto", "always", "never"]
# A relative directory below offload_dir: no absolute paths, no `..`, no empty segments.
_OFFLOAD_PREFIX = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$"


class TenantLimitsConfig(BaseModel):
    """Enforced per tenant by the gateway's admission control (docs/admission.md)."""

    model_config = ConfigDict(extra="forbid")

    max_concurrent_statements: int | None = Field(
        default=None, ge=1, description="statements running at once; more wait in a FIFO queue (job state QUEUED)"
    )
    max_queued_statements: int = Field(
        default=100, ge=0, description="statements waiting at once (with max_concurrent_statements); more are refused"
    )
    queue_timeout_seconds: float = Field(
        default=30.0, ge=0, description="how long a statement may wait in the queue before QUEUE_TIMEOUT"
    )
    requests_per_minute: int | None = Field(
        default=None,
        ge=1,
        description="calls that start work, per minute (token bucket per replica; all replicas together with "
        "the DynamoDB job store); RATE_LIMITED",
    )
    requests_burst: int | None = Field(
        default=None, ge=1, description="calls allowed at once after a quiet spell; default requests_per_minute"
    )
    statement_timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        description="a statement running longer is stopped with STATEMENT_TIMEOUT, on every engine (also the "
        "server's statement_timeout on PostgreSQL and Redshift)",
    )
    max_result_rows: int | None = Field(default=None, ge=1, description="rows a result may have (result_limit_mode)")
    max_result_bytes: int | None = Field(
        default=None, ge=1, description="Arrow bytes a result may have (result_limit_mode)"
    )
    result_limit_mode: ResultLimitMode = Field(
        default="error",
        description="`error`: a result over max_result_rows/bytes fails with RESULT_LIMIT; `truncate`: it ends at "
        "the cap, marked in the FlightInfo's app_metadata and the job",
    )
    max_statement_bytes: int | None = Field(
        default=None, ge=1, description="this tenant's statement size limit (the gateway's applies too)"
    )
    max_offload_bytes: int | None = Field(
        default=None, ge=1, description="bytes one statement may offload; more fails with OFFLOAD_TOO_LARGE"
    )
    weight: float = Field(
        default=1.0, gt=0, le=1000, description="share of the gateway's result readers under contention"
    )
    max_concurrent_streams: int | None = Field(
        default=None, ge=1, description="result readers this tenant may occupy at once (of max_streams)"
    )
    max_joins: int | None = Field(default=None, ge=0, description="joins a statement may have (complexity limit)")
    max_subquery_depth: int | None = Field(
        default=None, ge=0, description="nesting depth of subqueries a statement may have (complexity limit)"
    )


class TenantConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_NAME, description="a letter, then up to 62 letters, digits, `_` or `-`")
    engine: str = Field(
        default="duckdb", pattern=_NAME, description="`duckdb` (embedded) or the name of an [[engines]] entry"
    )
    database: str | None = Field(
        default=None, description="DuckDB file for this tenant; default <data_dir>/tenants/<id>.duckdb"
    )
    db_user: str | None = Field(
        default=None,
        description="the database user the engine logs in as; required with a PostgreSQL or Redshift engine, "
        "ignored by DuckDB",
    )
    db_groups: list[str] = Field(default_factory=list, description="db_user's groups (Redshift IAM logins: DbGroups)")
    db_password: SecretStr | None = Field(
        default=None, description="db_user's password (prefer a file or env var); at most one password source"
    )
    db_password_file: Path | None = Field(default=None, description="file holding db_user's password")
    db_password_env: str | None = Field(default=None, description="environment variable holding db_user's password")
    db_secret_arn: str | None = Field(
        default=None, description="AWS Secrets Manager secret with db_user's password (JSON `password` key or plain)"
    )
    wlm_query_group: str | None = Field(
        default=None,
        description="Redshift WLM query group: SET query_group on every connection; other engines ignore it",
    )
    read_only: bool = Field(
        default=False,
        description="shorthand for allowed_statements = ['query']; the database is also opened read-only",
    )
    allowed_statements: list[StatementClass] = Field(
        default_factory=lambda: [c for c in get_args(StatementClass) if c != "other"],
        description="statement classes this tenant may run (`ingest`: ADBC bulk ingestion; `other`: transaction, "
        "session, admin, data_movement and procedural); others are refused with STATEMENT_NOT_ALLOWED",
    )
    offload_prefix: str | None = Field(
        default=None,
        pattern=_OFFLOAD_PREFIX,
        description="directory below offload_dir for this tenant's offloaded results; default: the tenant id",
    )
    offload: OffloadMode | None = Field(
        default=None, description="when to offload this tenant's results (auto | always | never); default offload_mode"
    )
    limits: TenantLimitsConfig = Field(default_factory=TenantLimitsConfig, description="this tenant's limits")

    @property
    def statement_classes(self) -> frozenset[str]:
        if self.read_only:
            return frozenset({"query"})
        named = frozenset(self.allowed_statements)
        return (named - {"other"}) | (OTHER_CLASSES if "other" in named else frozenset())

    @model_validator(mode="after")
    def _one_password_source(self) -> TenantConfig:
        sources = [self.db_password, self.db_password_file, self.db_password_env, self.db_secret_arn]
        if sum(source is not None for source in sources) > 1:
            raise ValueError("set at most one of db_password, db_password_file, db_password_env, db_secret_arn")
        return self

    def db_password_value(self) -> str | None:
        """The password from the config, its file or its env var (Secrets Manager is the engine's job)."""
        if self.db_password is not None:
            return self.db_password.get_secret_value()
        if self.db_password_file is not None:
            try:
                return self.db_password_file.read_text().strip()
            except OSError as exc:
                raise ConfigError(
                    f"tenants.{self.id}.db_password_file: cannot read {self.db_password_file}: {exc.strerror}"
                ) from None
        if self.db_password_env is not None:
            value = os.environ.get(self.db_password_env)
            if value is None:
                raise ConfigError(
                    f"tenants.{self.id}.db_password_env: environment variable {self.db_password_env} is not set"
                )
            return value
        return None
