"""Who may call, from Settings: tenants and users (with the demo tenants), API keys, JWT issuers
and client-certificate rules, composed into the authenticator and the auth middleware."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from auth import Authenticator, Tenant, TokenSigner, User, hash_password
from auth.api_keys import ApiKeyVerifier, api_key_record_from_mapping
from auth.client_certs import CertField, CertificateMapping, CertificateRule
from auth.flight import AuthMiddlewareFactory, CallGate
from auth.jwt_issuer import JwtIssuer
from auth.jwt_verifier import JwtVerifier
from auth.model import TenantLimits
from auth.rate_limit import FailureLimiter
from flight_gateway.app.stores import private_file
from flight_gateway.config import ConfigError, Settings
from flight_gateway.engines.duckdb.demo import demo_database

DEMO_TENANTS = ("acme", "globex")


def tenants_and_users(settings: Settings) -> tuple[dict[str, Tenant], dict[str, User], list[str]]:
    """Tenants and users by id (the demo's too when enabled), and the banner lines they add."""
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
            password = private_file(path, secrets.token_urlsafe(12))
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


def authenticator(
    settings: Settings,
    tenants: dict[str, Tenant],
    users: dict[str, User],
    token_signer: TokenSigner,
    clock: Callable[[], float],
) -> Authenticator:
    """Passwords and gateway tokens, plus the configured API keys and JWT issuers."""
    return Authenticator(users, tenants, token_signer, api_keys=_api_keys(settings, tenants), jwt=_jwt(settings, clock))


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


def certificate_mapping(settings: Settings, tenants: dict[str, Tenant]) -> CertificateMapping | None:
    """The client-certificate rules, if certificates identify callers (a proxy header or mTLS)."""
    if settings.client_cert_header is None and not settings.tls_client_identity:
        return None
    rules = []
    for rule in settings.client_cert_rules:
        if rule.tenant not in tenants:
            raise ConfigError(f"client_cert_rules: rule for {rule.pattern!r} names unknown tenant {rule.tenant!r}")
        rules.append(CertificateRule(CertField(rule.field), rule.pattern, rule.tenant, rule.subject, tuple(rule.roles)))
    return CertificateMapping(tuple(rules))


def auth_middleware(
    settings: Settings,
    authenticator: Authenticator,
    mapping: CertificateMapping | None,
    limiter: FailureLimiter,
    call_gate: CallGate | None = None,
) -> AuthMiddlewareFactory:
    """The middleware that turns each call's credentials into a principal and its tenant (and asks
    `call_gate` whether that caller may make the call: rate limits)."""
    return AuthMiddlewareFactory(
        authenticator,
        settings.client_cert_header,
        mapping,
        limiter,
        tls_identity_mapping=mapping if settings.tls_client_identity else None,
        call_gate=call_gate,
    )
