"""How the front authenticates a client before it logs in to PostgreSQL as the same user.

Redshift asks for an MD5 password; so does the simulator when the role's stored password is an
MD5 hash (the simulator's PostgreSQL stores new passwords that way). A role with a SCRAM
verifier gets SCRAM-SHA-256, which redshift-connector and libpq both speak. Users named
`IAM:<user>` / `IAMA:<user>` carry a temporary password from GetClusterCredentials: moto invents
those passwords, so the simulator cannot check them and accepts any (a documented difference).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import socket

from flight_gateway.simulation import wire

AUTH_OK = 0
AUTH_CLEARTEXT = 3
AUTH_MD5 = 5
AUTH_SASL = 10
AUTH_SASL_CONTINUE = 11
AUTH_SASL_FINAL = 12


class AuthenticationFailed(Exception):
    """The client's credentials were refused; the message is safe to send to the client."""


def backend_role(login_user: str) -> tuple[str, bool]:
    """(database role, whether the login carries IAM temporary credentials)."""
    for prefix in ("IAM:", "IAMA:"):
        if login_user.startswith(prefix) and len(login_user) > len(prefix):
            return login_user[len(prefix) :], True
    return login_user, False


def _read_password_message(sock: socket.socket) -> bytes:
    kind, body = wire.read_message(sock)
    if kind != b"p":
        raise AuthenticationFailed("expected a password message")
    return body


def authenticate(
    sock: socket.socket, login_user: str, role: str, stored: str | None, iam: bool, redshift_driver: bool = False
) -> None:
    """Run the password exchange on `sock`; raises AuthenticationFailed, returns after AuthenticationOk.

    `redshift_driver`: the client sent Redshift's start-up parameters (redshift-connector and kin).
    """
    refused = AuthenticationFailed(f'password authentication failed for user "{login_user}"')
    if iam or (stored or "").startswith("md5"):
        salt = secrets.token_bytes(4)
        sock.sendall(wire.auth_request(AUTH_MD5, salt))
        answer = _read_password_message(sock).rstrip(b"\0")
        if not iam:
            assert stored is not None  # noqa: S101 - checked by the branch condition
            expected = b"md5" + hashlib.md5(stored[3:].encode() + salt).hexdigest().encode()  # noqa: S324 - the protocol's hash
            if not hmac.compare_digest(answer, expected):
                raise refused
    elif (stored or "").startswith("SCRAM-SHA-256$"):
        try:
            _scram(sock, stored or "", refused, redshift_driver)
        except (ValueError, UnicodeDecodeError) as exc:  # a malformed SCRAM exchange is a failed login
            raise refused from exc
    else:
        raise refused
    sock.sendall(wire.auth_request(AUTH_OK))


def _scram(sock: socket.socket, stored: str, refused: AuthenticationFailed, redshift_driver: bool) -> None:
    """SCRAM-SHA-256 (RFC 5802/7677) against PostgreSQL's stored verifier, without channel binding.

    Written out rather than taken from scramp, which refuses the empty user name libpq sends.
    """
    try:
        iterations_salt, keys = stored.split("$", 2)[1:]
        iterations, salt = iterations_salt.split(":")
        stored_key, server_key = (base64.b64decode(part) for part in keys.split(":"))
    except ValueError as exc:
        raise refused from exc
    # libpq reads the mechanism list up to its empty terminator; redshift-connector would take that
    # terminator for a mechanism named "" and give up, so its clients get the list without it.
    mechanisms = b"SCRAM-SHA-256\0" if redshift_driver else b"SCRAM-SHA-256\0\0"
    sock.sendall(wire.auth_request(AUTH_SASL, mechanisms))
    first = _read_password_message(sock)
    mechanism_end = first.index(b"\0")
    length = wire.unpack_int32(first, mechanism_end + 1)
    client_first = first[mechanism_end + 5 : mechanism_end + 5 + length].decode()
    header, _, bare = client_first.split(",", 2)
    if header not in ("n", "y"):
        raise AuthenticationFailed("SCRAM channel binding is not supported by the Redshift simulator")
    client_nonce = dict(item.split("=", 1) for item in bare.split(",") if "=" in item).get("r", "")
    nonce = client_nonce + base64.b64encode(secrets.token_bytes(18)).decode()
    server_first = f"r={nonce},s={salt},i={iterations}"
    sock.sendall(wire.auth_request(AUTH_SASL_CONTINUE, server_first.encode()))
    client_final = _read_password_message(sock).decode()
    without_proof, _, proof = client_final.rpartition(",p=")
    fields = dict(item.split("=", 1) for item in without_proof.split(",") if "=" in item)
    if fields.get("r") != nonce or not proof:
        raise refused
    auth_message = f"{bare},{server_first},{without_proof}".encode()
    signature = hmac.digest(stored_key, auth_message, "sha256")
    try:
        client_key = bytes(a ^ b for a, b in zip(base64.b64decode(proof), signature, strict=True))
    except ValueError as exc:
        raise refused from exc
    if not hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key):
        raise refused
    server_signature = base64.b64encode(hmac.digest(server_key, auth_message, "sha256")).decode()
    sock.sendall(wire.auth_request(AUTH_SASL_FINAL, f"v={server_signature}".encode()))
