"""Composition root: builds engines, job store, auth and the Flight server from Settings."""

from __future__ import annotations

import importlib
import logging
import os
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from auth import Authenticator, Tenant, TokenSigner, User, hash_password
from auth.api_keys import ApiKeyVerifier, api_key_record_from_mapping
from auth.flight import MIDDLEWARE_KEY, AuthMiddlewareFactory, NoopHandshake
from auth.jwt_verifier import JwtIssuer, JwtVerifier
from auth.model import TenantLimits
from auth.rate_limit import FailureLimiter
from auth.secret_strength import weakness
from auth.tls import (
    CertField,
    CertificateMapping,
    CertificateRule,
    TlsConfigError,
    TlsFiles,
    describe_certificate,
    load_tls,
    self_signed,
    server_tls_kwargs,
    tls_location,
)
from flight_gateway.config import ConfigError, Settings
from flight_gateway.engines.base import Engine
from flight_gateway.engines.duckdb.demo import demo_database
from flight_gateway.engines.duckdb.engine import DuckDBEngine
from flight_gateway.engines.registry import create_engines
from flight_gateway.jobs import JobHousekeeper, JobStore, SqliteJobStore
from flight_gateway.jobs.idempotency import RequestIds
from flight_gateway.offload import LocalOffload, Offload, OffloadSweeper
from flight_gateway.protocol.info import ServerInfo
from flight_gateway.protocol.offloaded import OffloadDelivery
from flight_gateway.protocol.server import GatewayFlightServer
from flight_gateway.protocol.status import install_formatter
from flight_gateway.protocol.tickets import TicketSigner
from flight_gateway.service.admission import Admission
from flight_gateway.service.detached import DetachedJobs
from flight_gateway.service.executor import Executor
from flight_gateway.service.offloading import Offloading
from flight_gateway.service.streaming import BatchPump

log = logging.getLogger("flight_gateway")

DEMO_TENANTS = ("acme", "globex")


@dataclass
class Gateway:
    server: GatewayFlightServer
    jobs: JobStore
    engines: dict[str, Engine]
    pump: BatchPump
    location: str
    banner: list[str] = field(default_factory=list)
    housekeeper: JobHousekeeper | None = None
    offload: Offload | None = None
    offload_sweeper: OffloadSweeper | None = None
    detached: DetachedJobs | None = None

    @property
    def port(self) -> int:
        return int(self.server.port)

    def serve(self) -> None:
        self.server.serve()

    def shutdown(self) -> None:
        self.server.shutdown()
        if self.detached is not None:  # before the engines close under its running jobs
            self.detached.close()
        self.pump.close()
        for engine in self.engines.values():
            engine.close()
        if self.offload_sweeper is not None:
            self.offload_sweeper.stop()
        if self.housekeeper is not None:
            self.housekeeper.stop()
        self.jobs.close()


