"""Client certificate -> principal mapping.

pyarrow never hands the verified client certificate to Python (see `principal_from_forwarded_certificate`), so
certificate -> principal mapping works on certificates a TLS-terminating proxy forwards in a header.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import re
import urllib.parse
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509.oid import NameOID

from auth.model import Principal, unauthenticated
from auth.tls import BEGIN_CERT, END_CERT, alt_names, validity_problem, who


class CertField(enum.StrEnum):
    CN = "cn"
    DNS = "dns"
    URI = "uri"
    EMAIL = "email"


@dataclass(frozen=True)
class CertificateRule:
    """`pattern` is literal except `*`, which matches any run of characters (dots included)."""

    field: CertField
    pattern: str
    tenant_id: str
    subject: str = "{value}"  # "{value}" becomes the matched name
    roles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.pattern or not self.tenant_id:
            raise ValueError("a certificate rule needs a pattern and a tenant")

    def matches(self, value: str) -> bool:
        regex = ".*".join(re.escape(part) for part in self.pattern.split("*"))
        # DNS names and mail domains are case-insensitive; CNs and URIs are compared exactly.
        flags = re.IGNORECASE if self.field in (CertField.DNS, CertField.EMAIL) else 0
        return re.fullmatch(regex, value, flags) is not None


@dataclass(frozen=True)
class CertificateMapping:
    """Ordered rules, first match wins. `issuers` (if any) must have signed forwarded certificates directly."""

    rules: tuple[CertificateRule, ...]
    issuers: tuple[x509.Certificate, ...] = ()

    def principal_for(self, cert: x509.Certificate) -> Principal | None:
        names = certificate_names(cert)
        for rule in self.rules:
            for value in names[rule.field]:
                if rule.matches(value):
                    return Principal(rule.subject.replace("{value}", value), rule.tenant_id, "mtls", rule.roles)
        return None


def certificate_names(cert: x509.Certificate) -> dict[CertField, list[str]]:
    san = alt_names(cert)
    cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return {
        CertField.CN: [v if isinstance(v, str) else v.decode("utf-8", "replace") for v in cns],
        CertField.DNS: san.get_values_for_type(x509.DNSName),
        CertField.URI: san.get_values_for_type(x509.UniformResourceIdentifier),
        CertField.EMAIL: san.get_values_for_type(x509.RFC822Name),
    }


def principal_from_certificate(cert: x509.Certificate, mapping: CertificateMapping) -> Principal:
    principal = mapping.principal_for(cert)
    if principal is None:
        raise unauthenticated("client_cert_unmapped", f"client certificate {who(cert)} matches no mapping rule")
    return principal


def decode_forwarded_certificate(value: str | bytes) -> x509.Certificate:
    """PEM as proxies forward it: plain, URL-encoded (nginx, AWS ALB), newlines as spaces, or bare base64 DER."""
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    text = urllib.parse.unquote(text.strip().strip('"'))
    if BEGIN_CERT in text:
        text = text.split(BEGIN_CERT, 1)[1].split(END_CERT, 1)[0]
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode("".join(text.split()), validate=True))
        _ = cert.extensions  # parsed lazily: surface a malformed extension here, not in the mapping
        return cert
    except (ValueError, binascii.Error):
        raise unauthenticated("client_cert_malformed", "the forwarded client certificate is malformed") from None


def principal_from_forwarded_certificate(
    value: str | bytes, mapping: CertificateMapping, *, now: dt.datetime | None = None
) -> Principal:
    """Map a certificate forwarded by a TLS-terminating proxy (e.g. in `x-client-cert`) to a principal.

    A certificate is public, so the header proves nothing by itself: trust it only when every connection comes
    through a proxy that verified the client and overwrites the header (gateway unreachable otherwise).

    Direct mTLS identity is out of reach in pyarrow 26: middleware `start_call` gets only the call's headers,
    and `ServerCallContext.peer_identity()` is what `ServerAuthHandler.is_valid` returned; only a server without
    an auth handler sees gRPC's TLS identity there, and then only one string (first SAN, else CN).
    """
    cert = decode_forwarded_certificate(value)
    now = now or dt.datetime.now(dt.UTC)
    if validity_problem(cert, now):
        raise unauthenticated("client_cert_expired", f"client certificate {who(cert)} is outside its validity")
    if mapping.issuers and not any(_issued_by(cert, ca) for ca in mapping.issuers):
        raise unauthenticated("client_cert_untrusted", f"client certificate {who(cert)} has an untrusted issuer")
    return principal_from_certificate(cert, mapping)


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True
