"""End-to-end security suite: every credential kind, accepted or refused, through real clients.

One gateway serves the demo tenants with API keys (active, disabled, expired) and four JWT issuers (HS256
shared secret + audience, RS256 PEM file, ES256 JWKS file, RS256 JWKS URL on a real local HTTP server).
Each case goes through ADBC (username/password, or `authorization_header`) and pyarrow.flight (Basic
login, or a Bearer header): a success must answer with the right tenant's rows, a refusal with the exact
gRPC status. Separate gateways cover JWKS key rotation, failure lockouts and the `create-key` CLI.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import secrets
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow.flight as fl
import pytest
from conftest import PASSWORD, RunningGateway, start_gateway
from cryptography.hazmat.primitives.asymmetric import ec
from manual_clock import ManualClock
from security_suite_support import (
    CLIENTS,
    OK,
    Basic,
    Bearer,
    Credential,
    JwksServer,
    Outcome,
    RawHeader,
    adbc_outcome,
    claims,
    flight_options,
    flight_query,
    flip_last_char,
    handmade,
    jwks,
    public_pem,
    retarget_gateway_token,
    rsa_key,
    sign,
    statement,
    unb64url,
    via_adbc,
    via_flight,
)

from auth import Principal, TokenSigner
from auth.api_keys import generate_api_key
from auth.audit import SecretRedactingFilter
from flight_gateway.logs import FORMAT

UNAUTHENTICATED, PERMISSION_DENIED, UNAVAILABLE = "UNAUTHENTICATED", "PERMISSION_DENIED", "UNAVAILABLE"
REPO = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC)

HS_ISS, HS_SECRET, AUDIENCE = "https://hs.idp.test", secrets.token_hex(32), "flight-gateway"
RS_ISS, RS_KEY = "https://rs.idp.test", rsa_key()
ES_ISS, ES_KEY, ES_KID, ES_TENANT_CLAIM = "https://es.idp.test", ec.generate_private_key(ec.SECP256R1()), "es-1", "org"
URL_ISS, URL_KEY, URL_KID = "https://url.idp.test", rsa_key(), "url-1"
STRANGER_KEY = rsa_key()  # nobody trusts this key

KEY_ACME, ACME_RECORD = generate_api_key("acme")
KEY_GLOBEX, GLOBEX_RECORD = generate_api_key("globex")
KEY_DISABLED, DISABLED_RECORD = generate_api_key("acme")
KEY_EXPIRED, EXPIRED_RECORD = generate_api_key("acme", expires_at=NOW - timedelta(days=1))
KEY_EXPIRING, EXPIRING_RECORD = generate_api_key("globex", expires_at=NOW + timedelta(hours=2))
KEY_UNKNOWN = f"fgk_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


def _api_key_settings() -> list[dict[str, object]]:
    records = [
        (ACME_RECORD, False),
        (GLOBEX_RECORD, False),
        (DISABLED_RECORD, True),
        (EXPIRED_RECORD, False),
        (EXPIRING_RECORD, False),
    ]
    return [
        {"id": r.id, "hash": r.key_hash, "tenant": r.tenant, "disabled": disabled, "expires_at": r.expires_at}
        for r, disabled in records
    ]


def hs(tenant: str | None, *, secret: str = HS_SECRET, **extra: object) -> str:
    return sign(claims(HS_ISS, tenant, **{"aud": AUDIENCE, **extra}), secret, "HS256")


def rs(tenant: str | None, **extra: object) -> str:
    return sign(claims(RS_ISS, tenant, **extra), RS_KEY, "RS256")


def es(tenant: str) -> str:
    return sign(claims(ES_ISS, tenant, tenant_claim=ES_TENANT_CLAIM), ES_KEY, "ES256", ES_KID)


def from_url(tenant: str) -> str:
    return sign(claims(URL_ISS, tenant), URL_KEY, "RS256", URL_KID)


@dataclass
class Suite:
    running: RunningGateway
    tokens: dict[str, str]  # gateway bearer tokens from a Basic login, by tenant

    @property
    def uri(self) -> str:
        return self.running.uri


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    base = tmp_path_factory.mktemp("security")
    (base / "rs.pem").write_bytes(public_pem(RS_KEY))
    (base / "es.jwks.json").write_bytes(jwks((ES_KEY, ES_KID)))
    with contextlib.ExitStack() as cleanup:
        server = JwksServer(jwks((URL_KEY, URL_KID)))
        cleanup.callback(server.close)
        running = start_gateway(
            base / "data",
            demo_rows=200,
            auth_max_failures=1000,  # this gateway is about outcomes; lockouts have their own gateways below
            api_keys=_api_key_settings(),
            jwt_issuers=[
                {"issuer": HS_ISS, "algorithms": ["HS256"], "shared_secret": HS_SECRET, "audience": AUDIENCE},
                {"issuer": RS_ISS, "algorithms": ["RS256"], "public_key_file": base / "rs.pem"},
                {
                    "issuer": ES_ISS,
                    "algorithms": ["ES256"],
                    "jwks_file": base / "es.jwks.json",
                    "tenant_claim": ES_TENANT_CLAIM,
                },
                # plain http is allowed for a loopback jwks_url without allow_http_jwks_url
                {"issuer": URL_ISS, "algorithms": ["RS256"], "jwks_url": server.url},
            ],
        )
        cleanup.callback(running.gateway.shutdown)
        tokens = {}
        for tenant in ("acme", "globex"):
            client = fl.FlightClient(running.uri)
            _, value = client.authenticate_basic_token(tenant, PASSWORD)
            client.close()
            tokens[tenant] = value.decode().removeprefix("Bearer ")
        yield Suite(running, tokens)


def _foreign_gateway_token() -> str:
    """A well-formed token from another deployment: same default key id, another key."""
    signer = TokenSigner({"local": secrets.token_bytes(32)}, "local", 3600)
    return signer.issue(Principal(subject="acme", tenant_id="acme", method="basic"))


@dataclass(frozen=True)
class Case:
    name: str
    credential: Callable[[Suite], Credential]
    expect: str  # a tenant whose rows must come back, or the gRPC status of the refusal
    says: str  # for a refusal: what its message must say (the refusal is for the intended reason)


def _case(name: str, credential: Credential | Callable[[Suite], Credential], expect: str, says: str = "") -> Case:
    return Case(name, credential if callable(credential) else (lambda _s: credential), expect, says)


BAD_PASSWORD, BAD_KEY, BAD_JWT_SIG, BAD_TOKEN = (
    "invalid username or password",
    "API key is not valid",
    "JWT signature is invalid",
    "bearer token signature is invalid",
)


CASES = [
    # username / password
    _case("password-acme", Basic("acme", PASSWORD), "acme"),
    _case("password-globex", Basic("globex", PASSWORD), "globex"),
    _case("wrong-password", Basic("acme", "not the password"), UNAUTHENTICATED, BAD_PASSWORD),
    _case("unknown-user", Basic("mallory", PASSWORD), UNAUTHENTICATED, BAD_PASSWORD),
    _case("no-credentials", None, UNAUTHENTICATED, "no credentials"),
    # API keys, as a bearer token and as the Basic password
    _case("api-key-bearer-acme", Bearer(KEY_ACME), "acme"),
    _case("api-key-bearer-globex", Bearer(KEY_GLOBEX), "globex"),
    _case("api-key-as-password-acme", Basic("anyone", KEY_ACME), "acme"),
    _case("api-key-as-password-globex", Basic("globex", KEY_GLOBEX), "globex"),
    _case("api-key-expiring-later", Bearer(KEY_EXPIRING), "globex"),
    _case("api-key-disabled", Bearer(KEY_DISABLED), UNAUTHENTICATED, "API key is disabled"),
    _case("api-key-disabled-as-password", Basic("acme", KEY_DISABLED), UNAUTHENTICATED, "API key is disabled"),
    _case("api-key-expired", Bearer(KEY_EXPIRED), UNAUTHENTICATED, "API key has expired"),
    _case("api-key-expired-as-password", Basic("acme", KEY_EXPIRED), UNAUTHENTICATED, "API key has expired"),
    _case("api-key-unknown-id", Bearer(KEY_UNKNOWN), UNAUTHENTICATED, BAD_KEY),
    _case("api-key-tampered-secret", Bearer(flip_last_char(KEY_ACME)), UNAUTHENTICATED, BAD_KEY),
    _case("api-key-tampered-as-password", Basic("acme", flip_last_char(KEY_ACME)), UNAUTHENTICATED, BAD_KEY),
    # JWTs from the four issuers, mapped to tenants by their tenant claim
    *[_case(f"jwt-hs256-{t}", Bearer(hs(t)), t) for t in ("acme", "globex")],
    *[_case(f"jwt-rs256-pem-{t}", Bearer(rs(t)), t) for t in ("acme", "globex")],
    *[_case(f"jwt-es256-jwks-file-{t}", Bearer(es(t)), t) for t in ("acme", "globex")],
    *[_case(f"jwt-rs256-jwks-url-{t}", Bearer(from_url(t)), t) for t in ("acme", "globex")],
    _case(
        "jwt-expired",
        Bearer(hs("acme", exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)),
        UNAUTHENTICATED,
        "JWT has expired",
    ),
    _case("jwt-without-exp", Bearer(hs("acme", exp=None)), UNAUTHENTICATED, "no 'exp' claim"),
    _case("jwt-not-yet-valid", Bearer(hs("acme", nbf=int(time.time()) + 86_400)), UNAUTHENTICATED, "not valid yet"),
    _case("jwt-wrong-hmac-secret", Bearer(hs("acme", secret=secrets.token_hex(32))), UNAUTHENTICATED, BAD_JWT_SIG),
    _case(
        "jwt-wrong-rsa-key", Bearer(sign(claims(RS_ISS, "acme"), STRANGER_KEY, "RS256")), UNAUTHENTICATED, BAD_JWT_SIG
    ),
    _case(
        "jwt-unknown-issuer",
        Bearer(sign(claims("https://evil.test", "acme"), HS_SECRET, "HS256")),
        UNAUTHENTICATED,
        "issuer is not trusted",
    ),
    _case(
        "jwt-signed-by-another-trusted-issuer",
        Bearer(sign(claims(URL_ISS, "acme"), RS_KEY, "RS256", URL_KID)),
        UNAUTHENTICATED,
        BAD_JWT_SIG,
    ),
    _case("jwt-wrong-audience", Bearer(hs("acme", aud="someone-else")), UNAUTHENTICATED, "audience does not include"),
    _case("jwt-missing-audience", Bearer(hs("acme", aud=None)), UNAUTHENTICATED, "audience does not include"),
    _case(
        "jwt-alg-none",
        Bearer(handmade({"alg": "none", "typ": "JWT"}, claims(RS_ISS, "acme"), None)),
        UNAUTHENTICATED,
        "algorithm 'none' is not allowed",
    ),
    _case(
        "jwt-hs256-keyed-with-rs-public-pem",
        Bearer(handmade({"alg": "HS256", "typ": "JWT"}, claims(RS_ISS, "acme"), public_pem(RS_KEY))),
        UNAUTHENTICATED,
        "algorithm 'HS256' is not allowed",
    ),
    _case("jwt-missing-tenant-claim", Bearer(rs(None)), UNAUTHENTICATED, "no 'tenant_id' claim"),
    _case("jwt-unknown-tenant", Bearer(rs("initech")), PERMISSION_DENIED, "does not serve"),
    # gateway bearer tokens (from a Basic login)
    _case("gateway-token-acme", lambda s: Bearer(s.tokens["acme"]), "acme"),
    _case("gateway-token-globex", lambda s: Bearer(s.tokens["globex"]), "globex"),
    _case(
        "gateway-token-retargeted",
        lambda s: Bearer(retarget_gateway_token(s.tokens["acme"], "globex")),
        UNAUTHENTICATED,
        BAD_TOKEN,
    ),
    _case(
        "gateway-token-bad-signature", lambda s: Bearer(flip_last_char(s.tokens["acme"])), UNAUTHENTICATED, BAD_TOKEN
    ),
    _case("gateway-token-other-deployment", Bearer(_foreign_gateway_token()), UNAUTHENTICATED, BAD_TOKEN),
]


@pytest.mark.parametrize("client", sorted(CLIENTS))
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_credentials(suite: Suite, case: Case, client: str) -> None:
    outcome = CLIENTS[client](suite.uri, case.credential(suite))
    if case.expect in ("acme", "globex"):
        assert outcome == Outcome(OK, f"{case.expect} customer 1")
    else:
        assert outcome.status == case.expect, outcome.message
        assert case.says in outcome.message
        assert "Traceback" not in outcome.message


def test_ticket_of_one_tenant_is_refused_to_another_pyarrow(suite: Suite) -> None:
    client = fl.FlightClient(suite.uri)
    try:
        acme = flight_options(client, Bearer(suite.tokens["acme"]))
        globex = flight_options(client, Bearer(suite.tokens["globex"]))
        ticket = client.get_flight_info(statement(), acme).endpoints[0].ticket
        with pytest.raises(fl.FlightUnauthorizedError, match="another tenant"):
            client.do_get(ticket, globex).read_all()
        assert client.do_get(ticket, acme).read_all().column(0).to_pylist() == ["acme customer 1"]
    finally:
        client.close()


def test_ticket_of_one_tenant_is_refused_to_another_adbc(suite: Suite) -> None:
    with suite.running.connect("acme") as acme, suite.running.connect("globex") as globex:
        with acme.cursor() as cur:
            partitions, _ = cur.adbc_execute_partitions("select min(name) from customers")
        with globex.cursor() as cur, pytest.raises(flight_sql.Error) as info:
            cur.adbc_read_partition(partitions[0])
            cur.fetchall()
        assert adbc_outcome(info.value).status == PERMISSION_DENIED
        with acme.cursor() as cur:
            cur.adbc_read_partition(partitions[0])
            assert cur.fetchall() == [("acme customer 1",)]


def test_token_from_an_api_key_login_does_not_outlive_the_key(suite: Suite) -> None:
    """A Basic login with an API key as the password answers with a gateway token: it must expire with the key."""
    client = fl.FlightClient(suite.uri)
    try:
        _, value = client.authenticate_basic_token("anyone", KEY_EXPIRING)
    finally:
        client.close()
    token = value.decode().removeprefix("Bearer ")
    assert via_flight(suite.uri, Bearer(token)) == Outcome(OK, "globex customer 1")
    expires = json.loads(unb64url(token.split(".")[2]))["exp"]
    assert EXPIRING_RECORD.expires_at is not None
    assert expires <= EXPIRING_RECORD.expires_at.timestamp(), (
        f"the token lives {expires - EXPIRING_RECORD.expires_at.timestamp():.0f} s past the key's expires_at"
    )


# -- JWKS key rotation -------------------------------------------------------------------------


def test_jwks_url_key_rotation(tmp_path: Path) -> None:
    issuer, old_key, new_key = "https://rotating.idp.test", rsa_key(), rsa_key()
    with contextlib.ExitStack() as cleanup:
        server = JwksServer(jwks((old_key, "2025")))
        cleanup.callback(server.close)
        clock = ManualClock()  # the refresh interval passes when the test says
        running = start_gateway(
            tmp_path,
            clock=clock,
            demo_rows=100,
            jwt_issuers=[
                {"issuer": issuer, "algorithms": ["RS256"], "jwks_url": server.url, "jwks_min_refresh_seconds": 0.2}
            ],
        )
        cleanup.callback(running.gateway.shutdown)
        old = sign(claims(issuer, "acme"), old_key, "RS256", "2025")
        assert via_adbc(running.uri, Bearer(old)) == Outcome(OK, "acme customer 1")
        fetches = server.requests
        assert fetches == 1  # cached: the calls ADBC made all used one fetch

        server.body = jwks((new_key, "2026"))  # the identity provider rotates and withdraws the old key
        clock.advance(0.3)  # past jwks_min_refresh_seconds, so an unknown kid may trigger a refresh
        new = sign(claims(issuer, "globex"), new_key, "RS256", "2026")
        assert via_flight(running.uri, Bearer(new)) == Outcome(OK, "globex customer 1")
        assert server.requests == fetches + 1
        for client in CLIENTS.values():
            refused = client(running.uri, Bearer(old))
            assert refused.status == UNAUTHENTICATED, refused
            assert "signing key is not published" in refused.message


# -- failure lockouts --------------------------------------------------------------------------


def _locking_gateway(data_dir: Path) -> RunningGateway:
    # A clock that stands still: however slow the machine, the window and the lockout do not lapse mid-test.
    return start_gateway(
        data_dir, clock=ManualClock(), demo_rows=100, auth_max_failures=3, auth_failure_window_seconds=60,
        auth_lockout_seconds=30,
    )  # fmt: skip


def _assert_retry_hint(outcome: Outcome) -> None:
    assert outcome.status == UNAVAILABLE, outcome
    hint = re.search(r"retry in (\d+) s", outcome.message)
    assert hint is not None, outcome.message
    assert 1 <= int(hint.group(1)) <= 30


def test_failed_logins_lock_out_the_username_only(tmp_path: Path) -> None:
    running = _locking_gateway(tmp_path)
    try:
        for client in (via_adbc, via_flight, via_adbc):
            assert client(running.uri, Basic("acme", "guess")).status == UNAUTHENTICATED
        for client in CLIENTS.values():  # locked: even the right password is turned away, with a retry hint
            _assert_retry_hint(client(running.uri, Basic("acme", PASSWORD)))
        # Another username logs in at once, and its own failures are counted from zero.
        assert via_flight(running.uri, Basic("globex", "guess")).status == UNAUTHENTICATED
        assert via_adbc(running.uri, Basic("globex", PASSWORD)) == Outcome(OK, "globex customer 1")
        assert via_flight(running.uri, Basic("globex", PASSWORD)) == Outcome(OK, "globex customer 1")
    finally:
        running.gateway.shutdown()


def _lock_out_peer(client: fl.FlightClient) -> None:
    bad = fl.FlightCallOptions(headers=[(b"authorization", f"Bearer {KEY_UNKNOWN}".encode())], timeout=30)
    for _ in range(3):
        assert flight_query(client, bad).status == UNAUTHENTICATED
    _assert_retry_hint(flight_query(client, bad))


def test_bad_bearer_tokens_lock_out_the_peer(tmp_path: Path) -> None:
    running = _locking_gateway(tmp_path)
    client = fl.FlightClient(running.uri)
    try:
        good = flight_options(client, Basic("acme", PASSWORD))
        assert flight_query(client, good) == Outcome(OK, "acme customer 1")
        _lock_out_peer(client)
        # A locked-out peer is turned away whatever it presents.
        _assert_retry_hint(flight_query(client, good))
    finally:
        client.close()
        running.gateway.shutdown()


def test_reconnecting_does_not_escape_a_peer_lockout(tmp_path: Path) -> None:
    running = _locking_gateway(tmp_path)
    first, second = fl.FlightClient(running.uri), fl.FlightClient(running.uri)
    try:
        _lock_out_peer(first)
        # Same client address, new connection (a new source port): an attacker would simply reconnect.
        bad = fl.FlightCallOptions(headers=[(b"authorization", f"Bearer {KEY_UNKNOWN}".encode())], timeout=30)
        _assert_retry_hint(flight_query(second, bad))
    finally:
        first.close()
        second.close()
        running.gateway.shutdown()


# -- logs --------------------------------------------------------------------------------------

CLI_LOG_FORMAT = FORMAT  # what `flight-gateway serve` logs with


def _fragments(secret: str) -> list[str]:
    """The secret and its secret-bearing parts (a log line may carry a truncated or lower-cased copy)."""
    parts = [secret]
    if secret.startswith("fgk_"):
        parts.append(secret.split("_", 2)[2])
    elif secret.startswith("fgt1."):
        parts += secret.split(".")[2:]
    elif secret.count(".") == 2:  # a JWT: the header segment is not secret, claims and signature are
        parts += [p for p in secret.split(".")[1:] if len(p) >= 16]
    return parts


def test_secrets_never_reach_the_logs(suite: Suite, caplog: pytest.LogCaptureFixture) -> None:
    wrong_password = "Wr0ng-Pa55word-" + secrets.token_hex(8)
    tampered_token = retarget_gateway_token(suite.tokens["acme"], "globex")
    runs: list[tuple[Credential, str]] = [
        (Basic("acme", PASSWORD), OK),
        (Basic("acme", wrong_password), UNAUTHENTICATED),
        (Basic("key-user", KEY_ACME), OK),
        (Basic("key-user", KEY_DISABLED), UNAUTHENTICATED),
        (Bearer(KEY_GLOBEX), OK),
        (Bearer(flip_last_char(KEY_ACME)), UNAUTHENTICATED),
        (Bearer(KEY_DISABLED), UNAUTHENTICATED),
        (Bearer(hs("acme")), OK),
        (Bearer(rs("globex")), OK),
        (Bearer(es("acme")), OK),
        (Bearer(from_url("globex")), OK),
        (Bearer(hs("acme", secret=secrets.token_hex(32))), UNAUTHENTICATED),
        (Bearer(rs("acme", exp=int(time.time()) - 3600)), UNAUTHENTICATED),
        (Bearer(suite.tokens["acme"]), OK),
        (Bearer(tampered_token), UNAUTHENTICATED),
        # A token without its scheme: a common client mistake, refused, and still never logged.
        (RawHeader(rs("acme")), UNAUTHENTICATED),
        (RawHeader("Pl41n-" + secrets.token_hex(8)), UNAUTHENTICATED),  # a bare password
        (RawHeader(KEY_GLOBEX), UNAUTHENTICATED),
        (RawHeader(suite.tokens["globex"]), UNAUTHENTICATED),
    ]
    secrets_used: list[tuple[str, str]] = []  # (what it is, the secret)
    for credential, _ in runs:
        if isinstance(credential, Basic):
            secrets_used += [("password", credential.password), ("Basic value", credential.header.split(" ", 1)[1])]
        elif isinstance(credential, Bearer):
            secrets_used.append(("Bearer value", credential.token))
        elif isinstance(credential, RawHeader):
            secrets_used.append(("scheme-less authorization value", credential.header))

    caplog.set_level(logging.DEBUG)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(CLI_LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    installed = []
    for each in root.handlers:  # as `flight-gateway serve` does: the filter on every root handler
        installed.append((each, SecretRedactingFilter()))
        each.addFilter(installed[-1][1])
    try:
        for credential, expected in runs:
            for client in CLIENTS.values():
                assert client(suite.uri, credential).status == expected, credential
    finally:
        for each, redacting in installed:
            each.removeFilter(redacting)
        root.removeHandler(handler)

    texts = [stream.getvalue()]
    for record in caplog.records:
        texts.append(record.getMessage())
        texts += [str(value) for value in vars(record).values()]
    haystack = "\n".join(texts).lower()
    leaks = {
        f"{what} {fragment[:12]}…"
        for what, secret in secrets_used
        for fragment in _fragments(secret)
        if fragment.lower() in haystack
    }
    assert not leaks, f"credentials reached the logs (compared case-insensitively): {sorted(leaks)}"

    events = [r for r in caplog.records if hasattr(r, "outcome")]

    def logged(**fields: object) -> bool:
        return any(all(getattr(e, k, None) == v for k, v in fields.items()) for e in events)

    assert logged(outcome="success", method="basic", subject="acme", tenant="acme", levelno=logging.INFO)
    assert logged(outcome="success", method="api_key", key_id=ACME_RECORD.id, tenant="acme")
    assert logged(outcome="failure", method="basic", reason="bad_credentials", subject="acme", levelno=logging.WARNING)
    assert logged(outcome="failure", method="basic", reason="api_key_disabled")
    assert logged(outcome="failure", method="bearer", reason="api_key_unknown", key_id=ACME_RECORD.id)
    assert logged(outcome="failure", method="bearer", reason="api_key_disabled", key_id=DISABLED_RECORD.id)
    for reason in ("jwt_bad_signature", "jwt_expired", "token_bad_signature", "unsupported_scheme"):
        assert logged(outcome="failure", reason=reason), reason
    assert all(e.peer for e in events if e.outcome == "failure" and e.method == "bearer")


# -- the create-key CLI ------------------------------------------------------------------------


def test_create_key_cli_output_configures_a_working_key(tmp_path: Path) -> None:
    result = subprocess.run(  # our own CLI, fixed argv
        [sys.executable, "-m", "flight_gateway.cli", "auth", "create-key", "--tenant", "acme", "--subject", "ci-bot"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    found = re.search(r"fgk_[0-9a-z]{12}_[A-Za-z0-9_-]+", result.stderr)
    assert found is not None, result.stderr
    key = found.group(0)
    assert key not in result.stdout  # the config snippet holds only the hash
    [entry] = tomllib.loads(result.stdout)["api_keys"]
    assert (entry["tenant"], entry["subject"], entry["disabled"]) == ("acme", "ci-bot", False)

    running = start_gateway(tmp_path, demo_rows=100, api_keys=[entry])
    try:
        assert via_adbc(running.uri, Bearer(key)) == Outcome(OK, "acme customer 1")
        assert via_flight(running.uri, Basic("ci-bot", key)) == Outcome(OK, "acme customer 1")
        assert via_flight(running.uri, Bearer(flip_last_char(key))).status == UNAUTHENTICATED
    finally:
        running.gateway.shutdown()