def _private_file(path: Path, make: str) -> str:
    """Read a small secret kept in the data dir, creating it (mode 0600) on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(make + "\n")
    return make


def _signing_keys(settings: Settings) -> tuple[dict[str, bytes], str]:
    if settings.token_keys:
        keys = {kid: s.get_secret_value().encode() for kid, s in settings.token_keys.items()}
        active = settings.token_active_key or sorted(keys)[-1]
        if active not in keys:
            raise ConfigError(f"token_active_key: {active!r} is not a key in token_keys")
        return keys, active
    # Without configured keys the gateway keeps one in its data dir, so a restart does not
    # log clients out; replicas must share configured keys instead.
    path = settings.data_dir / "signing-key"
    secret = _private_file(path, secrets.token_hex(32))
    problem = weakness(secret)
    if problem is not None:
        raise ConfigError(f"{path}: the kept signing key {problem}, or delete the file to have one generated")
    return {"local": secret.encode()}, "local"


def _tenants_and_users(settings: Settings) -> tuple[dict[str, Tenant], dict[str, User], list[str]]:
    tenants: dict[str, Tenant] = {}
    users: dict[str, User] = {}
    banner: list[str] = []
    for cfg in settings.tenants:
        if cfg.id in tenants:
            raise ConfigError(f"tenants: tenant id {cfg.id!r} is declared twice")
        database = cfg.database or str(settings.data_dir / "tenants" / f"{cfg.id}.duckdb")
        tenants[cfg.id] = Tenant(
            id=cfg.id,
            engine=cfg.engine,
            database=database,
            db_user=cfg.db_user,
            db_groups=tuple(cfg.db_groups),
            wlm_query_group=cfg.wlm_query_group,
            allowed_statements=cfg.statement_classes,
            offload_prefix=cfg.offload_prefix,
            offload=cfg.offload,
            limits=TenantLimits(**cfg.limits.model_dump()),
        )
    if settings.demo_enabled:
        if settings.demo_password is not None:
            password, where = settings.demo_password.get_secret_value(), "from FLIGHT_GATEWAY_DEMO_PASSWORD"
        else:
            path = settings.data_dir / "demo-password"
            password = _private_file(path, secrets.token_urlsafe(12))
            where = f"generated, kept in {path}"
        password_hash = hash_password(password)
        for tenant_id in DEMO_TENANTS:
            if tenant_id in tenants:
                raise ConfigError(f"tenants: {tenant_id!r} is reserved for the demo; set demo = false")
            path = demo_database(settings.data_dir, tenant_id, settings.demo_rows)
            tenants[tenant_id] = Tenant(id=tenant_id, engine="duckdb", database=str(path))
            users[tenant_id] = User(tenant_id, password_hash, tenant_id)
        banner += [
            f"demo tenants: {', '.join(DEMO_TENANTS)} (username = tenant), {settings.demo_rows} rows each",
            f"demo password: {password}  ({where})" if where.startswith("generated") else f"demo password: {where}",
        ]
    for user in settings.users:
        if user.tenant not in tenants:
            raise ConfigError(f"users: user {user.username!r} names unknown tenant {user.tenant!r}")
        if user.username in users:
            raise ConfigError(f"users: username {user.username!r} is declared twice")
        users[user.username] = User(user.username, user.password_hash, user.tenant, tuple(user.roles))
    if not tenants:
        raise ConfigError("tenants: no tenants are configured and demo = false; declare [[tenants]]")
    return tenants, users, banner


def _tls(settings: Settings) -> tuple[dict[str, Any], list[str]]:
    """pyarrow server TLS arguments and banner lines; ConfigError names the bad file."""
    if not settings.tls_enabled:
        return {}, []
    if settings.tls_self_signed:
        cert_path = settings.data_dir / "tls-self-signed.pem"
        hosts = list(dict.fromkeys([settings.host, "localhost", "127.0.0.1"]))
        material = self_signed([h for h in hosts if h not in ("0.0.0.0", "::")], cert_out=cert_path)  # noqa: S104
        note = f"TLS: throwaway self-signed certificate; clients trust {cert_path} (tls_root_certs)"
    else:
        assert settings.tls_cert_file is not None and settings.tls_key_file is not None  # noqa: S101 - validated
        try:
            material = load_tls(TlsFiles(settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file))
        except TlsConfigError as exc:
            raise ConfigError(f"tls: {exc}") from None
        note = "TLS: " + describe_certificate(material.cert_chain)
    if material.mutual:
        note += "; client certificates required (mTLS)"
    return dict(server_tls_kwargs(material)), [note]


def _api_keys(settings: Settings, tenants: dict[str, Tenant]) -> ApiKeyVerifier | None:
    if not settings.api_keys:
        return None
    records = []
    for key in settings.api_keys:
        if key.tenant not in tenants:
            raise ConfigError(f"api_keys: key {key.id!r} names unknown tenant {key.tenant!r}")
        try:
            records.append(api_key_record_from_mapping(key.model_dump(exclude_none=True)))
        except ValueError as exc:
            raise ConfigError(f"api_keys: {exc}") from None
    return ApiKeyVerifier(records)


def _jwt(settings: Settings, clock: Callable[[], float]) -> JwtVerifier | None:
    if not settings.jwt_issuers:
        return None
    issuers = []
    for cfg in settings.jwt_issuers:
        try:
            issuers.append(
                JwtIssuer(
                    issuer=cfg.issuer,
                    algorithms=cfg.algorithms,
                    audience=cfg.audience,
                    shared_secret=cfg.shared_secret.get_secret_value() if cfg.shared_secret else None,
                    public_key_pem=cfg.public_key_file.read_text() if cfg.public_key_file else None,
                    jwks_path=cfg.jwks_file,
                    jwks_url=cfg.jwks_url,
                    tenant_claim=cfg.tenant_claim,
                    subject_claim=cfg.subject_claim,
                    db_user_claim=cfg.db_user_claim,
                    roles_claim=cfg.roles_claim,
                    allow_claim_overrides=cfg.allow_claim_overrides,
                    leeway_seconds=cfg.leeway_seconds,
                    jwks_cache_seconds=cfg.jwks_cache_seconds,
                    jwks_min_refresh_seconds=cfg.jwks_min_refresh_seconds,
                    allow_http_jwks_url=cfg.allow_http_jwks_url,
                )
            )
        except (ValueError, OSError) as exc:
            raise ConfigError(f"jwt_issuers: {exc}") from None
    return JwtVerifier(issuers, clock=clock)


def _certificate_mapping(settings: Settings, tenants: dict[str, Tenant]) -> CertificateMapping | None:
    if settings.client_cert_header is None and not settings.tls_client_identity:
        return None
    rules = []
    for rule in settings.client_cert_rules:
        if rule.tenant not in tenants:
            raise ConfigError(f"client_cert_rules: rule for {rule.pattern!r} names unknown tenant {rule.tenant!r}")
        rules.append(CertificateRule(CertField(rule.field), rule.pattern, rule.tenant, rule.subject, tuple(rule.roles)))
    return CertificateMapping(tuple(rules))


def build(settings: Settings, *, clock: Callable[[], float] = time.time) -> Gateway:
    """The gateway, serving. `clock` (seconds since the epoch) is the one every expiry, sweep and
    heartbeat is counted in; tests inject one they move by hand."""
    install_formatter()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    tenants, users, banner = _tenants_and_users(settings)
    keys, active = _signing_keys(settings)
    token_signer = TokenSigner(keys, active, settings.token_ttl_seconds, clock)
    authenticator = Authenticator(
        users, tenants, token_signer, api_keys=_api_keys(settings, tenants), jwt=_jwt(settings, clock)
    )
    limiter = FailureLimiter(
        settings.auth_max_failures, settings.auth_failure_window_seconds, settings.auth_lockout_seconds, clock
    )
    duck = DuckDBEngine({t.id: t.database or ":memory:" for t in tenants.values() if t.engine == "duckdb"})
    engines: dict[str, Engine] = {"duckdb": duck, **create_engines(settings.engines, settings.tenants)}
    mapping = _certificate_mapping(settings, tenants)
    tls, tls_banner = _tls(settings)
    banner += tls_banner
    if tls:
        # pyarrow exposes no hook for failed handshakes; gRPC core logs them itself, tersely.
        log.info(
            "TLS on: a client that fails the TLS handshake never reaches the gateway; gRPC logs it on stderr as "
            "'Handshake failed with error SSL_ERROR_SSL: ...' ('wrong version number': a plaintext client; 'peer did "
            "not return a certificate': an mTLS client without one). See docs/troubleshooting.md"
        )
    location = tls_location(settings.host, settings.port) if tls else f"grpc://{settings.host}:{settings.port}"
    # Last before the server: everything above may still refuse the configuration.
    jobs, housekeeper = _job_store(settings, clock)
    pump = BatchPump(settings.max_streams, settings.heartbeat_seconds)
    executor = Executor(
        engines,
        jobs,
        batch_rows=settings.batch_rows,
        store_sql_text=settings.store_sql_text,
        pump=pump,
        instance_id=housekeeper.instance_id,
        retention_seconds=settings.job_retention_days * 86_400,
        clock=clock,
    )
    admission = Admission(executor, settings.max_statement_bytes)
    signer = TicketSigner([keys[active], *(key for kid, key in keys.items() if kid != active)], clock)
    offload = _offload(settings, clock)
    sweeper = OffloadSweeper(offload, settings.offload_sweep_seconds)
    try:
        sweeper.start()  # expired results of earlier runs go before this one serves
        offloading = Offloading(
            executor, offload, default_mode=settings.offload_mode,
            threshold_bytes=settings.offload_threshold_bytes, batch_rows=settings.batch_rows,
        )  # fmt: skip
        delivery = OffloadDelivery(offloading, signer)
        # A request id answers from its job record, so it cannot outlive the record's retention.
        window = min(settings.idempotency_window_seconds, settings.job_retention_days * 86_400)
        requests = RequestIds(jobs, window, clock=clock)
        detached = DetachedJobs(executor, admission, offloading.run, settings.max_detached_jobs, requests)
        server = GatewayFlightServer(
            location,
            executor=executor,
            admission=admission,
            signer=signer,
            info=ServerInfo(engines),
            ticket_ttl=settings.ticket_ttl_seconds,
            middleware={
                MIDDLEWARE_KEY: AuthMiddlewareFactory(
                    authenticator,
                    settings.client_cert_header,
                    mapping,
                    limiter,
                    tls_identity_mapping=mapping if settings.tls_client_identity else None,
                )
            },
            # pyarrow reveals the client certificate's identity only without a Handshake handler.
            auth_handler=None if settings.tls_client_identity else NoopHandshake(),
            tls=tls,
            offload=delivery,
            requests=requests,
            detached=detached,
        )
    except BaseException:
        sweeper.stop()
        housekeeper.stop()
        jobs.close()
        raise
    return Gateway(server, jobs, engines, pump, location, banner, housekeeper, offload, sweeper, detached)


def _optional(module: str, extra: str, needed_by: str) -> ModuleType:
    """A module that needs an optional dependency; ConfigError saying which extra to install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"{needed_by} needs the '{extra}' extra ({exc.name} is not installed): "
            f"pip install 'flight-gateway[{extra}]'"
        ) from None


