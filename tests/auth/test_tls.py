"""TLS: start-up validation of the PEM files, TLS and mTLS against a tiny Flight server, client-cert mapping."""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import adbc_driver_flightsql
import pyarrow.flight as fl
import pytest
from cryptography import x509
from tls_helpers import (
    MTLS_CERT_CHAIN,
    MTLS_PRIVATE_KEY,
    NOW,
    REACHED,
    TLS_ROOT_CERTS,
    Pki,
    adbc_error,
    forwarded_forms,
    issue,
    make_ca,
    make_pki,
    tiny_server,
    whoami,
    write_files,
)

from auth.client_certs import (
    CertField,
    CertificateMapping,
    CertificateRule,
    principal_from_certificate,
    principal_from_forwarded_certificate,
)
from auth.model import AuthError
from auth.tls import (
    TlsConfigError,
    TlsFiles,
    TlsMaterial,
    describe_certificate,
    load_tls,
    self_signed,
    server_tls_kwargs,
    tls_location,
)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


def test_valid_files_load_normalised(tmp_path: Path, pki: Pki) -> None:
    files = write_files(
        tmp_path, b"# server chain\n" + pki.server.cert_pem + pki.ca.cert_pem, pki.server.key_pem, pki.ca.cert_pem
    )
    material = load_tls(files)
    assert material.mutual
    certs = x509.load_pem_x509_certificates(material.cert_chain)
    assert [c.subject for c in certs] == [pki.server.cert.subject, pki.ca.cert.subject]
    assert material.cert_chain.startswith(b"-----BEGIN CERTIFICATE-----")  # the comment line is gone
    assert material.private_key.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert material.client_ca == pki.ca.cert_pem
    assert b"PRIVATE" not in repr(material).encode()


def test_without_client_ca_tls_is_one_way(tmp_path: Path, pki: Pki) -> None:
    material = load_tls(write_files(tmp_path, pki.server.cert_pem, pki.server.key_pem))
    assert not material.mutual
    assert server_tls_kwargs(material) == {
        "tls_certificates": [(material.cert_chain, material.private_key)],
        "verify_client": False,
        "root_certificates": None,
    }


