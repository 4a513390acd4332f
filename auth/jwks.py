"""A JWT issuer's signing keys: one shared secret, one PEM public key, or a JWKS document (a file, or a URL
fetched with a size limit and cached: reloaded after a TTL or for an unknown kid, at most once per interval)."""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from auth.jwt_issuer import EC_CURVES, HMAC_ALGORITHMS, RSA_ALGORITHMS, JwtIssuer, jwt_error

log = logging.getLogger("auth.jwt")

_MIN_RSA_BITS = 2048
_MAX_JWKS_BYTES = 1 << 20

PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
Fetch: TypeAlias = Callable[[str], bytes]


@dataclass(frozen=True)
class JwksKey:
    kid: str | None
    key: bytes | PublicKey
    alg: str | None  # the JWK's own `alg`, when it publishes one


def fits(key: JwksKey, alg: str) -> bool:
    if key.alg is not None and key.alg != alg:
        return False
    if alg in HMAC_ALGORITHMS:
        return isinstance(key.key, bytes)
    if alg in RSA_ALGORITHMS:
        return isinstance(key.key, rsa.RSAPublicKey)
    curve = EC_CURVES.get(alg)
    return curve is not None and isinstance(key.key, ec.EllipticCurvePublicKey) and isinstance(key.key.curve, curve)


def _public(key: object) -> PublicKey | None:
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        key = key.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return key if key.key_size >= _MIN_RSA_BITS else None
    return key if isinstance(key, ec.EllipticCurvePublicKey) else None


def _parse_jwks(document: bytes | str) -> list[JwksKey]:
    """Usable signing keys of a JWKS document; symmetric and unsupported keys are skipped."""
    data = json.loads(document)
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("a JWKS document is a JSON object with a 'keys' list")
    keys: list[JwksKey] = []
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
        keys.append(JwksKey(kid if isinstance(kid, str) else None, public, alg if isinstance(alg, str) else None))
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
        self._keys: list[JwksKey] | None = None
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

    def lookup(self, kid: str | None) -> list[JwksKey]:
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
                raise jwt_error("jwt_keys_unavailable")
            return found

    def _match(self, kid: str | None) -> list[JwksKey]:
        return [k for k in self._keys or () if kid is None or k.kid == kid]


def key_source(issuer: JwtIssuer, fetch: Fetch, clock: Callable[[], float]) -> Callable[[str | None], list[JwksKey]]:
    """`lookup(kid)` for the issuer's keys; a single configured key ignores `kid`, which is only a hint."""
    if issuer.shared_secret is not None:
        secret = [JwksKey(None, issuer.secret_bytes(), None)]
        return lambda kid: secret
    if issuer.public_key_pem is not None:
        try:
            public = _public(load_pem_public_key(issuer.public_key_pem.encode()))
        except ValueError:
            public = None
        if public is None:
            raise ValueError(f"JWT issuer {issuer.issuer!r}: public_key_pem must be an RSA (>= 2048 bit) or EC key")
        static = JwksKey(None, public, None)
        for alg in issuer.algorithms:
            if not fits(static, alg):
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
