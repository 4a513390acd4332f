"""pyarrow.flight middleware: the only code that reads the `authorization` header."""

from __future__ import annotations

import logging
from typing import Any

import pyarrow.flight as fl

from auth.authenticator import Authenticator
from auth.model import AuthError, AuthFailure, Principal, Tenant
from auth.tls import CertificateMapping, principal_from_forwarded_certificate

log = logging.getLogger("auth")

MIDDLEWARE_KEY = "auth"


def _header(headers: dict[str, list[Any]], name: str) -> str | None:
    values = headers.get(name)
    if not values:
        return None
    value = values[0]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class AuthMiddleware(fl.ServerMiddleware):  # type: ignore[misc]
    """Carries the resolved identity of one call, and the bearer token after a Basic login."""

    def __init__(self, principal: Principal, tenant: Tenant, outgoing: dict[str, str], user_agent: str) -> None:
        self.principal = principal
        self.tenant = tenant
        self.user_agent = user_agent
        self._outgoing = outgoing

    def sending_headers(self) -> dict[str, str]:
        return self._outgoing


class NoopHandshake(fl.ServerAuthHandler):  # type: ignore[misc]
    """Credentials travel in headers (checked by the middleware); the Handshake body is unused."""

    def authenticate(self, outgoing: Any, incoming: Any) -> None:
        return None

    def is_valid(self, token: bytes) -> str:
        return ""


class AuthMiddlewareFactory(fl.ServerMiddlewareFactory):  # type: ignore[misc]
    """Rejects every call without valid credentials; a Basic login answers with a bearer token."""

    def __init__(
        self,
        authenticator: Authenticator,
        client_cert_header: str | None = None,
        certificate_mapping: CertificateMapping | None = None,
    ) -> None:
        self._auth = authenticator
        # Only set behind a TLS-terminating proxy that overwrites this header: a certificate is
        # public, so the header is trusted only because clients cannot reach us around the proxy.
        self._cert_header = client_cert_header.lower() if client_cert_header else None
        self._cert_mapping = certificate_mapping

    def start_call(self, info: Any, headers: dict[str, list[Any]]) -> AuthMiddleware:
        header = _header(headers, "authorization")
        try:
            forwarded = _header(headers, self._cert_header) if self._cert_header else None
            if header is None and forwarded is not None and self._cert_mapping is not None:
                principal = principal_from_forwarded_certificate(forwarded, self._cert_mapping)
                return AuthMiddleware(
                    principal, self._auth.tenant_for(principal), {}, _header(headers, "user-agent") or ""
                )
            if header is None:
                raise AuthError(
                    AuthFailure.UNAUTHENTICATED,
                    "no_credentials",
                    "no credentials: log in with username/password (Basic) or send 'authorization: Bearer <token>'",
                )
            principal, logged_in = self._auth.from_authorization(header)
            tenant = self._auth.tenant_for(principal)
        except AuthError as err:
            log.warning("auth failure", extra={"reason": err.reason, "method": str(info.method)})
            if err.kind is AuthFailure.PERMISSION_DENIED:
                raise fl.FlightUnauthorizedError(err.message) from None
            raise fl.FlightUnauthenticatedError(err.message) from None
        outgoing: dict[str, str] = {}
        if logged_in:
            outgoing["authorization"] = "Bearer " + self._auth.signer.issue(principal)
            log.info(
                "auth success",
                extra={"subject": principal.subject, "tenant": tenant.id, "method": principal.method},
            )
        return AuthMiddleware(principal, tenant, outgoing, _header(headers, "user-agent") or "")
