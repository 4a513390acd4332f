"""Verifies JWTs from external identity providers and turns them into Principals.

Each trusted issuer pins its algorithms and has exactly one key source. A token picks its issuer
by its unverified `iss` claim; from then on only that issuer's algorithms and keys apply, so a
token never chooses its own verification rules. Shared secrets only verify HS* and public keys
only verify RS*/PS*/ES*: HS256 "signed" with a public key's PEM is refused before any signature
is computed. Time claims are checked here (not by pyjwt) so the clock can be injected.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from auth.model import AuthError, Principal, unauthenticated
from auth.secret_strength import weakness

log = logging.getLogger("auth.jwt")

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256"})
_EC_CURVES: Mapping[str, type[ec.EllipticCurve]] = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1}
ALLOWED_ALGORITHMS = HMAC_ALGORITHMS | RSA_ALGORITHMS | frozenset(_EC_CURVES)
# RFC 7518 §3.2: an HMAC key must be at least as long as the hash output.
_HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
_MIN_RSA_BITS = 2048
_MAX_TOKEN_CHARS = 16_384
_MAX_JWKS_BYTES = 1 << 20
_MAX_CANDIDATE_KEYS = 8
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]*$")

PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
Fetch: TypeAlias = Callable[[str], bytes]


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


def _fail(reason: str, **fields: object) -> AuthError:
    """The AuthError for a stable `reason`; its client message says what to do."""
    return unauthenticated(reason, _MESSAGES[reason].format(**fields))


def _malformed(detail: str = "") -> AuthError:
    return _fail("jwt_malformed", detail=f" ({detail})" if detail else "")


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


@dataclass(frozen=True)
class JwtIdentity:
    """A verified token: the Principal plus what Principal does not carry (yet)."""

    principal: Principal
    issuer: str
    db_user: str | None
    claims: Mapping[str, Any]


@dataclass(frozen=True)
class _Key:
    kid: str | None
    key: bytes | PublicKey
    alg: str | None  # the JWK's own `alg`, when it publishes one


def _fits(key: _Key, alg: str) -> bool:
    if key.alg is not None and key.alg != alg:
        return False
    if alg in HMAC_ALGORITHMS:
        return isinstance(key.key, bytes)
    if alg in RSA_ALGORITHMS:
        return isinstance(key.key, rsa.RSAPublicKey)
    curve = _EC_CURVES.get(alg)
    return curve is not None and isinstance(key.key, ec.EllipticCurvePublicKey) and isinstance(key.key.curve, curve)


def _public(key: object) -> PublicKey | None:
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        key = key.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return key if key.key_size >= _MIN_RSA_BITS else None
    return key if isinstance(key, ec.EllipticCurvePublicKey) else None


def _parse_jwks(document: bytes | str) -> list[_Key]:
    """Usable signing keys of a JWKS document; symmetric and unsupported keys are skipped."""
    data = json.loads(document)
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("a JWKS document is a JSON object with a 'keys' list")
    keys: list[_Key] = []
    for entry in data["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        loader = {"RSA": RSAAlgorithm.from_jwk, "EC": ECAlgorithm.from_jwk}.get(str(entry.get("kty")))
        try:
            public = _public(loader(entry)) if loader else None
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            public = None
        if public is None:
            log.warning("skipping unusable JWKS key", extra={"kid": str(entry.get("kid"))[:64]})
            continue
        kid, alg = entry.get("kid"), entry.get("alg")
        keys.append(_Key(kid if isinstance(kid, str) else None, public, alg if isinstance(alg, str) else None))
    return keys


def fetch_url(url: str, timeout: float = 5.0) -> bytes:
    """GET a JWKS document over http(s), refusing bodies over 1 MiB."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"refusing to fetch {url!r}: only http(s) URLs are allowed")
    # The scheme is checked above, so neither file:// nor custom handlers can be reached.
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        body: bytes = response.read(_MAX_JWKS_BYTES + 1)
    if len(body) > _MAX_JWKS_BYTES:
        raise ValueError(f"JWKS document at {url} is larger than {_MAX_JWKS_BYTES} bytes")
    return body


