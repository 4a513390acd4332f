"""A client's start-up through the front: TLS/cancel requests, Redshift's login, the backend login.

The client sees what a Redshift cluster sends at start-up; PostgreSQL behind the front sees a
plain local login as the same role.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from flight_gateway.simulation import wire
from flight_gateway.simulation.client_auth import AuthenticationFailed, authenticate, backend_role

REDSHIFT_SERVER_VERSION = "8.0.2"
FAIL_STATEMENT = "__redshift_sim_fail"
# PostgreSQL start-up parameters worth passing on; Redshift drivers add their own, which PostgreSQL would refuse.
_FORWARDED = {"application_name", "client_encoding", "DateStyle", "TimeZone", "extra_float_digits", "options",
              "search_path", "IntervalStyle", "datestyle", "timezone"}  # fmt: skip
# What Redshift reports at start-up, with the values a driver sees; the rest of PostgreSQL's list is dropped.
_REPORTED = (
    "application_name", "client_encoding", "DateStyle", "integer_datetimes", "is_superuser", "server_encoding",
    "server_version", "session_authorization", "standard_conforming_strings", "TimeZone",
)  # fmt: skip
_OVERRIDES = {"server_version": REDSHIFT_SERVER_VERSION, "client_encoding": "UNICODE", "server_encoding": "UNICODE"}


class LoginHost(Protocol):
    @property
    def socket_path(self) -> Path: ...

    def stored_password(self, role: str) -> str | None: ...

    def cancel(self, pid: int, secret: int) -> None: ...


@dataclass
class Login:
    """A logged-in session: the backend socket and who it is."""

    backend: socket.socket
    role: str
    database: str
    superuser: bool
    pid: int
    secret: int


def negotiate(client: socket.socket, host: LoginHost) -> dict[str, str] | None:
    """The client's start-up parameters (None: it only sent a cancel request, now passed on)."""
    while True:
        code, payload = wire.read_startup(client)
        if code in (wire.SSL_REQUEST, wire.GSSENC_REQUEST):
            client.sendall(b"N")  # no TLS on loopback: drivers fall back to plain TCP
            continue
        if code == wire.CANCEL_REQUEST:
            host.cancel(wire.unpack_int32(payload), wire.unpack_int32(payload, 4))
            return None
        if code >> 16 != 3:
            raise wire.ProtocolError(f"unsupported protocol {code >> 16}.{code & 0xFFFF}")
        params = wire.parse_startup_params(payload)
        options = [name for name in params if name.startswith("_pq_.")]
        if code & 0xFFFF or options:  # Redshift speaks 3.0 and knows no protocol options
            client.sendall(wire.negotiate_protocol_version(wire.PROTOCOL_3_0, options))
        return {k: v for k, v in params.items() if k not in options}


def _fatal(client: socket.socket, sqlstate: str, text: str) -> None:
    client.sendall(wire.error_response(sqlstate, text, "FATAL"))


def login(client: socket.socket, host: LoginHost, params: dict[str, str]) -> Login | None:
    """Authenticate the client, log in to PostgreSQL as its role, send Redshift's start-up reports.

    None when the login failed (the client has been told why).
    """
    login_user = params.get("user", "")
    if not login_user:
        _fatal(client, "28000", "no user name given in the start-up packet")
        return None
    role, iam = backend_role(login_user)
    database = params.get("database") or login_user
    try:
        stored = host.stored_password(role)
        authenticate(client, login_user, role, stored, iam, "client_protocol_version" in params)
    except AuthenticationFailed as exc:
        _fatal(client, "28P01", str(exc))
        return None
    backend = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        session = _backend_login(client, backend, host, role, database, params)
    except BaseException:
        backend.close()
        raise
    if session is None:
        backend.close()
    return session


def _backend_login(
    client: socket.socket, backend: socket.socket, host: LoginHost, role: str, database: str, params: dict[str, str]
) -> Login | None:
    backend.connect(str(host.socket_path))
    forwarded = {k: v for k, v in params.items() if k in _FORWARDED}
    backend.sendall(wire.startup_packet({"user": role, "database": database, **forwarded}))
    reported: dict[str, str] = {}
    pid = secret = 0
    while True:
        kind, body = wire.read_message(backend)
        if kind == b"R" and wire.unpack_int32(body) != 0:
            _fatal(client, "28000", "the simulator's PostgreSQL asked for a password on its local socket")
            return None
        if kind == b"S":
            key, value = body.split(b"\0")[:2]
            reported[key.decode()] = value.decode()
        elif kind == b"K":
            pid, secret = wire.unpack_int32(body), wire.unpack_int32(body, 4)
        elif kind in (b"E", b"N"):
            client.sendall(wire.message(kind, body))
            if kind == b"E":
                return None
        elif kind == b"Z":
            break
    # The fault statement is prepared now, while the front still owns the conversation, so a
    # fault can later replace any Bind without the server's answers needing an edit.
    backend.sendall(
        wire.parse_message(FAIL_STATEMENT, "CALL pg_catalog.redshift_sim_fail($1, $2)", [25, 25]) + wire.message(b"S")
    )
    while (kind := wire.read_message(backend)[0]) != b"Z":
        if kind == b"E":
            _fatal(client, "XX000", "the simulator's catalog objects are missing in this database")
            return None
    out = bytearray()
    for name in _REPORTED:
        if name in reported:
            out += wire.parameter_status(name, _OVERRIDES.get(name, reported[name]))
    out += wire.message(b"K", wire.int32(pid) + wire.int32(secret))
    out += wire.message(b"Z", b"I")
    client.sendall(bytes(out))
    return Login(backend, role, database, reported.get("is_superuser") == "on", pid, secret)