def _offload(settings: Settings, clock: Callable[[], float]) -> Offload:
    """The offload target: an S3 prefix if offload_target is set, else the local directory."""
    if settings.offload_target is None:
        return LocalOffload(
            settings.offload_path, ttl_seconds=settings.offload_ttl_seconds, part_rows=settings.offload_part_rows,
            max_bytes=settings.offload_max_bytes, clock=clock,
        )  # fmt: skip
    s3 = _optional("flight_gateway.offload.s3", "aws", "offload_target (S3)")  # boto3 only when S3 is configured
    target: Offload = s3.S3Offload(
        settings.offload_target, ttl_seconds=settings.offload_ttl_seconds, part_rows=settings.offload_part_rows,
        max_bytes=settings.offload_max_bytes, sse=settings.offload_sse, kms_key_id=settings.offload_kms_key_id,
        client=s3.s3_client(settings.offload_s3_endpoint_url, settings.offload_s3_region), clock=clock,
    )  # fmt: skip
    return target


def open_job_store(settings: Settings) -> JobStore:
    """The configured job store (also for the operator's `jobs` commands); ConfigError if unusable."""
    if settings.job_store == "sqlite":
        return SqliteJobStore(settings.jobs_path)
    dynamodb = _optional("flight_gateway.jobs.dynamodb", "aws", "job_store = 'dynamodb'")
    assert settings.dynamodb_table is not None  # noqa: S101 - validated with job_store
    try:
        store: JobStore = dynamodb.DynamoDBJobStore(
            settings.dynamodb_table, region=settings.dynamodb_region, endpoint_url=settings.dynamodb_endpoint_url,
            create=settings.dynamodb_create_table,
        )  # fmt: skip
    except ValueError as exc:
        raise ConfigError(f"dynamodb_table: {exc}") from None
    return store


def _job_store(settings: Settings, clock: Callable[[], float]) -> tuple[JobStore, JobHousekeeper]:
    """The job store, cleaned up after any previous gateway (restart recovery, retention) before
    this one serves, with this instance's heartbeat running."""
    jobs = open_job_store(settings)
    housekeeper = JobHousekeeper(
        jobs,
        uuid.uuid4().hex,
        heartbeat_seconds=settings.instance_heartbeat_seconds,
        sweep_seconds=settings.job_sweep_seconds,
        retention_seconds=settings.job_retention_days * 86_400,
        ticket_ttl_seconds=settings.ticket_ttl_seconds,
        clock=clock,
    )
    try:
        housekeeper.start()
    except BaseException:
        jobs.close()
        raise
    return jobs, housekeeper
