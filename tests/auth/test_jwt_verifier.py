"""JwtVerifier: every accepted algorithm, every refusal reason, JWKS caching, refresh and rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from security_suite_support import JwksServer

from auth.jwks import fetch_url
from auth.jwt_issuer import JwtIssuer
from auth.jwt_verifier import JwtVerifier, looks_like_jwt
from auth.model import AuthError, AuthFailure

NOW = 1_700_000_000.0
HS_ISS = "https://hs.idp.test"
RS_ISS = "https://rs.idp.test"
ES_ISS = "https://es.idp.test"
JWKS_ISS = "https://jwks.idp.test"
SECRET = b"d41142c2cd7460b961b9870a6799d98e9c7d3c69cee8569642cddda45bfb7cf8"  # openssl rand -hex 32
AUDIENCE = "flight-gateway"

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
EC384_KEY = ec.generate_private_key(ec.SECP384R1())


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def jwk(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        data = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        data = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    assert isinstance(data, dict)
    return {**data, "kid": kid, "use": "sig"}


def jwks(*keys: tuple[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, str]) -> bytes:
    return json.dumps({"keys": [jwk(key, kid) for key, kid in keys]}).encode()


def claims(iss: str | None = RS_ISS, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": iss,
        "sub": "alice",
        "tenant_id": "acme",
        "aud": AUDIENCE,
        "iat": int(NOW) - 10,
        "exp": int(NOW) + 300,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: Any, alg: str, kid: str | None = None) -> str:
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid} if kid else None)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def handmade(header: dict[str, Any], payload: dict[str, Any], sign_with: Callable[[bytes], bytes] | None) -> str:
    """A token built without pyjwt, for shapes pyjwt refuses to produce (alg none, HMAC over a PEM)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = b64(sign_with(signing_input.encode())) if sign_with else ""
    return f"{signing_input}.{signature}"


def tampered(token: str) -> str:
    """The same header and signature around a payload that names another tenant."""
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{b64(json.dumps({**data, 'tenant_id': 'globex'}).encode())}.{signature}"


def hmac_with(key: bytes) -> Callable[[bytes], bytes]:
    return lambda data: hmac.new(key, data, hashlib.sha256).digest()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(clock: Clock, tmp_path: Path) -> JwtVerifier:
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_bytes(jwks((RSA_KEY, "rsa-1"), (EC384_KEY, "ec-1")))
    issuers = [
        JwtIssuer(issuer=HS_ISS, algorithms=["HS256", "HS512"], shared_secret=SECRET, audience=AUDIENCE),
        JwtIssuer(issuer=RS_ISS, algorithms=["RS256", "PS256"], public_key_pem=pem(RSA_KEY), audience=AUDIENCE),
        JwtIssuer(issuer=ES_ISS, algorithms=["ES256"], public_key_pem=pem(EC_KEY)),
        JwtIssuer(issuer=JWKS_ISS, algorithms=["RS256", "ES384"], jwks_path=jwks_file),
    ]
    return JwtVerifier(issuers, clock=clock, fetch=lambda url: pytest.fail(f"unexpected fetch of {url}"))


VALID = {
    "hs256": lambda: sign(claims(HS_ISS), SECRET, "HS256"),
    "hs512": lambda: sign(claims(HS_ISS), SECRET, "HS512"),
    "rs256": lambda: sign(claims(RS_ISS), RSA_KEY, "RS256"),
    "ps256": lambda: sign(claims(RS_ISS), RSA_KEY, "PS256"),
    "es256": lambda: sign(claims(ES_ISS, aud=None), EC_KEY, "ES256"),
    "jwks_rs256_by_kid": lambda: sign(claims(JWKS_ISS), RSA_KEY, "RS256", kid="rsa-1"),
    "jwks_es384_by_kid": lambda: sign(claims(JWKS_ISS), EC384_KEY, "ES384", kid="ec-1"),
    "jwks_without_kid": lambda: sign(claims(JWKS_ISS), RSA_KEY, "RS256"),
    "expired_within_leeway": lambda: sign(claims(RS_ISS, exp=int(NOW) - 20), RSA_KEY, "RS256"),
    "nbf_within_leeway": lambda: sign(claims(RS_ISS, nbf=int(NOW) + 20), RSA_KEY, "RS256"),
    "aud_list_contains_ours": lambda: sign(claims(RS_ISS, aud=["other", AUDIENCE]), RSA_KEY, "RS256"),
}