class _JwksCache:
    """Keys from a JWKS source, reloaded after a TTL or for an unknown kid, at most once per interval."""

    def __init__(self, load: Callable[[], bytes], source: str, issuer: JwtIssuer, clock: Callable[[], float]) -> None:
        self._load, self._source, self._clock = load, source, clock
        self._ttl, self._min_interval = issuer.jwks_cache_seconds, issuer.jwks_min_refresh_seconds
        self._keys: list[_Key] | None = None
        self._loaded_at = float("-inf")
        self._attempted_at = float("-inf")
        self._lock = threading.Lock()

    def _refresh(self, now: float) -> None:
        self._attempted_at = now
        try:
            self._keys = _parse_jwks(self._load())
            self._loaded_at = now
        except Exception as exc:  # an IdP outage must not break the call path; stale keys keep working
            log.warning("JWKS refresh failed", extra={"jwks_source": self._source, "error": type(exc).__name__})

    def lookup(self, kid: str | None) -> list[_Key]:
        with self._lock:
            now = self._clock()
            may_refresh = now - self._attempted_at >= self._min_interval
            if may_refresh and now - self._loaded_at >= self._ttl:
                self._refresh(now)
                may_refresh = False
            found = self._match(kid)
            if not found and kid is not None and may_refresh:
                self._refresh(now)
                found = self._match(kid)
            if self._keys is None:
                raise _fail("jwt_keys_unavailable")
            return found

    def _match(self, kid: str | None) -> list[_Key]:
        return [k for k in self._keys or () if kid is None or k.kid == kid]


def _key_source(issuer: JwtIssuer, fetch: Fetch, clock: Callable[[], float]) -> Callable[[str | None], list[_Key]]:
    """`lookup(kid)` for the issuer's keys; a single configured key ignores `kid`, which is only a hint."""
    if issuer.shared_secret is not None:
        secret = [_Key(None, issuer.secret_bytes(), None)]
        return lambda kid: secret
    if issuer.public_key_pem is not None:
        try:
            public = _public(load_pem_public_key(issuer.public_key_pem.encode()))
        except ValueError:
            public = None
        if public is None:
            raise ValueError(f"JWT issuer {issuer.issuer!r}: public_key_pem must be an RSA (>= 2048 bit) or EC key")
        static = _Key(None, public, None)
        for alg in issuer.algorithms:
            if not _fits(static, alg):
                raise ValueError(f"JWT issuer {issuer.issuer!r}: algorithm {alg} does not fit public_key_pem's key")
        return lambda kid: [static]
    if issuer.jwks_path is not None:
        path = Path(issuer.jwks_path)
        try:
            _parse_jwks(path.read_bytes())  # a broken file fails at start-up, naming the problem
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"JWT issuer {issuer.issuer!r}: jwks_path {str(path)!r} is not a readable JWKS: {exc}"
            ) from exc
        return _JwksCache(path.read_bytes, str(path), issuer, clock).lookup
    url = str(issuer.jwks_url)
    return _JwksCache(lambda: fetch(url), url, issuer, clock).lookup


def looks_like_jwt(token: str) -> bool:
    """Three base64url segments whose first decodes to a JSON object: worth handing to JwtVerifier."""
    parts = token.split(".")
    if len(token) > _MAX_TOKEN_CHARS or len(parts) != 3 or not all(_SEGMENT.match(p) for p in parts):
        return False
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except (binascii.Error, ValueError):
        return False
    return isinstance(header, dict)


def _claim(claims: Mapping[str, Any], name: str) -> Any:
    """Claim `name`; a dotted name not present as such walks nested objects (`realm_access.roles`)."""
    if name in claims or "." not in name:
        return claims.get(name)
    value: Any = claims
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) and value else None


