"""Composition root: builds the engines, job store, auth and the Flight server from Settings
(who may call: `identity.py`; what the gateway keeps: `stores.py`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from auth import TokenSigner
from auth.flight import MIDDLEWARE_KEY, NoopHandshake
from auth.rate_limit import FailureLimiter
from auth.tls import (
    TlsConfigError,
    TlsFiles,
    describe_certificate,
    load_tls,
    self_signed,
    server_tls_kwargs,
    tls_location,
)
from flight_gateway.app.identity import auth_middleware, authenticator, certificate_mapping, tenants_and_users
from flight_gateway.app.stores import job_store, offload_target, signing_keys
from flight_gateway.config import ConfigError, Settings
from flight_gateway.engines.base import Engine
from flight_gateway.engines.registry import create_embedded_engines, create_engines
from flight_gateway.extras import import_optional
from flight_gateway.jobs import JobHousekeeper, JobStore
from flight_gateway.jobs.idempotency import RequestIds
from flight_gateway.offload import Offload, OffloadSweeper
from flight_gateway.protocol.calls import rate_gate
from flight_gateway.protocol.info import ServerInfo
from flight_gateway.protocol.offloaded import OffloadDelivery
from flight_gateway.protocol.server import GatewayFlightServer
from flight_gateway.protocol.status import install_formatter
from flight_gateway.protocol.tickets import TicketSigner
from flight_gateway.service.admission import Admission
from flight_gateway.service.detached import DetachedJobs
from flight_gateway.service.executor import Executor
from flight_gateway.service.offloading import Offloading
from flight_gateway.service.rate import RequestRates, SharedWindows
from flight_gateway.service.streaming import BatchPump

log = logging.getLogger("flight_gateway")


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
    executor: Executor | None = None

    @property
    def port(self) -> int:
        return int(self.server.port)

    def shutdown(self) -> None:
        if self.executor is not None:  # statements waiting for a slot must not hold the server up
            self.executor.slots.close()
        self.server.shutdown()
        if self.detached is not None:  # before the engines close under its running jobs
            self.detached.close()
        self.pump.close()
        if self.executor is not None:
            self.executor.close()
        for engine in self.engines.values():
            engine.close()
        if self.offload_sweeper is not None:
            self.offload_sweeper.stop()
        if self.housekeeper is not None:
            self.housekeeper.stop()
        self.jobs.close()


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


def _shared_rates(settings: Settings) -> SharedWindows | None:
    """Each replica counts its calls; with a DynamoDB job store the replicas also share a count per
    tenant and minute (docs/admission.md, Rate limits)."""
    if settings.job_store != "dynamodb" or settings.dynamodb_table is None:
        return None
    windows = import_optional("flight_gateway.jobs.rate_windows", "aws", "job_store = 'dynamodb'")
    try:
        shared: SharedWindows = windows.DynamoRateWindows(
            settings.dynamodb_table, region=settings.dynamodb_region, endpoint_url=settings.dynamodb_endpoint_url
        )
    except ValueError as exc:
        raise ConfigError(f"dynamodb_table: {exc}") from None
    return shared


def build(settings: Settings, *, clock: Callable[[], float] = time.time) -> Gateway:
    """The gateway, serving. `clock` (seconds since the epoch) is the one every expiry, sweep and
    heartbeat is counted in; tests inject one they move by hand."""
    install_formatter()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    tenants, users, banner = tenants_and_users(settings)
    keys, active = signing_keys(settings)
    token_signer = TokenSigner(keys, active, settings.token_ttl_seconds, clock)
    authenticate = authenticator(settings, tenants, users, token_signer, clock)
    limiter = FailureLimiter(
        settings.auth_max_failures, settings.auth_failure_window_seconds, settings.auth_lockout_seconds, clock
    )
    engines: dict[str, Engine] = {
        **create_embedded_engines(tenants.values()),
        **create_engines(settings.engines, settings.tenants),
    }
    mapping = certificate_mapping(settings, tenants)
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
    jobs, housekeeper = job_store(settings, clock)
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
    offload = offload_target(settings, clock)
    sweeper = OffloadSweeper(offload, settings.offload_sweep_seconds)
    try:
        sweeper.start()  # expired results of earlier runs go before this one serves
        gate = rate_gate(RequestRates(clock, _shared_rates(settings)))
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
            middleware={MIDDLEWARE_KEY: auth_middleware(settings, authenticate, mapping, limiter, gate)},
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
    return Gateway(server, jobs, engines, pump, location, banner, housekeeper, offload, sweeper, detached, executor)