@pytest.mark.parametrize("make", VALID.values(), ids=VALID.keys())
def test_valid_tokens_give_the_principal(verifier: JwtVerifier, make: Callable[[], str]) -> None:
    token = make()
    assert looks_like_jwt(token)
    principal = verifier.verify(token)
    assert (principal.subject, principal.tenant_id, principal.method, principal.roles) == ("alice", "acme", "jwt", ())


RSA_PEM = pem(RSA_KEY).encode()
REFUSED = {
    "expired": (lambda: sign(claims(RS_ISS, exp=int(NOW) - 31), RSA_KEY, "RS256"), "jwt_expired"),
    "not_yet_valid_nbf": (lambda: sign(claims(RS_ISS, nbf=int(NOW) + 60), RSA_KEY, "RS256"), "jwt_not_yet_valid"),
    "iat_in_future": (lambda: sign(claims(RS_ISS, iat=int(NOW) + 60), RSA_KEY, "RS256"), "jwt_not_yet_valid"),
    "missing_exp": (lambda: sign(claims(RS_ISS, exp=None), RSA_KEY, "RS256"), "jwt_missing_exp"),
    "exp_not_a_number": (lambda: sign(claims(RS_ISS, exp="soon"), RSA_KEY, "RS256"), "jwt_malformed"),
    "wrong_hmac_secret": (lambda: sign(claims(HS_ISS), b"x" * 64, "HS256"), "jwt_bad_signature"),
    "wrong_rsa_key": (lambda: sign(claims(RS_ISS), OTHER_RSA_KEY, "RS256"), "jwt_bad_signature"),
    "tampered_payload": (lambda: tampered(sign(claims(RS_ISS), RSA_KEY, "RS256")), "jwt_bad_signature"),
    "claims_another_issuer": (
        lambda: sign(claims(JWKS_ISS), OTHER_RSA_KEY, "RS256", kid="rsa-1"),
        "jwt_bad_signature",
    ),
    "claims_issuer_with_other_algorithms": (
        lambda: sign(claims(ES_ISS, aud=None), RSA_KEY, "RS256"),
        "jwt_alg_not_allowed",
    ),
    "unknown_issuer": (lambda: sign(claims("https://evil.test"), RSA_KEY, "RS256"), "jwt_unknown_issuer"),
    "missing_issuer": (lambda: sign(claims(iss=None), RSA_KEY, "RS256"), "jwt_unknown_issuer"),
    "wrong_audience": (lambda: sign(claims(RS_ISS, aud="someone-else"), RSA_KEY, "RS256"), "jwt_wrong_audience"),
    "missing_audience": (lambda: sign(claims(RS_ISS, aud=None), RSA_KEY, "RS256"), "jwt_wrong_audience"),
    "alg_none": (lambda: handmade({"alg": "none", "typ": "JWT"}, claims(RS_ISS), None), "jwt_alg_not_allowed"),
    "alg_none_for_hmac_issuer": (
        lambda: handmade({"alg": "none"}, claims(HS_ISS), None),
        "jwt_alg_not_allowed",
    ),
    "hs256_signed_with_rsa_public_pem": (
        lambda: handmade({"alg": "HS256", "typ": "JWT"}, claims(RS_ISS), hmac_with(RSA_PEM)),
        "jwt_alg_not_allowed",
    ),
    "hs256_signed_with_jwks_key_pem": (
        lambda: handmade({"alg": "HS256", "kid": "rsa-1"}, claims(JWKS_ISS), hmac_with(RSA_PEM)),
        "jwt_alg_not_allowed",
    ),
    "alg_not_pinned": (lambda: sign(claims(RS_ISS), RSA_KEY, "RS384"), "jwt_alg_not_allowed"),
    "kid_names_key_of_other_type": (
        lambda: sign(claims(JWKS_ISS), RSA_KEY, "RS256", kid="ec-1"),
        "jwt_alg_not_allowed",
    ),
    "missing_tenant": (lambda: sign(claims(RS_ISS, tenant_id=None), RSA_KEY, "RS256"), "jwt_missing_tenant"),
    "empty_tenant": (lambda: sign(claims(RS_ISS, tenant_id=""), RSA_KEY, "RS256"), "jwt_missing_tenant"),
    "missing_subject": (lambda: sign(claims(RS_ISS, sub=None), RSA_KEY, "RS256"), "jwt_missing_subject"),
    "unknown_kid_in_jwks_file": (lambda: sign(claims(JWKS_ISS), RSA_KEY, "RS256", kid="nope"), "jwt_unknown_kid"),
    "not_a_jwt": (lambda: "definitely-not-a-token", "jwt_malformed"),
    "two_segments": (lambda: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0", "jwt_malformed"),
    "header_not_json": (lambda: "bm90IGpzb24.eyJzdWIiOiJ4In0.c2ln", "jwt_malformed"),
    "payload_not_json": (lambda: handmade({"alg": "HS256"}, {}, None).split(".")[0] + ".bm9wZQ.", "jwt_malformed"),
    "oversized": (lambda: "eyJhbGciOiJIUzI1NiJ9." + "A" * 20_000 + ".sig", "jwt_malformed"),
}


@pytest.mark.parametrize(("make", "reason"), REFUSED.values(), ids=REFUSED.keys())
def test_refusals_carry_a_stable_reason(verifier: JwtVerifier, make: Callable[[], str], reason: str) -> None:
    with pytest.raises(AuthError) as info:
        verifier.verify(make())
    assert info.value.kind is AuthFailure.UNAUTHENTICATED
    assert info.value.reason == reason
    assert ";" in info.value.message  # cause first, then what to do
    assert "eyJ" not in info.value.message  # the token is never echoed back


def test_claim_overrides_only_when_allowed(clock: Clock) -> None:
    payload = claims(RS_ISS, realm_access={"roles": ["analyst", "admin"]}, db_user="alice_db")

    def verifier(allow: bool) -> JwtVerifier:
        issuer = JwtIssuer(
            issuer=RS_ISS,
            algorithms=["RS256"],
            public_key_pem=pem(RSA_KEY),
            audience=AUDIENCE,
            roles_claim="realm_access.roles",
            db_user_claim="db_user",
            allow_claim_overrides=allow,
        )
        return JwtVerifier([issuer], clock=clock)

    token = sign(payload, RSA_KEY, "RS256")
    allowed = verifier(True).verify_identity(token)
    assert allowed.principal.roles == ("analyst", "admin")
    assert allowed.db_user == "alice_db"
    assert allowed.issuer == RS_ISS
    assert allowed.claims["sub"] == "alice"
    ignored = verifier(False).verify_identity(token)
    assert ignored.principal.roles == ()
    assert ignored.db_user is None


def test_custom_claim_names(clock: Clock) -> None:
    issuer = JwtIssuer(
        issuer=HS_ISS,
        algorithms=["HS256"],
        shared_secret=SECRET.decode(),
        tenant_claim="https://gateway.test/tenant",
        subject_claim="email",
        roles_claim="scope",
        allow_claim_overrides=True,
    )
    payload = claims(HS_ISS, aud=None, email="a@acme.test", scope="read write", **{"https://gateway.test/tenant": 7})
    principal = JwtVerifier([issuer], clock=clock).verify(sign(payload, SECRET, "HS256"))
    assert (principal.subject, principal.tenant_id, principal.roles) == ("a@acme.test", "7", ("read", "write"))


def test_token_with_audience_is_accepted_when_issuer_sets_none(verifier: JwtVerifier) -> None:
    assert verifier.verify(sign(claims(ES_ISS, aud="anything"), EC_KEY, "ES256")).tenant_id == "acme"


def test_time_follows_the_injected_clock(verifier: JwtVerifier, clock: Clock) -> None:
    token = sign(claims(RS_ISS), RSA_KEY, "RS256")
    verifier.verify(token)
    clock.now = NOW + 300 + 30
    with pytest.raises(AuthError, match="expired") as info:
        verifier.verify(token)
    assert info.value.reason == "jwt_expired"


BAD_CONFIG = {
    "alg_none": dict(issuer=HS_ISS, algorithms=["none"], shared_secret=SECRET),
    "no_algorithms": dict(issuer=HS_ISS, algorithms=[], shared_secret=SECRET),
    "unsupported_alg": dict(issuer=HS_ISS, algorithms=["EdDSA"], public_key_pem=pem(RSA_KEY)),
    "no_key_source": dict(issuer=HS_ISS, algorithms=["HS256"]),
    "two_key_sources": dict(issuer=HS_ISS, algorithms=["RS256"], public_key_pem="x", jwks_url="https://idp.test/k"),
    "hs_with_public_key": dict(issuer=RS_ISS, algorithms=["RS256", "HS256"], public_key_pem=pem(RSA_KEY)),
    "rs_with_secret": dict(issuer=HS_ISS, algorithms=["RS256"], shared_secret=SECRET),
    "short_secret": dict(issuer=HS_ISS, algorithms=["HS256"], shared_secret=b"short"),
    "short_secret_for_hs512": dict(issuer=HS_ISS, algorithms=["HS512"], shared_secret=b"s" * 32),
    "plain_http_jwks": dict(issuer=RS_ISS, algorithms=["RS256"], jwks_url="http://idp.example.com/jwks"),
    "empty_issuer": dict(issuer="", algorithms=["HS256"], shared_secret=SECRET),
}


@pytest.mark.parametrize("kwargs", BAD_CONFIG.values(), ids=BAD_CONFIG.keys())
def test_bad_issuer_config_fails_early(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="."):
        JwtIssuer(**kwargs)


def test_public_key_must_fit_the_pinned_algorithms() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        JwtVerifier([JwtIssuer(issuer=ES_ISS, algorithms=["ES384"], public_key_pem=pem(EC_KEY))])
    with pytest.raises(ValueError, match="does not fit"):
        JwtVerifier([JwtIssuer(issuer=RS_ISS, algorithms=["ES256"], public_key_pem=pem(RSA_KEY))])


def test_broken_jwks_file_fails_at_construction(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text('{"not": "a jwks"}')
    with pytest.raises(ValueError, match="jwks_path"):
        JwtVerifier([JwtIssuer(issuer=JWKS_ISS, algorithms=["RS256"], jwks_path=path)])
    with pytest.raises(ValueError, match="jwks_path"):
        JwtVerifier([JwtIssuer(issuer=JWKS_ISS, algorithms=["RS256"], jwks_path=tmp_path / "missing.json")])


def test_unparsable_public_key_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="public_key_pem"):
        JwtVerifier([JwtIssuer(issuer=RS_ISS, algorithms=["RS256"], public_key_pem="-----BEGIN nonsense")])


def test_shared_secret_is_not_in_repr() -> None:
    issuer = JwtIssuer(issuer=HS_ISS, algorithms=["HS256"], shared_secret=SECRET)
    assert SECRET.decode() not in repr(issuer)


def test_issuer_configured_twice_is_refused() -> None:
    issuer = JwtIssuer(issuer=HS_ISS, algorithms=["HS256"], shared_secret=SECRET)
    with pytest.raises(ValueError, match="twice"):
        JwtVerifier([issuer, issuer])


def test_looks_like_jwt() -> None:
    assert looks_like_jwt(sign(claims(), RSA_KEY, "RS256"))
    assert looks_like_jwt(handmade({"alg": "none"}, {}, None))
    for text in ["", "fgt1.local.abc.def", "fgk_0123456789ab_secret", "a.b.c", "eyJ.e30.x!", "e30.e30"]:
        assert not looks_like_jwt(text), text


# --- JWKS by URL ------------------------------------------------------------------------------


@dataclass
class FakeIdp:
    """A JWKS endpoint as an injectable fetch function."""

    body: bytes
    fetches: int = 0
    fail: bool = False
    urls: list[str] = field(default_factory=list)

    def __call__(self, url: str) -> bytes:
        self.fetches += 1
        self.urls.append(url)
        if self.fail:
            raise OSError("identity provider unreachable")
        return self.body


def url_verifier(idp: Callable[[str], bytes], clock: Clock, url: str = "https://idp.test/jwks") -> JwtVerifier:
    issuer = JwtIssuer(issuer=JWKS_ISS, algorithms=["RS256", "ES256"], jwks_url=url)
    return JwtVerifier([issuer], fetch=idp, clock=clock)


def test_jwks_is_fetched_lazily_and_cached_for_its_ttl(clock: Clock) -> None:
    idp = FakeIdp(jwks((RSA_KEY, "a")))
    verifier = url_verifier(idp, clock)
    assert idp.fetches == 0
    token = sign(claims(JWKS_ISS), RSA_KEY, "RS256", kid="a")
    for _ in range(3):
        verifier.verify(token)
    assert (idp.fetches, idp.urls[0]) == (1, "https://idp.test/jwks")
    clock.now += 299
    verifier.verify(token)
    assert idp.fetches == 1
    clock.now += 2
    verifier.verify(token)
    assert idp.fetches == 2


def test_unknown_kid_refreshes_then_succeeds(clock: Clock) -> None:
    idp = FakeIdp(jwks((RSA_KEY, "a")))
    verifier = url_verifier(idp, clock)
    verifier.verify(sign(claims(JWKS_ISS), RSA_KEY, "RS256", kid="a"))
    clock.now += 60  # past the refresh throttle, well within the TTL
    idp.body = jwks((RSA_KEY, "a"), (EC_KEY, "b"))
    assert verifier.verify(sign(claims(JWKS_ISS), EC_KEY, "ES256", kid="b")).subject == "alice"
    assert idp.fetches == 2


def test_unknown_kid_refresh_is_throttled(clock: Clock) -> None:
    idp = FakeIdp(jwks((RSA_KEY, "a")))
    verifier = url_verifier(idp, clock)
    verifier.verify(sign(claims(JWKS_ISS), RSA_KEY, "RS256", kid="a"))
    forged = sign(claims(JWKS_ISS), OTHER_RSA_KEY, "RS256", kid="random")
    for _ in range(50):
        with pytest.raises(AuthError) as info:
            verifier.verify(forged)
        assert info.value.reason == "jwt_unknown_kid"
    assert idp.fetches == 1  # the first fetch was moments ago: no refresh allowed yet
    clock.now += 30
    with pytest.raises(AuthError):
        verifier.verify(forged)
    with pytest.raises(AuthError):
        verifier.verify(forged)
    assert idp.fetches == 2


def test_failed_refresh_keeps_serving_cached_keys(clock: Clock) -> None:
    idp = FakeIdp(jwks((RSA_KEY, "a")))
    verifier = url_verifier(idp, clock)
    token = sign(claims(JWKS_ISS, exp=int(NOW) + 3600), RSA_KEY, "RS256", kid="a")
    verifier.verify(token)
    idp.fail = True
    clock.now += 301
    assert verifier.verify(token).tenant_id == "acme"
    assert idp.fetches == 2
    verifier.verify(token)
    assert idp.fetches == 2  # the failure also counts against the throttle


def test_unreachable_idp_without_cached_keys(clock: Clock) -> None:
    idp = FakeIdp(b"", fail=True)
    with pytest.raises(AuthError) as info:
        url_verifier(idp, clock).verify(sign(claims(JWKS_ISS), RSA_KEY, "RS256", kid="a"))
    assert info.value.reason == "jwt_keys_unavailable"


def test_jwks_skips_symmetric_and_weak_keys(clock: Clock) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the point of the test)
    oct_key = {"kty": "oct", "k": b64(SECRET), "kid": "hmac"}
    body = json.dumps({"keys": [oct_key, jwk(weak, "weak"), jwk(RSA_KEY, "good")]}).encode()
    verifier = url_verifier(FakeIdp(body), clock)
    assert verifier.verify(sign(claims(JWKS_ISS), RSA_KEY, "RS256", kid="good")).subject == "alice"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyjwt warns about signing with a 1024-bit key: that is the point
        weak_token = sign(claims(JWKS_ISS), weak, "RS256", kid="weak")
    hmac_token = handmade({"alg": "HS256", "kid": "hmac"}, claims(JWKS_ISS), hmac_with(SECRET))
    for token, reason in [(weak_token, "jwt_unknown_kid"), (hmac_token, "jwt_alg_not_allowed")]:
        with pytest.raises(AuthError) as info:
            verifier.verify(token)
        assert info.value.reason == reason


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer(jwks((RSA_KEY, "2024")))
    yield server
    server.close()