def _time(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _malformed(f"claim {name!r} must be a number of seconds")
    return float(value)


class _Issuer:
    def __init__(self, config: JwtIssuer, fetch: Fetch, clock: Callable[[], float]) -> None:
        self.config = config
        self.lookup = _key_source(config, fetch, clock)
        if (config.db_user_claim or config.roles_claim) and not config.allow_claim_overrides:
            log.warning(
                "JWT issuer %s: db_user_claim/roles_claim are ignored without allow_claim_overrides", config.issuer
            )

    def decode(self, token: str, alg: str, kid: str | None) -> dict[str, Any]:
        found = self.lookup(kid)
        if not found:
            raise _fail("jwt_unknown_kid")
        cfg = self.config
        fitting = [key for key in found if _fits(key, alg)][:_MAX_CANDIDATE_KEYS]
        if not fitting:
            raise _fail("jwt_alg_not_allowed", alg=alg, hint="its signing key is of another type")
        # exp/nbf/iat are checked by `identity`, against the injected clock.
        options: Any = {"verify_exp": False, "verify_nbf": False, "verify_iat": False}
        options["verify_aud"] = cfg.audience is not None
        for key in fitting:
            try:
                return jwt.decode(
                    token, key.key, algorithms=[alg], options=options, audience=cfg.audience, issuer=cfg.issuer
                )
            except jwt.InvalidSignatureError:
                continue
            except (jwt.InvalidAudienceError, jwt.MissingRequiredClaimError) as exc:
                raise (_fail("jwt_wrong_audience", audience=cfg.audience) if cfg.audience else _malformed()) from exc
            except jwt.InvalidIssuerError as exc:
                raise _fail("jwt_wrong_issuer") from exc
            except (jwt.InvalidAlgorithmError, jwt.InvalidKeyError) as exc:
                raise _fail("jwt_alg_not_allowed", alg=alg, hint=f"it signs with {', '.join(cfg.algorithms)}") from exc
            except jwt.PyJWTError as exc:
                raise _malformed() from exc
        raise _fail("jwt_bad_signature")

    def identity(self, claims: dict[str, Any], now: float) -> JwtIdentity:
        cfg = self.config
        exp, nbf, iat = _time(claims, "exp"), _time(claims, "nbf"), _time(claims, "iat")
        if exp is None:
            raise _fail("jwt_missing_exp")
        if exp <= now - cfg.leeway_seconds:
            raise _fail("jwt_expired")
        if any(t is not None and t > now + cfg.leeway_seconds for t in (nbf, iat)):
            raise _fail("jwt_not_yet_valid")
        subject = _text(_claim(claims, cfg.subject_claim))
        if subject is None:
            raise _fail("jwt_missing_subject", claim=cfg.subject_claim)
        tenant = _text(_claim(claims, cfg.tenant_claim))
        if tenant is None:
            raise _fail("jwt_missing_tenant", claim=cfg.tenant_claim)
        roles: tuple[str, ...] = ()
        db_user: str | None = None
        if cfg.allow_claim_overrides:
            if cfg.roles_claim:
                raw = _claim(claims, cfg.roles_claim)
                if isinstance(raw, str):
                    roles = tuple(raw.split())
                elif isinstance(raw, list) and all(isinstance(r, str) for r in raw):
                    roles = tuple(raw)
                elif raw is not None:
                    raise _malformed(f"claim {cfg.roles_claim!r} must be a list of strings")
            if cfg.db_user_claim:
                db_user = _text(_claim(claims, cfg.db_user_claim))
        principal = Principal(subject=subject, tenant_id=tenant, method="jwt", roles=roles)
        return JwtIdentity(principal, cfg.issuer, db_user, MappingProxyType(claims))


class JwtVerifier:
    """Verifies tokens of the configured issuers; thread-safe."""

    def __init__(
        self, issuers: Sequence[JwtIssuer], *, fetch: Fetch = fetch_url, clock: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._issuers: dict[str, _Issuer] = {}
        for config in issuers:
            if config.issuer in self._issuers:
                raise ValueError(f"JWT issuer {config.issuer!r} is configured twice")
            self._issuers[config.issuer] = _Issuer(config, fetch, clock)

    def verify(self, token: str) -> Principal:
        """The caller's Principal (method "jwt"), or AuthError(UNAUTHENTICATED) with a `jwt_*` reason."""
        return self.verify_identity(token).principal

    def verify_identity(self, token: str) -> JwtIdentity:
        """Like `verify`, plus the issuer, the db_user override and the verified claims."""
        if not looks_like_jwt(token):
            raise _malformed()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise _malformed() from exc
        # Only the issuer is chosen from unverified data; everything else is verified by its rules.
        iss = unverified.get("iss")
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise _fail("jwt_unknown_issuer")
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in issuer.config.algorithms:
            hint = f"it signs with {', '.join(issuer.config.algorithms)}"
            raise _fail("jwt_alg_not_allowed", alg=repr(str(alg)[:16]), hint=hint)
        if kid is not None and not isinstance(kid, str):
            raise _malformed("header 'kid' must be a string")
        return issuer.identity(issuer.decode(token, alg, kid), self._clock())
