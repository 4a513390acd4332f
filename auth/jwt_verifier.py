"""Verifies JWTs from external identity providers and turns them into Principals.

Each trusted issuer pins its algorithms and has exactly one key source. A token picks its issuer
by its unverified `iss` claim; from then on only that issuer's algorithms and keys apply, so a
token never chooses its own verification rules. Shared secrets only verify HS* and public keys
only verify RS*/PS*/ES*: HS256 "signed" with a public key's PEM is refused before any signature
is computed. Time claims are checked here (not by pyjwt) so the clock can be injected. The issuers'
configuration is `jwt_issuer.py`'s, their signing keys (PEM, JWKS files and URLs) `jwks.py`'s.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import jwt

from auth.jwks import Fetch, fetch_url, fits, key_source
from auth.jwt_issuer import JwtIssuer, jwt_error, malformed_jwt
from auth.model import Principal

log = logging.getLogger("auth.jwt")

_MAX_TOKEN_CHARS = 16_384
_MAX_CANDIDATE_KEYS = 8
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class JwtIdentity:
    """A verified token: the Principal plus what Principal does not carry (yet)."""

    principal: Principal
    issuer: str
    db_user: str | None
    claims: Mapping[str, Any]


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
        raise malformed_jwt(f"claim {name!r} must be a number of seconds")
    return float(value)


class _Issuer:
    def __init__(self, config: JwtIssuer, fetch: Fetch, clock: Callable[[], float]) -> None:
        self.config = config
        self.lookup = key_source(config, fetch, clock)
        if (config.db_user_claim or config.roles_claim) and not config.allow_claim_overrides:
            log.warning(
                "JWT issuer %s: db_user_claim/roles_claim are ignored without allow_claim_overrides", config.issuer
            )

    def decode(self, token: str, alg: str, kid: str | None) -> dict[str, Any]:
        found = self.lookup(kid)
        if not found:
            raise jwt_error("jwt_unknown_kid")
        cfg = self.config
        fitting = [key for key in found if fits(key, alg)][:_MAX_CANDIDATE_KEYS]
        if not fitting:
            raise jwt_error("jwt_alg_not_allowed", alg=alg, hint="its signing key is of another type")
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
                raise (
                    jwt_error("jwt_wrong_audience", audience=cfg.audience) if cfg.audience else malformed_jwt()
                ) from exc
            except jwt.InvalidIssuerError as exc:
                raise jwt_error("jwt_wrong_issuer") from exc
            except (jwt.InvalidAlgorithmError, jwt.InvalidKeyError) as exc:
                raise jwt_error(
                    "jwt_alg_not_allowed", alg=alg, hint=f"it signs with {', '.join(cfg.algorithms)}"
                ) from exc
            except jwt.PyJWTError as exc:
                raise malformed_jwt() from exc
        raise jwt_error("jwt_bad_signature")

    def identity(self, claims: dict[str, Any], now: float) -> JwtIdentity:
        cfg = self.config
        exp, nbf, iat = _time(claims, "exp"), _time(claims, "nbf"), _time(claims, "iat")
        if exp is None:
            raise jwt_error("jwt_missing_exp")
        if exp <= now - cfg.leeway_seconds:
            raise jwt_error("jwt_expired")
        if any(t is not None and t > now + cfg.leeway_seconds for t in (nbf, iat)):
            raise jwt_error("jwt_not_yet_valid")
        subject = _text(_claim(claims, cfg.subject_claim))
        if subject is None:
            raise jwt_error("jwt_missing_subject", claim=cfg.subject_claim)
        tenant = _text(_claim(claims, cfg.tenant_claim))
        if tenant is None:
            raise jwt_error("jwt_missing_tenant", claim=cfg.tenant_claim)
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
                    raise malformed_jwt(f"claim {cfg.roles_claim!r} must be a list of strings")
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
            raise malformed_jwt()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise malformed_jwt() from exc
        # Only the issuer is chosen from unverified data; everything else is verified by its rules.
        iss = unverified.get("iss")
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise jwt_error("jwt_unknown_issuer")
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in issuer.config.algorithms:
            hint = f"it signs with {', '.join(issuer.config.algorithms)}"
            raise jwt_error("jwt_alg_not_allowed", alg=repr(str(alg)[:16]), hint=hint)
        if kid is not None and not isinstance(kid, str):
            raise malformed_jwt("header 'kid' must be a string")
        return issuer.identity(issuer.decode(token, alg, kid), self._clock())
