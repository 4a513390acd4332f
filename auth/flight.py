"""pyarrow.flight middleware: the only code that reads the `authorization` header.

Credentials are checked when a call starts. pyarrow does not tell middleware the caller's
address, so a failure on an ordinary call is handed to the handler (`AuthMiddleware.require`),
which knows the peer and counts the failure against it; a failed Handshake (Basic login) is
refused at once and counted against the username.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow.flight as fl

from auth.api_keys import api_key_id, looks_like_api_key
from auth.audit import AuthEvent, log_auth_event
from auth.authenticator import Authenticator, parse_basic
from auth.client_certs import CertificateMapping, principal_from_forwarded_certificate
from auth.model import AuthError, AuthFailure, Principal, Tenant
from auth.rate_limit import FailureLimiter, RateLimited

log = logging.getLogger("auth")

MIDDLEWARE_KEY = "auth"
# Call header by which a client asks for a delivery: `offload` (Parquet parts, one endpoint each),
# `stream` (straight from the engine) or `auto` (by the estimated size). It overrides the tenant's
# offload mode; the middleware only captures it, the gateway validates and applies it.
DELIVERY_HEADER = "x-flight-gateway-delivery"
# Call header naming a client's request, so a retried call returns the first call's outcome instead
# of running its statement again (captured here as sent; the gateway validates and applies it).
REQUEST_ID_HEADER = "x-flight-gateway-request-id"
# Response header of a call refused before it started (HTTP's Retry-After: whole seconds, rounded up).
RETRY_AFTER_HEADER = "retry-after"


@dataclass(frozen=True)
class CallRefusal:
    """A call refused as it starts (a rate limit): `code` names the gateway's error code, which the
    handler raises with `message`; `retry_after` seconds also reach the client as RETRY_AFTER_HEADER."""

    code: str
    message: str
    retry_after: float


# Whether an identified caller may make a call, by the call's name (a FlightMethod's, e.g.
# GET_FLIGHT_INFO, or what the handler passes to `AuthMiddleware.gate` once it knows more).
# Decided in `start_call` because pyarrow asks for response headers before the handler runs.
CallGate = Callable[[Principal, Tenant, str], CallRefusal | None]


def _header(headers: dict[str, list[Any]], name: str) -> str | None:
    values = headers.get(name)
    if not values:
        return None
    value = values[0]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _method(header: str | None, forwarded: str | None) -> str:
    """The credential kind for logs, from a fixed set: the header value itself is never echoed."""
    if header is None:
        return "client_cert" if forwarded else "none"
    scheme = header.split(" ", 1)[0].lower()
    return scheme if scheme in ("basic", "bearer") else "unsupported"


def _address(peer: str) -> str:
    """`ipv4:10.0.0.1:41160` → `ipv4:10.0.0.1`: lockouts follow the client's address, not one connection."""
    host, sep, port = peer.rpartition(":")
    return host if sep and port.isdigit() and host else peer


def to_flight_error(err: AuthError) -> Exception:
    """UNAVAILABLE (with a retry hint) for a locked-out caller, else UNAUTHENTICATED / PERMISSION_DENIED."""
    error: Exception
    if isinstance(err, RateLimited):
        error = fl.FlightUnavailableError(err.message)  # the message carries the retry hint
    elif err.kind is AuthFailure.PERMISSION_DENIED:
        error = fl.FlightUnauthorizedError(err.message)
    else:
        error = fl.FlightUnauthenticatedError(err.message)
    return error


def principal_from_tls_identity(identity: str, mapping: CertificateMapping) -> Principal:
    """The principal for gRPC's TLS peer identity (the verified client certificate's first SAN,
    else its CN — all pyarrow exposes of it), by the first rule whose pattern matches."""
    for rule in mapping.rules:
        if rule.matches(identity):
            subject = rule.subject.replace("{value}", identity)
            return Principal(subject=subject, tenant_id=rule.tenant_id, method="mtls", roles=rule.roles)
    raise AuthError(
        AuthFailure.UNAUTHENTICATED,
        "client_cert_unmapped",
        "the client certificate is trusted but maps to no tenant; ask the operator to add a client_cert_rules entry",
    )


