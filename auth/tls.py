"""TLS for the Flight server: start-up validation of PEM files and throwaway certificates (client certificate ->
principal mapping is `client_certs.py`'s)."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes, PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

BEGIN_CERT = "-----BEGIN CERTIFICATE-----"
END_CERT = "-----END CERTIFICATE-----"
_CERT, _KEY, _CA = "certificate file", "private key file", "client CA file"


class TlsConfigError(ValueError):
    """A TLS file is unusable; the message names the file, its role and the problem, so start-up fails legibly."""

    def __init__(self, role: str, path: Path, problem: str) -> None:
        super().__init__(f"TLS {role} {path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class TlsFiles:
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None


@dataclass(frozen=True)
class TlsMaterial:
    """Validated, normalised PEM: the leaf certificate first, an unencrypted PKCS#8 key, the client CA bundle."""

    cert_chain: bytes
    private_key: bytes = field(repr=False)  # keeps the key out of logs and tracebacks
    client_ca: bytes | None = None

    @property
    def mutual(self) -> bool:
        return self.client_ca is not None


_PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


class ServerTlsKwargs(TypedDict):
    tls_certificates: list[tuple[bytes, bytes]]
    verify_client: bool
    root_certificates: bytes | None


def load_tls(files: TlsFiles, *, now: dt.datetime | None = None) -> TlsMaterial:
    """Read and cross-check the files now, because gRPC only reports bad TLS material per failed handshake."""
    now = now or dt.datetime.now(dt.UTC)
    chain = _certificates(_CERT, files.cert_file)
    key = _private_key(files.key_file)
    key_id = _spki(key.public_key())
    if _spki(chain[0].public_key()) != key_id:
        if any(_spki(cert.public_key()) == key_id for cert in chain[1:]):
            raise TlsConfigError(_CERT, files.cert_file, "the certificate matching the private key must come first")
        mismatch = f"does not match the certificate {who(chain[0])} in {files.cert_file}"
        raise TlsConfigError(_KEY, files.key_file, mismatch)
    for cert in chain:
        if problem := validity_problem(cert, now):
            raise TlsConfigError(_CERT, files.cert_file, problem)
    client_ca = None
    if files.client_ca_file is not None:
        cas = _certificates(_CA, files.client_ca_file)
        problems = [p for p in (validity_problem(ca, now) for ca in cas) if p]
        # A bundle may carry retired roots next to live ones; only a bundle that can verify nobody is fatal.
        if len(problems) == len(cas):
            raise TlsConfigError(_CA, files.client_ca_file, problems[0])
        client_ca = _pem(cas)
    return TlsMaterial(_pem(chain), _key_pem(key), client_ca)


def _read(role: str, path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TlsConfigError(role, path, "does not exist") from None
    except OSError as exc:  # a directory, permission denied, an I/O error...
        raise TlsConfigError(role, path, f"is not readable ({exc.strerror or exc})") from None
    if not data.strip():
        raise TlsConfigError(role, path, "is empty")
    return data


def _certificates(role: str, path: Path) -> list[x509.Certificate]:
    data = _read(role, path)
    if BEGIN_CERT.encode() not in data:
        hint = ""
        if b"PRIVATE KEY-----" in data:
            hint = " (it holds a private key: are the certificate and key files swapped?)"
        elif data[:1] == b"\x30":
            hint = " (it looks like DER: convert it with `openssl x509 -inform der -in FILE -out FILE.pem`)"
        raise TlsConfigError(role, path, f"has no certificate: not PEM, no '{BEGIN_CERT}' block{hint}")
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise TlsConfigError(role, path, f"is not valid PEM: malformed certificate ({exc})") from None


def _private_key(path: Path) -> _PrivateKey:
    data = _read(_KEY, path)
    if b"PRIVATE KEY-----" not in data:
        swapped = BEGIN_CERT.encode() in data
        hint = " (it holds a certificate: are the certificate and key files swapped?)" if swapped else ""
        raise TlsConfigError(_KEY, path, f"has no key: not PEM, no '-----BEGIN ... PRIVATE KEY-----' block{hint}")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:  # cryptography's signal for "this key needs a password"
        raise TlsConfigError(_KEY, path, "is encrypted; the server needs an unencrypted key") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise TlsConfigError(_KEY, path, f"is not valid PEM: malformed or unsupported key ({exc})") from None
    if not isinstance(key, _PrivateKey):
        raise TlsConfigError(_KEY, path, f"holds an unsupported {type(key).__name__} (use RSA, ECDSA or Ed25519)")
    return key


def validity_problem(cert: x509.Certificate, now: dt.datetime) -> str | None:
    if now < cert.not_valid_before_utc:
        return f"certificate {who(cert)} is not yet valid (valid from {cert.not_valid_before_utc.isoformat()})"
    if now > cert.not_valid_after_utc:
        return f"certificate {who(cert)} expired on {cert.not_valid_after_utc.isoformat()}"
    return None


def _spki(key: CertificatePublicKeyTypes | PublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def who(cert: x509.Certificate) -> str:
    return repr(cert.subject.rfc4514_string())


def _pem(certs: Sequence[x509.Certificate]) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs)


def _key_pem(key: _PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def self_signed(
    hostnames: Sequence[str] = ("localhost", "127.0.0.1"), days: int = 7, *, cert_out: Path | None = None
) -> TlsMaterial:
    """A throwaway certificate for local trials; clients trust `cert_chain` (also written to `cert_out`)."""
    if not hostnames:
        raise ValueError("self_signed needs at least one hostname or IP address")
    key = ec.generate_private_key(ec.SECP256R1())
    names = [_general_name(host) for host in hostnames]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "flight-gateway self-signed")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # tolerate a client clock slightly behind ours
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    if cert_out is not None:
        cert_out.write_bytes(cert_pem)  # the certificate only: the key never leaves this process
    return TlsMaterial(cert_pem, _key_pem(key))


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def server_tls_kwargs(material: TlsMaterial) -> ServerTlsKwargs:
    """Keyword arguments for pyarrow.flight.FlightServerBase; a client CA turns on mandatory client certificates."""
    return {
        "tls_certificates": [(material.cert_chain, material.private_key)],
        "verify_client": material.mutual,
        "root_certificates": material.client_ca,
    }


def tls_location(host: str, port: int) -> str:
    """The grpc+tls:// URI pyarrow must listen on once TLS is on (grpc:// would serve plaintext)."""
    return f"grpc+tls://[{host}]:{port}" if ":" in host else f"grpc+tls://{host}:{port}"


def describe_certificate(pem: bytes) -> str:
    """One line for start-up logs: who the first certificate names, until when, and its SHA-256 fingerprint."""
    cert = x509.load_pem_x509_certificates(pem)[0]
    sans = [str(name.value) for name in alt_names(cert)]
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return (
        f"subject={cert.subject.rfc4514_string()} san={','.join(sans) or '-'} "
        f"expires={cert.not_valid_after_utc.isoformat()} sha256={digest}"
    )


def alt_names(cert: x509.Certificate) -> x509.SubjectAlternativeName:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return x509.SubjectAlternativeName([])
