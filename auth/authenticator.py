"""Turns presented credentials into a Principal and resolves its Tenant."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from auth.api_keys import ApiKeyVerifier, looks_like_api_key
from auth.jwt_verifier import JwtVerifier, looks_like_jwt
from auth.model import AuthError, AuthFailure, Principal, Tenant, unauthenticated
from auth.passwords import hash_password, verify_password
from auth.tokens import TokenSigner

log = logging.getLogger("auth")


@dataclass(frozen=True)
class User:
    """A username/password login bound to one tenant; only the password hash is kept."""

    username: str
    password_hash: str
    tenant_id: str
    roles: tuple[str, ...] = ()


def parse_basic(value: str) -> tuple[str, str]:
    """Decode `Basic <b64(user:pass)>`, accepting padded and unpadded base64 (ADBC sends unpadded)."""
    encoded = value[len("basic ") :].strip()
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise unauthenticated("basic_malformed", "Basic credentials are not valid base64") from exc
    username, sep, password = raw.partition(":")
    if not sep or not username:
        raise unauthenticated("basic_malformed", "Basic credentials must be 'username:password'")
    return username, password


class Authenticator:
    """Checks passwords, API keys, JWTs and gateway tokens, and maps principals to tenants."""

    def __init__(
        self,
        users: Mapping[str, User],
        tenants: Mapping[str, Tenant],
        signer: TokenSigner,
        *,
        api_keys: ApiKeyVerifier | None = None,
        jwt: JwtVerifier | None = None,
    ) -> None:
        self._users = dict(users)
        self._tenants = dict(tenants)
        self.signer = signer
        self._api_keys = api_keys
        self._jwt = jwt
        # Verifying against a throwaway hash for unknown users keeps the timing of "no such user"
        # and "wrong password" alike, so usernames cannot be probed.
        self._dummy_hash = hash_password("not-a-real-password", log2_n=14)

    def login(self, username: str, password: str) -> Principal:
        """Username/password; an API key also works as the password (for tools that know only Basic)."""
        if looks_like_api_key(password):
            return self._api_key(password)
        user = self._users.get(username)
        ok = verify_password(password, user.password_hash if user else self._dummy_hash)
        if user is None or not ok:
            raise unauthenticated("bad_credentials", "invalid username or password")
        return Principal(subject=username, tenant_id=user.tenant_id, method="basic", roles=user.roles)

    def _api_key(self, key: str) -> Principal:
        if self._api_keys is None:
            raise unauthenticated("api_keys_disabled", "API keys are not enabled on this gateway")
        return self._api_keys.verify(key)

    def bearer(self, token: str) -> Principal:
        if TokenSigner.looks_like_token(token):
            principal = self.signer.verify(token)
            if principal.key_id is not None and (
                self._api_keys is None or not self._api_keys.is_active(principal.key_id)
            ):
                # Minted from an API key that has since been disabled or removed.
                raise unauthenticated(
                    "api_key_revoked", "the API key behind this token is no longer valid; log in again"
                )
            return principal
        if looks_like_api_key(token):
            return self._api_key(token)
        if looks_like_jwt(token):
            if self._jwt is None:
                raise unauthenticated("jwt_disabled", "JWT authentication is not configured on this gateway")
            identity = self._jwt.verify_identity(token)
            return identity.principal
        raise unauthenticated(
            "token_unrecognized", "the bearer value is not a gateway token, API key or JWT; log in again"
        )

    def from_authorization(self, header: str) -> tuple[Principal, bool]:
        """Principal for an `authorization` header value; the flag says a Basic login happened."""
        scheme = header.split(" ", 1)[0].lower()
        if scheme == "basic":
            return self.login(*parse_basic(header)), True
        if scheme == "bearer":
            return self.bearer(header[len("bearer ") :].strip()), False
        raise unauthenticated("unsupported_scheme", "authorization must be 'Basic' or 'Bearer'")

    def tenant_for(self, principal: Principal) -> Tenant:
        tenant = self._tenants.get(principal.tenant_id)
        if tenant is None:
            raise AuthError(
                AuthFailure.PERMISSION_DENIED,
                "unknown_tenant",
                f"principal {principal.subject!r} maps to tenant {principal.tenant_id!r}, "
                "which this gateway does not serve; ask the operator to configure it",
            )
        return tenant