def test_jwks_url_over_real_http_with_key_rotation(jwks_server: JwksServer, clock: Clock) -> None:
    issuer = JwtIssuer(issuer=JWKS_ISS, algorithms=["RS256"], jwks_url=jwks_server.url, audience=AUDIENCE)
    verifier = JwtVerifier([issuer], clock=clock)  # the default fetch: urllib over real HTTP
    old = sign(claims(JWKS_ISS), RSA_KEY, "RS256", kid="2024")
    assert verifier.verify(old).subject == "alice"
    assert jwks_server.requests == 1

    # The provider rotates: the new key is published, the old one withdrawn.
    jwks_server.body = jwks((OTHER_RSA_KEY, "2025"))
    clock.now += 31
    new = sign(claims(JWKS_ISS), OTHER_RSA_KEY, "RS256", kid="2025")
    assert verifier.verify(new).subject == "alice"
    assert jwks_server.requests == 2
    with pytest.raises(AuthError) as info:
        verifier.verify(old)
    assert info.value.reason == "jwt_unknown_kid"
    assert jwks_server.requests == 2


def test_fetch_url_refuses_non_http_schemes(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("{}")
    with pytest.raises(ValueError, match="http"):
        fetch_url(secret_file.as_uri())


def test_fetch_url_reads_a_real_server(jwks_server: JwksServer) -> None:
    assert json.loads(fetch_url(jwks_server.url))["keys"][0]["kid"] == "2024"
