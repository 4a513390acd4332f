"""Gateway-issued bearer tokens: stateless, HMAC-signed, with a key id so keys can rotate.

Format: `fgt1.<kid>.<payload b64url>.<sig b64url>`; the signature covers everything before it.
Any replica holding the same keys verifies any other replica's tokens, and a restart with the
same keys does not log clients out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping

from auth.model import Principal, unauthenticated
from auth.secret_strength import weakness

_PREFIX = "fgt1"
_CACHE_SIZE = 10_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and verifies bearer tokens with the active key; verifies with any known key."""

    def __init__(
        self,
        keys: Mapping[str, bytes],
        active_kid: str,
        ttl_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if active_kid not in keys:
            raise ValueError(f"active signing key {active_kid!r} is not among the configured keys")
        for kid, key in keys.items():
            problem = weakness(key)
            if problem is not None:
                raise ValueError(f"signing key {kid!r} {problem}")
        self._keys = dict(keys)
        self._active = active_kid
        self._ttl = ttl_seconds
        self._clock = clock
        # Clients resend the same token on every call; a verified token is remembered (until it
        # expires) so each call skips the MAC and JSON work. Only verified tokens enter.
        self._verified: dict[str, tuple[Principal, int]] = {}

    def _sign(self, kid: str, body: str) -> str:
        mac = hmac.new(self._keys[kid], b"token:" + body.encode(), hashlib.sha256)
        return _b64(mac.digest())

    def issue(self, principal: Principal) -> str:
        now = int(self._clock())
        exp = now + self._ttl
        if principal.valid_until is not None:
            # A token never outlives the credential it was minted from (e.g. an API key's expiry).
            exp = min(exp, int(principal.valid_until))
        claims: dict[str, object] = {
            "sub": principal.subject,
            "tid": principal.tenant_id,
            "mth": principal.method,
            "rol": list(principal.roles),
            "iat": now,
            "exp": exp,
        }
        if principal.key_id is not None:
            claims["key"] = principal.key_id
        body = f"{_PREFIX}.{self._active}.{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
        return f"{body}.{self._sign(self._active, body)}"

    @staticmethod
    def looks_like_token(token: str) -> bool:
        return token.startswith(_PREFIX + ".")

    def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        principal, exp = self._verify(token)
        if len(self._verified) >= _CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (principal, exp)
        return principal

    def _verify(self, token: str) -> tuple[Principal, int]:
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != _PREFIX:
            raise unauthenticated("token_malformed", "bearer token is malformed; log in again")
        kid = parts[1]
        if kid not in self._keys:
            raise unauthenticated("token_unknown_key", "bearer token was signed with an unknown key; log in again")
        body = ".".join(parts[:3])
        if not hmac.compare_digest(self._sign(kid, body), parts[3]):
            raise unauthenticated("token_bad_signature", "bearer token signature is invalid; log in again")
        try:
            claims = json.loads(_unb64(parts[2]))
            exp = int(claims["exp"])
            principal = Principal(
                subject=str(claims["sub"]),
                tenant_id=str(claims["tid"]),
                method=str(claims.get("mth", "token")),
                roles=tuple(str(r) for r in claims.get("rol", [])),
                key_id=str(claims["key"]) if "key" in claims else None,
                valid_until=float(exp),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise unauthenticated("token_malformed", "bearer token is malformed; log in again") from exc
        if exp <= self._clock():
            raise unauthenticated("token_expired", "bearer token has expired; log in again")
        return principal, exp