# Each case: (files from the PKI, which file the error must name, words the message must contain).
BAD_FILES: dict[str, tuple[Callable[[Pki], tuple[bytes | None, bytes | None, bytes | None]], str, str]] = {
    "cert missing": (lambda p: (None, p.server.key_pem, None), "cert", "does not exist"),
    "key missing": (lambda p: (p.server.cert_pem, None, None), "key", "does not exist"),
    "cert empty": (lambda p: (b"\n", p.server.key_pem, None), "cert", "is empty"),
    "cert not PEM": (lambda p: (b"hello", p.server.key_pem, None), "cert", "has no certificate"),
    "cert is DER": (lambda p: (p.server.der, p.server.key_pem, None), "cert", "looks like DER"),
    "cert malformed": (
        lambda p: (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", p.server.key_pem, None),
        "cert",
        "is not valid PEM",
    ),
    "files swapped": (lambda p: (p.server.key_pem, p.server.cert_pem, None), "cert", "swapped"),
    "key not PEM": (lambda p: (p.server.cert_pem, b"hello", None), "key", "has no key"),
    "key encrypted": (lambda p: (p.server.cert_pem, p.server.encrypted_key_pem, None), "key", "is encrypted"),
    "key mismatch": (lambda p: (p.server.cert_pem, p.client.key_pem, None), "key", "does not match the certificate"),
    "leaf not first": (
        lambda p: (p.ca.cert_pem + p.server.cert_pem, p.server.key_pem, None),
        "cert",
        "must come first",
    ),
    "cert expired": (lambda p: (p.expired.cert_pem, p.expired.key_pem, None), "cert", "expired on"),
    "CA has no certificate": (
        lambda p: (p.server.cert_pem, p.server.key_pem, b"just text\n"),
        "ca",
        "has no certificate",
    ),
    "CA expired": (lambda p: (p.server.cert_pem, p.server.key_pem, p.expired.cert_pem), "ca", "expired on"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_is_named_with_its_problem(tmp_path: Path, pki: Pki, case: str) -> None:
    contents, culprit, problem = BAD_FILES[case]
    cert, key, ca = contents(pki)
    files = write_files(tmp_path, cert, key, ca)
    with pytest.raises(TlsConfigError) as info:
        load_tls(files)
    path = {"cert": files.cert_file, "key": files.key_file, "ca": tmp_path / "ca.pem"}[culprit]
    role = {"cert": "certificate file", "key": "private key file", "ca": "client CA file"}[culprit]
    assert info.value.path == path
    assert f"TLS {role} {path}: " in str(info.value)
    assert problem in str(info.value)


def test_not_yet_valid_certificate(tmp_path: Path, pki: Pki) -> None:
    files = write_files(tmp_path, pki.server.cert_pem, pki.server.key_pem)
    with pytest.raises(TlsConfigError, match="is not yet valid"):
        load_tls(files, now=NOW - dt.timedelta(days=2))


def test_directory_and_unreadable_files(tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    files = write_files(tmp_path, pki.server.cert_pem, pki.server.key_pem)
    with pytest.raises(TlsConfigError, match=re.escape(f"{tmp_path}: is not readable")):
        load_tls(TlsFiles(tmp_path, files.key_file))
    real_read = Path.read_bytes

    def read_bytes(path: Path) -> bytes:
        if path == files.key_file:  # chmod cannot stop root, who may be running the tests
            raise PermissionError(13, "Permission denied", str(path))
        return real_read(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(
        TlsConfigError, match=re.escape(f"private key file {files.key_file}: is not readable (Permission denied)")
    ):
        load_tls(files)


def test_ca_bundle_with_a_retired_root_still_loads(tmp_path: Path, pki: Pki) -> None:
    files = write_files(tmp_path, pki.server.cert_pem, pki.server.key_pem, pki.expired.cert_pem + pki.ca.cert_pem)
    assert load_tls(files).mutual


def test_self_signed_names_hosts_and_writes_only_the_certificate(tmp_path: Path) -> None:
    out = tmp_path / "trust-me.pem"
    before = dt.datetime.now(dt.UTC)
    material = self_signed(["localhost", "127.0.0.1", "gw.example"], days=2, cert_out=out)
    after = dt.datetime.now(dt.UTC)
    assert out.read_bytes() == material.cert_chain
    assert b"PRIVATE KEY" not in out.read_bytes()
    cert = x509.load_pem_x509_certificate(material.cert_chain)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "gw.example"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    # Certificates carry whole seconds: allow one either side of the call.
    second = dt.timedelta(seconds=1)
    assert before - second <= cert.not_valid_after_utc - dt.timedelta(days=2) <= after + second
    assert "san=localhost,127.0.0.1,gw.example" in describe_certificate(material.cert_chain)
    # What self_signed produces passes the same start-up validation as operator-supplied files.
    assert load_tls(write_files(tmp_path, material.cert_chain, material.private_key)) == material


def test_self_signed_serves_pyarrow_and_adbc_clients() -> None:
    material = self_signed()
    with tiny_server(**server_tls_kwargs(material)) as port:
        assert whoami(port, tls_root_certs=material.cert_chain) == b""
        assert REACHED in adbc_error(port, material.cert_chain.decode())


def test_tls_location() -> None:
    assert tls_location("0.0.0.0", 8815) == "grpc+tls://0.0.0.0:8815"  # noqa: S104
    assert tls_location("::1", 8815) == "grpc+tls://[::1]:8815"


@pytest.fixture(scope="module")
def server_material(pki: Pki) -> TlsMaterial:
    return TlsMaterial(pki.server.cert_pem, pki.server.key_pem)


@pytest.fixture(scope="module")
def mtls_material(pki: Pki) -> TlsMaterial:
    return TlsMaterial(pki.server.cert_pem, pki.server.key_pem, pki.ca.cert_pem)


def test_tls_client_must_trust_the_ca(pki: Pki, server_material: TlsMaterial) -> None:
    with tiny_server(**server_tls_kwargs(server_material)) as port:
        assert whoami(port, tls_root_certs=pki.ca.cert_pem) == b""
        with pytest.raises(fl.FlightUnavailableError, match="(?i)handshake"):
            whoami(port)  # the system trust store knows nothing of the test CA


def test_mtls_accepts_only_clients_signed_by_the_client_ca(pki: Pki, mtls_material: TlsMaterial) -> None:
    assert server_tls_kwargs(mtls_material)["verify_client"] is True
    with tiny_server(**server_tls_kwargs(mtls_material)) as port:
        trusted = {"tls_root_certs": pki.ca.cert_pem}
        assert whoami(port, cert_chain=pki.client.cert_pem, private_key=pki.client.key_pem, **trusted) != b""
        with pytest.raises(fl.FlightUnavailableError):
            whoami(port, **trusted)
        rogue = pki.untrusted_client
        with pytest.raises(fl.FlightUnavailableError):
            whoami(port, cert_chain=rogue.cert_pem, private_key=rogue.key_pem, **trusted)


class _HeaderRecorder(fl.ServerMiddlewareFactory):  # type: ignore[misc]
    def __init__(self) -> None:
        self.seen: list[dict[str, list[Any]]] = []

    def start_call(self, info: Any, headers: dict[str, list[Any]]) -> None:
        self.seen.append(headers)


class _TokenHandler(fl.ServerAuthHandler):  # type: ignore[misc]
    def authenticate(self, outgoing: Any, incoming: Any) -> None:
        return None

    def is_valid(self, token: bytes) -> str:
        return "from-is-valid"


def test_what_pyarrow_tells_the_server_about_a_client_certificate(pki: Pki, mtls_material: TlsMaterial) -> None:
    """Evidence for the module's verdict: no certificate, only gRPC's one-string identity, and only sometimes."""
    client = {"tls_root_certs": pki.ca.cert_pem, "cert_chain": pki.client.cert_pem, "private_key": pki.client.key_pem}
    recorder = _HeaderRecorder()
    with tiny_server(middleware={"rec": recorder}, **server_tls_kwargs(mtls_material)) as port:
        # Without an auth handler, peer_identity() is gRPC's TLS identity: the first SAN only, whatever its type.
        assert whoami(port, **client) == b"spiffe://acme.example/etl"
    # Middleware sees only what the client sent: no certificate, subject or SAN is injected as a header.
    assert recorder.seen
    for headers in recorder.seen:
        assert not [name for name in headers if "cert" in name or "ssl" in name or "tls" in name], headers
        assert "etl" not in repr(headers)
    with tiny_server(auth_handler=_TokenHandler(), **server_tls_kwargs(mtls_material)) as port:
        # With an auth handler (the gateway has one), is_valid()'s answer replaces the TLS identity.
        assert whoami(port, **client) == b"from-is-valid"


def test_adbc_tls_option_names() -> None:
    options = adbc_driver_flightsql.DatabaseOptions
    assert options.TLS_ROOT_CERTS.value == TLS_ROOT_CERTS
    assert options.MTLS_CERT_CHAIN.value == MTLS_CERT_CHAIN
    assert options.MTLS_PRIVATE_KEY.value == MTLS_PRIVATE_KEY


def test_adbc_tls_and_mtls(pki: Pki, server_material: TlsMaterial, mtls_material: TlsMaterial) -> None:
    ca = pki.ca.cert_pem.decode()
    with tiny_server(**server_tls_kwargs(server_material)) as port:
        assert REACHED in adbc_error(port, ca)
        assert REACHED not in adbc_error(port, None)
    with tiny_server(**server_tls_kwargs(mtls_material)) as port:
        assert REACHED in adbc_error(port, ca, pki.client)
        assert REACHED not in adbc_error(port, ca)
        assert REACHED not in adbc_error(port, ca, pki.untrusted_client)


RULES = CertificateMapping(
    (
        CertificateRule(CertField.URI, "spiffe://acme.example/*", "acme"),
        CertificateRule(CertField.DNS, "*.globex.example", "globex", subject="svc:{value}", roles=("reader",)),
        CertificateRule(CertField.EMAIL, "*@initech.example", "initech"),
        CertificateRule(CertField.CN, "legacy-batch", "acme", subject="batch"),
    )
)


_MAPPING_CA = make_ca("Mapping CA")


def _cert(cn: str, *sans: str) -> x509.Certificate:
    return issue(_MAPPING_CA, cn, sans, client=True).cert


def test_rules_match_each_field() -> None:
    acme = principal_from_certificate(_cert("x", "dns:x.other", "uri:spiffe://acme.example/etl"), RULES)
    assert (acme.subject, acme.tenant_id, acme.method) == ("spiffe://acme.example/etl", "acme", "mtls")
    globex = principal_from_certificate(_cert("y", "dns:API.Globex.Example"), RULES)
    assert (globex.subject, globex.tenant_id, globex.roles) == ("svc:API.Globex.Example", "globex", ("reader",))
    initech = principal_from_certificate(_cert("z", "email:Bob@INITECH.example"), RULES)
    assert (initech.subject, initech.tenant_id) == ("Bob@INITECH.example", "initech")
    batch = principal_from_certificate(_cert("legacy-batch"), RULES)  # no SAN extension at all
    assert (batch.subject, batch.tenant_id) == ("batch", "acme")


def test_first_rule_wins() -> None:
    both = _cert("legacy-batch", "dns:a.globex.example")
    assert principal_from_certificate(both, RULES).tenant_id == "globex"


def test_patterns_are_literal_except_star() -> None:
    assert not CertificateRule(CertField.CN, "a.b", "t").matches("axb")
    assert not CertificateRule(CertField.CN, "a", "t").matches("ab")
    assert not CertificateRule(CertField.URI, "spiffe://acme.example/*", "t").matches("SPIFFE://ACME.EXAMPLE/x")
    assert CertificateRule(CertField.CN, "*", "t").matches("anything")
    with pytest.raises(ValueError, match="tenant"):
        CertificateRule(CertField.CN, "x", "")


def test_unmapped_certificate_is_unauthenticated() -> None:
    with pytest.raises(AuthError) as info:
        principal_from_certificate(_cert("stranger", "dns:stranger.example"), RULES)
    assert info.value.reason == "client_cert_unmapped"
    assert "CN=stranger" in info.value.message


def test_forwarded_certificate_in_every_proxy_form(pki: Pki) -> None:
    mapping = CertificateMapping(RULES.rules, issuers=(pki.ca.cert,))
    assert base64.b64decode(b"".join(pki.client.cert_pem.split(b"\n")[1:-2])) == pki.client.der
    for form in forwarded_forms(pki.client.cert_pem):
        principal = principal_from_forwarded_certificate(form, mapping)
        assert (principal.subject, principal.tenant_id) == ("spiffe://acme.example/etl", "acme")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "client_cert_malformed"),
        ("not a certificate", "client_cert_malformed"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "client_cert_malformed"),
        ("expired", "client_cert_expired"),
        ("rogue", "client_cert_untrusted"),
    ],
)
def test_forwarded_certificate_refusals(pki: Pki, value: str, reason: str) -> None:
    mapping = CertificateMapping(RULES.rules, issuers=(pki.ca.cert,))
    pem = {"expired": pki.expired.cert_pem, "rogue": pki.untrusted_client.cert_pem}.get(value)
    with pytest.raises(AuthError) as info:
        principal_from_forwarded_certificate(pem or value, mapping)
    assert info.value.reason == reason


def test_forwarded_certificate_without_issuers_only_maps(pki: Pki) -> None:
    principal = principal_from_forwarded_certificate(pki.untrusted_client.cert_pem, RULES)
    assert principal.tenant_id == "acme"