class _NeedsTlsIdentity:
    """No credentials in headers: the verified client certificate decides (mTLS identity mode)."""

    def __init__(self, mapping: CertificateMapping, tenant_for: Callable[[Principal], Tenant]) -> None:
        self.mapping = mapping
        self.tenant_for = tenant_for


class AuthMiddleware(fl.ServerMiddleware):  # type: ignore[misc]
    """The outcome of one call's authentication: an identity, or the failure to report."""

    def __init__(
        self,
        outcome: tuple[Principal, Tenant] | AuthError | _NeedsTlsIdentity,
        outgoing: dict[str, str],
        user_agent: str,
        limiter: FailureLimiter | None,
        method: str,
        key_id: str | None,
        delivery_hint: str | None = None,
        client_request_id: str | None = None,
        *,
        gate: CallGate | None = None,
        call: str = "",
    ) -> None:
        self._outcome = outcome
        self._gate = gate
        self._call = call
        # Set when the gate refused this call; the handler raises it (`require` knows nothing of codes).
        self.refusal: CallRefusal | None = None
        self.delivery_hint = delivery_hint
        self.client_request_id = client_request_id
        self._outgoing = outgoing
        self._limiter = limiter
        self._method = method
        self._key_id = key_id
        self.user_agent = user_agent

    def require(self, peer: str, tls_identity: bytes | str | None = None) -> tuple[Principal, Tenant]:
        """The caller's identity, or the Flight error to raise; failures count against `peer`'s address."""
        peer = _address(peer)
        try:
            if self._limiter is not None:
                self._limiter.check(f"peer:{peer}")
            if isinstance(self._outcome, _NeedsTlsIdentity):
                self._outcome = self._from_tls(tls_identity, self._outcome)
                if not isinstance(self._outcome, AuthError):  # too late for a header, not for the refusal
                    self.refusal = self.gate(self._call)
            if isinstance(self._outcome, AuthError):
                if self._limiter is not None and self._outcome.kind is AuthFailure.UNAUTHENTICATED:
                    self._limiter.record_failure(f"peer:{peer}")
                raise self._outcome
        except AuthError as err:
            log_auth_event(log, AuthEvent("failure", self._method, reason=err.reason, key_id=self._key_id, peer=peer))
            raise to_flight_error(err) from None
        return self._outcome

    @staticmethod
    def _from_tls(identity: bytes | str | None, needs: _NeedsTlsIdentity) -> tuple[Principal, Tenant] | AuthError:
        text = identity.decode() if isinstance(identity, bytes) else (identity or "")
        if not text:
            return AuthError(
                AuthFailure.UNAUTHENTICATED,
                "no_credentials",
                "no credentials: present a client certificate, or send 'authorization: Bearer <token>'",
            )
        try:
            principal = principal_from_tls_identity(text, needs.mapping)
            return principal, needs.tenant_for(principal)
        except AuthError as err:
            return err

    def gate(self, call: str) -> CallRefusal | None:
        """Ask the gate about `call` for this caller, for calls decided after `start_call` (once the
        handler knows what the call is); None without a gate or an identity."""
        if self._gate is None or not isinstance(self._outcome, tuple):
            return None
        return self._gate(*self._outcome, call)

    def refuse(self, refusal: CallRefusal) -> None:
        """Refuse this call; `start_call` also sends the retry hint as a header."""
        self.refusal = refusal
        self._outgoing = {**self._outgoing, RETRY_AFTER_HEADER: str(max(1, math.ceil(refusal.retry_after)))}

    def sending_headers(self) -> dict[str, str]:
        return self._outgoing


class NoopHandshake(fl.ServerAuthHandler):  # type: ignore[misc]
    """Credentials travel in headers (checked by the middleware); the Handshake body is unused."""

    def authenticate(self, outgoing: Any, incoming: Any) -> None:
        return None

    def is_valid(self, token: bytes) -> str:
        return ""


