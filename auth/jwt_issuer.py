"""A trusted JWT issuer's configuration (`JwtIssuer`, checked when built), the algorithms the gateway accepts,
and the stable failure reasons with their client messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from auth.model import AuthError, unauthenticated
from auth.secret_strength import weakness

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256"})
EC_CURVES: Mapping[str, type[ec.EllipticCurve]] = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1}
ALLOWED_ALGORITHMS = HMAC_ALGORITHMS | RSA_ALGORITHMS | frozenset(EC_CURVES)
# RFC 7518 §3.2: an HMAC key must be at least as long as the hash output.
_HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


_MESSAGES = {
    "jwt_malformed": "bearer token is not a valid JWT{detail}; send the identity provider's token unchanged",
    "jwt_unknown_issuer": "JWT issuer is not trusted by this gateway; use a token from a configured identity provider",
    "jwt_wrong_issuer": "JWT issuer does not match; get a new token from the identity provider",
    "jwt_alg_not_allowed": "JWT algorithm {alg} is not allowed for this issuer; {hint}",
    "jwt_unknown_kid": "JWT signing key is not published by its issuer; get a new token, or ask the operator to check "
    "the issuer's JWKS",
    "jwt_keys_unavailable": "the identity provider's signing keys could not be loaded; retry later",
    "jwt_bad_signature": "JWT signature is invalid; get a new token from the identity provider",
    "jwt_wrong_audience": "JWT audience does not include {audience!r}; request a token for that audience",
    "jwt_missing_exp": "JWT has no 'exp' claim; the identity provider must issue expiring tokens",
    "jwt_expired": "JWT has expired; get a new token from the identity provider",
    "jwt_not_yet_valid": "JWT is not valid yet (nbf/iat in the future); check the client's clock or retry shortly",
    "jwt_missing_subject": "JWT has no {claim!r} claim; configure the identity provider to include it",
    "jwt_missing_tenant": "JWT has no {claim!r} claim; configure the identity provider to include it",
}


def jwt_error(reason: str, **fields: object) -> AuthError:
    """The AuthError for a stable `reason`; its client message says what to do."""
    return unauthenticated(reason, _MESSAGES[reason].format(**fields))


def malformed_jwt(detail: str = "") -> AuthError:
    return jwt_error("jwt_malformed", detail=f" ({detail})" if detail else "")


@dataclass(frozen=True, kw_only=True)
class JwtIssuer:
    """One trusted identity provider. Exactly one of the four key sources must be set."""

    issuer: str
    algorithms: Sequence[str]
    audience: str | None = None
    shared_secret: bytes | str | None = None
    public_key_pem: str | None = None
    jwks_path: str | Path | None = None
    jwks_url: str | None = None
    tenant_claim: str = "tenant_id"
    subject_claim: str = "sub"
    db_user_claim: str | None = None
    roles_claim: str | None = None
    allow_claim_overrides: bool = False
    leeway_seconds: float = 30
    jwks_cache_seconds: float = 300
    jwks_min_refresh_seconds: float = 30
    allow_http_jwks_url: bool = False

    def __repr__(self) -> str:  # never print the shared secret
        return f"JwtIssuer(issuer={self.issuer!r}, algorithms={list(self.algorithms)!r})"

    def __post_init__(self) -> None:
        object.__setattr__(self, "algorithms", tuple(self.algorithms))
        where = f"JWT issuer {self.issuer!r}"
        if not self.issuer:
            raise ValueError("JWT issuer: 'issuer' must be the exact 'iss' value of the identity provider")
        if not self.algorithms:
            raise ValueError(f"{where}: 'algorithms' must list at least one algorithm, e.g. ['RS256']")
        for alg in self.algorithms:
            if alg.lower() == "none":
                raise ValueError(f"{where}: algorithm 'none' (unsigned tokens) is never accepted")
            if alg not in ALLOWED_ALGORITHMS:
                raise ValueError(
                    f"{where}: algorithm {alg!r} is not supported; use one of {sorted(ALLOWED_ALGORITHMS)}"
                )
        sources = [self.shared_secret, self.public_key_pem, self.jwks_path, self.jwks_url]
        if sum(source is not None for source in sources) != 1:
            raise ValueError(f"{where}: set exactly one of shared_secret, public_key_pem, jwks_path, jwks_url")
        hmac_algs = HMAC_ALGORITHMS.intersection(self.algorithms)
        if self.shared_secret is not None:
            if hmac_algs != set(self.algorithms):
                raise ValueError(f"{where}: a shared_secret verifies only HS256/HS384/HS512")
            need = max(_HMAC_MIN_BYTES[alg] for alg in hmac_algs)
            if len(self.secret_bytes()) < need:
                raise ValueError(f"{where}: shared_secret must be at least {need} bytes for {sorted(hmac_algs)}")
            problem = weakness(self.shared_secret)
            if problem is not None:
                raise ValueError(f"{where}: shared_secret {problem}")
        elif hmac_algs:
            raise ValueError(f"{where}: HS* algorithms need a shared_secret; public keys verify RS*/PS*/ES* only")
        if self.jwks_url is not None:
            parts = urlsplit(self.jwks_url)
            plain_ok = self.allow_http_jwks_url or parts.hostname in _LOOPBACK_HOSTS
            if parts.scheme != "https" and not (parts.scheme == "http" and plain_ok):
                raise ValueError(f"{where}: jwks_url must be https:// (set allow_http_jwks_url for plain http)")
        if not 0 <= self.leeway_seconds <= 300:
            raise ValueError(f"{where}: leeway_seconds must be between 0 and 300")

    def secret_bytes(self) -> bytes:
        secret = self.shared_secret
        return secret.encode() if isinstance(secret, str) else (secret or b"")
