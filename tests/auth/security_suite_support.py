"""Support for test_security_suite: credentials, token minting, a real JWKS server, and two real clients.

Both clients run the same query and report the same thing: the query's answer, or the gRPC status the
gateway refused with (ADBC reports it by its own status code plus the gRPC code name in the message,
pyarrow.flight by exception class).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import jwt
import pyarrow.flight as fl
from adbc_driver_flightsql import DatabaseOptions
from adbc_driver_manager import AdbcStatusCode
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from flight_gateway.protocol import flightsql_pb2 as pb
from flight_gateway.protocol.commands import pack

QUERY = "select min(name) from customers"  # demo rows name their tenant: "acme customer 1"
AUTHORIZATION_HEADER = DatabaseOptions.AUTHORIZATION_HEADER.value
OK = "OK"

# -- credentials -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Basic:
    username: str
    password: str

    @property
    def header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


@dataclass(frozen=True)
class Bearer:
    token: str

    @property
    def header(self) -> str:
        return f"Bearer {self.token}"


@dataclass(frozen=True)
class RawHeader:
    """An `authorization` value sent verbatim, e.g. a token without its `Bearer ` scheme (a common client mistake)."""

    header: str


Credential = Basic | Bearer | RawHeader | None


@dataclass(frozen=True)
class Outcome:
    status: str  # OK, or the gRPC status name of the refusal
    value: object = None  # the query's answer on success
    message: str = ""


# -- clients -----------------------------------------------------------------------------------

_GRPC_NAMES = {
    "Unauthenticated": "UNAUTHENTICATED",
    "PermissionDenied": "PERMISSION_DENIED",
    "Unavailable": "UNAVAILABLE",
}
_ADBC_STATUS = {
    "UNAUTHENTICATED": AdbcStatusCode.UNAUTHENTICATED,
    "PERMISSION_DENIED": AdbcStatusCode.UNAUTHORIZED,
    "UNAVAILABLE": AdbcStatusCode.IO,
}
_FLIGHT_ERRORS: list[tuple[type[Exception], str]] = [
    (fl.FlightUnauthenticatedError, "UNAUTHENTICATED"),
    (fl.FlightUnauthorizedError, "PERMISSION_DENIED"),
    (fl.FlightUnavailableError, "UNAVAILABLE"),
]


def adbc_outcome(exc: flight_sql.Error) -> Outcome:
    """The gRPC status behind an ADBC error: the Go driver appends `(<grpc code>; <rpc>)` to the message."""
    message = str(exc)
    found = re.search(r"\((\w+); ", message)
    status = _GRPC_NAMES.get(found.group(1), found.group(1)) if found else f"unparsed ADBC error {message!r}"
    expected_adbc_status = _ADBC_STATUS.get(status)
    assert expected_adbc_status is None or exc.status_code == expected_adbc_status, message
    return Outcome(status, message=message)


def adbc_kwargs(credential: Credential) -> dict[str, str]:
    if isinstance(credential, Basic):
        return {"username": credential.username, "password": credential.password}
    if isinstance(credential, Bearer | RawHeader):
        return {AUTHORIZATION_HEADER: credential.header}
    return {}


def via_adbc(uri: str, credential: Credential, query: str = QUERY) -> Outcome:
    """ADBC DB-API: Basic logs in with username/password (Handshake), Bearer goes in authorization_header."""
    try:
        with flight_sql.connect(uri, db_kwargs=adbc_kwargs(credential), autocommit=True) as conn:
            with conn.cursor() as cur:
                cur.execute(query)
                row = cur.fetchone()
    except flight_sql.Error as exc:
        return adbc_outcome(exc)
    assert row is not None
    return Outcome(OK, row[0])


def flight_outcome(exc: fl.FlightError) -> Outcome:
    for cls, status in _FLIGHT_ERRORS:
        if isinstance(exc, cls):
            return Outcome(status, message=str(exc))
    raise exc


def flight_options(client: fl.FlightClient, credential: Credential) -> fl.FlightCallOptions:
    if isinstance(credential, Basic):
        header = client.authenticate_basic_token(credential.username, credential.password)
        return fl.FlightCallOptions(headers=[header], timeout=30)
    if isinstance(credential, Bearer | RawHeader):
        return fl.FlightCallOptions(headers=[(b"authorization", credential.header.encode())], timeout=30)
    return fl.FlightCallOptions(timeout=30)


def statement(query: str = QUERY) -> fl.FlightDescriptor:
    return fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=query)))


def flight_query(client: fl.FlightClient, options: fl.FlightCallOptions, query: str = QUERY) -> Outcome:
    try:
        info = client.get_flight_info(statement(query), options)
        table = client.do_get(info.endpoints[0].ticket, options).read_all()
    except fl.FlightError as exc:
        return flight_outcome(exc)
    return Outcome(OK, table.column(0)[0].as_py())


def via_flight(uri: str, credential: Credential, query: str = QUERY) -> Outcome:
    """pyarrow.flight: Basic via authenticate_basic_token, Bearer as a FlightCallOptions header."""
    client = fl.FlightClient(uri)
    try:
        try:
            options = flight_options(client, credential)
        except fl.FlightError as exc:
            return flight_outcome(exc)
        return flight_query(client, options, query)
    finally:
        client.close()


CLIENTS = {"adbc": via_adbc, "flight": via_flight}

# -- JWT ---------------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims(issuer: str, tenant: str | None, *, tenant_claim: str = "tenant_id", **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    # Valid for a day: cases are minted when the module is collected, maybe long before they run.
    body: dict[str, Any] = {"iss": issuer, "sub": f"user-of-{tenant}", "iat": now, "exp": now + 86_400}
    if tenant is not None:
        body[tenant_claim] = tenant
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def sign(body: Mapping[str, Any], key: Any, alg: str, kid: str | None = None) -> str:
    return jwt.encode(dict(body), key, algorithm=alg, headers={"kid": kid} if kid else None)


def handmade(header: Mapping[str, Any], body: Mapping[str, Any], hmac_key: bytes | None) -> str:
    """A compact JWS built by hand: `hmac_key` None leaves the signature empty (`alg: none`)."""
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(body).encode())
    signature = b"" if hmac_key is None else hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def jwks(*keys: tuple[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, str]) -> bytes:
    """A JWKS document publishing the public halves of `keys` under their kids."""
    entries = []
    for key, kid in keys:
        algorithm = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
        entry = algorithm.to_jwk(key.public_key(), as_dict=True)
        entries.append(entry | {"kid": kid, "use": "sig"})
    return json.dumps({"keys": entries}).encode()


class JwksServer:
    """A real HTTP server on 127.0.0.1:0 serving whatever `body` currently is; counts the fetches."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.requests = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                body = owner.body
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


# -- tampering ---------------------------------------------------------------------------------


def flip_last_char(text: str) -> str:
    """The same text with its last character changed to another of the same alphabet."""
    return text[:-1] + ("A" if text[-1] != "A" else "B")


def retarget_gateway_token(token: str, tenant: str) -> str:
    """A gateway token whose claims name `tenant`, keeping the original signature."""
    prefix, kid, payload, signature = token.split(".")
    body = json.loads(unb64url(payload))
    body["tid"] = tenant
    return ".".join([prefix, kid, b64url(json.dumps(body, separators=(",", ":")).encode()), signature])