class AuthMiddlewareFactory(fl.ServerMiddlewareFactory):  # type: ignore[misc]
    """Resolves every call's identity; a Basic login answers with a gateway bearer token."""

    def __init__(
        self,
        authenticator: Authenticator,
        client_cert_header: str | None = None,
        certificate_mapping: CertificateMapping | None = None,
        limiter: FailureLimiter | None = None,
        tls_identity_mapping: CertificateMapping | None = None,
        call_gate: CallGate | None = None,
    ) -> None:
        self._auth = authenticator
        self._gate = call_gate
        # mTLS identity mode: calls without credentials in headers are identified by the client
        # certificate gRPC verified (pyarrow exposes it only when no Handshake handler is set).
        self._tls_identity = tls_identity_mapping
        # Only set behind a TLS-terminating proxy that overwrites this header: a certificate is
        # public, so the header is trusted only because clients cannot reach us around the proxy.
        self._cert_header = client_cert_header.lower() if client_cert_header else None
        self._cert_mapping = certificate_mapping
        self._limiter = limiter

    def _identify(self, header: str | None, forwarded: str | None) -> tuple[Principal, bool]:
        if header is None and forwarded is not None and self._cert_mapping is not None:
            return principal_from_forwarded_certificate(forwarded, self._cert_mapping), False
        if header is None:
            raise AuthError(
                AuthFailure.UNAUTHENTICATED,
                "no_credentials",
                "no credentials: log in with username/password (Basic) or send 'authorization: Bearer <token>'",
            )
        return self._auth.from_authorization(header)

    def start_call(self, info: Any, headers: dict[str, list[Any]]) -> AuthMiddleware:
        header = _header(headers, "authorization")
        forwarded = _header(headers, self._cert_header) if self._cert_header else None
        method = _method(header, forwarded)
        credential = header.split(" ", 1)[-1].strip() if header else ""
        key_id = api_key_id(credential) if looks_like_api_key(credential) else None
        handshake = info.method == fl.FlightMethod.HANDSHAKE
        call = str(getattr(info.method, "name", ""))
        username = self._username(header) if handshake else None
        user_agent = _header(headers, "user-agent") or ""
        hint = _header(headers, DELIVERY_HEADER)
        request_id = _header(headers, REQUEST_ID_HEADER)
        if header is None and forwarded is None and self._tls_identity is not None and not handshake:
            needs = _NeedsTlsIdentity(self._tls_identity, self._auth.tenant_for)
            return AuthMiddleware(
                needs, {}, user_agent, self._limiter, "mtls", None, hint, request_id, gate=self._gate, call=call
            )
        try:
            if handshake and username and self._limiter is not None:
                self._limiter.check(f"user:{username}")
            principal, logged_in = self._identify(header, forwarded)
            tenant = self._auth.tenant_for(principal)
        except AuthError as err:
            if not handshake:
                return AuthMiddleware(err, {}, user_agent, self._limiter, method, key_id, hint, request_id)
            if username and self._limiter is not None and not isinstance(err, RateLimited):
                self._limiter.record_failure(f"user:{username}")
            log_auth_event(log, AuthEvent("failure", method, reason=err.reason, subject=username, key_id=key_id))
            raise to_flight_error(err) from None
        # %r: a subject from a verified JWT is still client-chosen text (no forged log lines).
        log.debug(
            "%s call: tenant %s, subject %r, by %s", getattr(info.method, "name", "?"), tenant.id,
            principal.subject[:256], principal.method,
        )  # fmt: skip
        outgoing: dict[str, str] = {}
        if logged_in:
            outgoing["authorization"] = "Bearer " + self._auth.signer.issue(principal)
        if handshake:
            if username and self._limiter is not None:
                self._limiter.record_success(f"user:{username}")
            log_auth_event(
                log,
                AuthEvent(
                    "success", principal.method, subject=principal.subject, tenant=tenant.id, key_id=principal.key_id
                ),
            )
        middleware = AuthMiddleware(
            (principal, tenant), outgoing, user_agent, self._limiter, method, key_id, hint, request_id, gate=self._gate
        )
        refusal = None if handshake else middleware.gate(call)
        if refusal is not None:
            middleware.refuse(refusal)
        return middleware

    @staticmethod
    def _username(header: str | None) -> str | None:
        if header is None or not header.lower().startswith("basic "):
            return None
        try:
            return parse_basic(header)[0]
        except AuthError:
            return None
