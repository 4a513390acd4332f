"""A throwaway PKI for the TLS tests: a CA, certificates it signs, and a tiny plain Flight server."""

from __future__ import annotations

import datetime as dt
import ipaddress
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as fl
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from auth.tls import TlsFiles

NOW = dt.datetime.now(dt.UTC)
REACHED = "tiny-server-reached"
OPTIONS = fl.FlightCallOptions(timeout=10)
# The ADBC Flight SQL driver's TLS options (adbc_driver_flightsql.DatabaseOptions); values are PEM text.
TLS_ROOT_CERTS = "adbc.flight.sql.client_option.tls_root_certs"
MTLS_CERT_CHAIN = "adbc.flight.sql.client_option.mtls_cert_chain"
MTLS_PRIVATE_KEY = "adbc.flight.sql.client_option.mtls_private_key"


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def encrypted_key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
        )

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _san(names: Sequence[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in names:
        kind, _, value = name.partition(":")
        if kind == "dns":
            out.append(x509.DNSName(value))
        elif kind == "ip":
            out.append(x509.IPAddress(ipaddress.ip_address(value)))
        elif kind == "uri":
            out.append(x509.UniformResourceIdentifier(value))
        elif kind == "email":
            out.append(x509.RFC822Name(value))
        else:
            raise ValueError(name)
    return out


def make_ca(cn: str = "Test CA") -> Issued:
    # P-256 keys: generating RSA keys would dominate the test run time.
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def issue(
    ca: Issued,
    cn: str,
    sans: Sequence[str] = (),
    *,
    client: bool = False,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> Issued:
    """A leaf certificate signed by `ca`; `sans` look like "dns:x", "ip:1.2.3.4", "uri:...", "email:..."."""
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - dt.timedelta(hours=1))
        .not_valid_after(not_after or NOW + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(_san(sans)), critical=False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


class TinyServer(fl.FlightServerBase):  # type: ignore[misc]
    """Not the gateway: one action that echoes what the transport tells the server about the caller."""

    def do_action(self, context: fl.ServerCallContext, action: fl.Action) -> Iterator[bytes]:
        if action.type == "whoami":
            yield bytes(context.peer_identity())
            return
        # ADBC's first RPC (CreatePreparedStatement) lands here: the marker proves the TLS session was accepted.
        raise fl.FlightServerError(f"{REACHED}: unknown action {action.type}")

    def get_flight_info(self, context: fl.ServerCallContext, descriptor: fl.FlightDescriptor) -> fl.FlightInfo:
        raise fl.FlightServerError(REACHED)

    def do_get(self, context: fl.ServerCallContext, ticket: fl.Ticket) -> fl.RecordBatchStream:
        return fl.RecordBatchStream(pa.table({"x": [1]}))


@contextmanager
def tiny_server(**kwargs: Any) -> Iterator[int]:
    """Serves on a free loopback port over grpc+tls; yields the port."""
    server = TinyServer("grpc+tls://127.0.0.1:0", **kwargs)
    try:
        yield int(server.port)
    finally:
        server.shutdown()


@dataclass(frozen=True)
class Pki:
    ca: Issued
    server: Issued  # localhost / 127.0.0.1
    client: Issued
    untrusted_client: Issued  # same names as `client`, signed by a CA the server does not know
    expired: Issued


def make_pki() -> Pki:
    ca = make_ca()
    client_sans = ["uri:spiffe://acme.example/etl", "dns:etl.acme.example", "email:etl@acme.example"]
    return Pki(
        ca=ca,
        server=issue(ca, "localhost", ["dns:localhost", "ip:127.0.0.1"]),
        client=issue(ca, "etl-client", client_sans, client=True),
        untrusted_client=issue(make_ca("Rogue CA"), "etl-client", client_sans, client=True),
        expired=issue(
            ca, "old", ["dns:localhost"], not_before=NOW - dt.timedelta(days=9), not_after=NOW - dt.timedelta(days=1)
        ),
    )


def write_files(tmp_path: Path, cert: bytes | None, key: bytes | None, ca: bytes | None = None) -> TlsFiles:
    """Writes the given contents; None leaves that file missing (the CA file is then not configured)."""
    paths = {name: tmp_path / f"{name}.pem" for name in ("cert", "key", "ca")}
    for name, data in (("cert", cert), ("key", key), ("ca", ca)):
        if data is not None:
            paths[name].write_bytes(data)
    return TlsFiles(paths["cert"], paths["key"], paths["ca"] if ca is not None else None)


def whoami(port: int, **client_kwargs: Any) -> bytes:
    """The tiny server's view of the caller, through a pyarrow client built with `client_kwargs`."""
    client = fl.FlightClient(f"grpc+tls://127.0.0.1:{port}", **client_kwargs)
    try:
        body: bytes = list(client.do_action(fl.Action("whoami", b""), OPTIONS))[0].body.to_pybytes()
        return body
    finally:
        client.close()


def adbc_error(port: int, root_certs: str | None, client: Issued | None = None) -> str:
    """The error of ADBC's first RPC: the tiny server is no Flight SQL server, so success is its own error."""
    db_kwargs = {TLS_ROOT_CERTS: root_certs} if root_certs else {}
    if client is not None:
        db_kwargs |= {MTLS_CERT_CHAIN: client.cert_pem.decode(), MTLS_PRIVATE_KEY: client.key_pem.decode()}
    try:
        # Connecting is lazy: the query makes the first RPC, and with it the TLS handshake.
        with flight_sql.connect(f"grpc+tls://127.0.0.1:{port}", db_kwargs=db_kwargs, autocommit=True) as conn:
            with conn.cursor() as cursor:
                cursor.execute("select 1")
    except flight_sql.Error as exc:
        return str(exc)
    raise AssertionError("the tiny server cannot answer a query")


def forwarded_forms(pem: bytes) -> list[str | bytes]:
    """The shapes in which TLS-terminating proxies forward a client certificate in a header."""
    body = b"".join(pem.split(b"\n")[1:-2]).decode()
    return [
        pem,
        pem.decode(),
        urllib.parse.quote(pem.decode()),  # nginx $ssl_client_escaped_cert, AWS ALB
        pem.decode().replace("\n", " "),  # proxies that fold newlines into spaces
        urllib.parse.quote(body),  # Traefik: base64 DER without the PEM armour
        f'"{pem.decode()}"',
    ]
