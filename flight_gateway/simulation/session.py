"""One client connection through the front: Redshift's start-up and login, then the relay.

Server→client bytes are relayed in large chunks by a second thread without looking at them
(so a million-row result costs the front a few hundred `recv`/`sendall` calls, not a million
Python steps). Client→server messages are parsed: Query, Parse and Bind are where the front
refuses, rewrites, unloads and injects faults.
"""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path
from typing import Protocol

from flight_gateway.simulation import statements, wire
from flight_gateway.simulation.client_auth import AuthenticationFailed, authenticate, backend_role
from flight_gateway.simulation.faults import Fault, FaultInjector

log = logging.getLogger(__name__)

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
_CHUNK = 1 << 20


class SessionHost(Protocol):
    faults: FaultInjector

    @property
    def socket_path(self) -> Path: ...

    def stored_password(self, role: str) -> str | None: ...

    def unload(self, role: str, database: str, sql: str, backend_pid: int) -> None: ...

    def register(self, key: tuple[int, int], session: ClientSession) -> None: ...

    def unregister(self, key: tuple[int, int]) -> None: ...

    def cancel(self, pid: int, secret: int) -> None: ...


class ClientSession:
    def __init__(self, host: SessionHost, client: socket.socket) -> None:
        self.host = host
        self.client = client
        self.backend: socket.socket | None = None
        self.role = ""
        self.database = ""
        self.superuser = False
        self.backend_pid = 0
        self.cancelled = threading.Event()
        self._statements: dict[str, str] = {}
        self._drop_after: int | None = None
        self._closed = threading.Event()

    # -- start-up -------------------------------------------------------------------------------

    def run(self) -> None:
        key: tuple[int, int] | None = None
        try:
            params = self._negotiate()
            if params is None:
                return
            key = self._login(params)
            if key is None:
                return
            relay = threading.Thread(target=self._relay_server, name="redshift-sim-relay", daemon=True)
            relay.start()
            self._relay_client()
        except (ConnectionError, OSError, wire.ProtocolError) as exc:
            log.debug("simulator session ended: %s", exc)
        finally:
            if key is not None:
                self.host.unregister(key)
            self.close()

    def _negotiate(self) -> dict[str, str] | None:
        while True:
            code, payload = wire.read_startup(self.client)
            if code in (wire.SSL_REQUEST, wire.GSSENC_REQUEST):
                self.client.sendall(b"N")  # no TLS on loopback: drivers fall back to plain TCP
                continue
            if code == wire.CANCEL_REQUEST:
                self.host.cancel(wire.unpack_int32(payload), wire.unpack_int32(payload, 4))
                return None
            if code >> 16 != 3:
                raise wire.ProtocolError(f"unsupported protocol {code >> 16}.{code & 0xFFFF}")
            return wire.parse_startup_params(payload)

    def _fatal(self, sqlstate: str, text: str) -> None:
        self.client.sendall(wire.error_response(sqlstate, text, "FATAL"))

    def _login(self, params: dict[str, str]) -> tuple[int, int] | None:
        login_user = params.get("user", "")
        if not login_user:
            self._fatal("28000", "no user name given in the start-up packet")
            return None
        self.role, iam = backend_role(login_user)
        self.database = params.get("database") or login_user
        try:
            stored = self.host.stored_password(self.role)
            authenticate(self.client, login_user, self.role, stored, iam, "client_protocol_version" in params)
        except AuthenticationFailed as exc:
            self._fatal("28P01", str(exc))
            return None
        backend = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        backend.connect(str(self.host.socket_path))
        self.backend = backend
        forwarded = {k: v for k, v in params.items() if k in _FORWARDED}
        backend.sendall(wire.startup_packet({"user": self.role, "database": self.database, **forwarded}))
        reported: dict[str, str] = {}
        secret = 0
        while True:
            kind, body = wire.read_message(backend)
            if kind == b"R":
                if wire.unpack_int32(body) != 0:
                    self._fatal("28000", "the simulator's PostgreSQL asked for a password on its local socket")
                    return None
            elif kind == b"S":
                key_bytes, value = body.split(b"\0")[:2]
                reported[key_bytes.decode()] = value.decode()
            elif kind == b"K":
                self.backend_pid, secret = wire.unpack_int32(body), wire.unpack_int32(body, 4)
            elif kind == b"E":
                self.client.sendall(wire.message(kind, body))
                return None
            elif kind == b"N":
                self.client.sendall(wire.message(kind, body))
            elif kind == b"Z":
                break
        self.superuser = reported.get("is_superuser") == "on"
        # The fault statement is prepared now, while the front still owns the conversation, so a
        # fault can later replace any Bind without the server's answers needing an edit.
        backend.sendall(
            wire.parse_message(FAIL_STATEMENT, "CALL pg_catalog.redshift_sim_fail($1, $2)", [25, 25])
            + wire.message(b"S")
        )
        while (kind := wire.read_message(backend)[0]) != b"Z":
            if kind == b"E":
                self._fatal("XX000", "the simulator's catalog objects are missing in this database")
                return None
        out = bytearray()
        for name in _REPORTED:
            if name in reported:
                out += wire.parameter_status(name, _OVERRIDES.get(name, reported[name]))
        out += wire.message(b"K", wire.int32(self.backend_pid) + wire.int32(secret))
        out += wire.message(b"Z", b"I")
        self.client.sendall(bytes(out))
        key = (self.backend_pid, secret)
        self.host.register(key, self)
        return key

    # -- relay ----------------------------------------------------------------------------------

    def _relay_server(self) -> None:
        assert self.backend is not None  # noqa: S101 - set by _login
        try:
            while True:
                chunk = self.backend.recv(_CHUNK)
                if not chunk:
                    break
                limit = self._drop_after
                if limit is not None:
                    if limit <= len(chunk):
                        self.client.sendall(chunk[:limit])
                        break
                    self._drop_after = limit - len(chunk)
                self.client.sendall(chunk)
        except OSError as exc:
            log.debug("simulator relay ended: %s", exc)
        finally:
            self.close()

    def _relay_client(self) -> None:
        assert self.backend is not None  # noqa: S101 - set by _login
        buffer = bytearray()
        while not self._closed.is_set():
            chunk = self.client.recv(_CHUNK)
            if not chunk:
                return
            buffer += chunk
            out = bytearray()
            position = 0
            while len(buffer) - position >= 5:
                length = wire.unpack_int32(buffer, position + 1)
                end = position + 1 + length
                if end > len(buffer):
                    break
                kind = bytes(buffer[position : position + 1])
                body = bytes(buffer[position + 5 : end])
                position = end
                if kind in (b"Q", b"P", b"B", b"C"):
                    forwarded = self._intercept(kind, body, out)
                    if forwarded is None:
                        return
                    out += forwarded
                else:
                    out += wire.message(kind, body)
                    if kind == b"X":
                        self.backend.sendall(out)
                        return
            del buffer[:position]
            if out:
                self.backend.sendall(out)

    def _intercept(self, kind: bytes, body: bytes, out: bytearray) -> bytes | None:
        """The bytes to send on for one client message (None: the connection is being dropped)."""
        if kind == b"C":
            if body[:1] == b"S":
                self._statements.pop(body[1:].rstrip(b"\0").decode(), None)
            return wire.message(kind, body)
        if kind == b"P":
            name, sql, types = wire.split_parse(body)
            self._statements[name] = sql
            rewritten = self._rewrite(sql, execute=False)
            return wire.message(kind, body) if rewritten is None else wire.parse_message(name, rewritten, types)
        self.cancelled.clear()  # a cancel request only counts for the statement it arrives during
        if kind == b"Q":
            sql = wire.query_text(body)
            fault = self.host.faults.take(self.role, sql)
            if fault is not None:
                return self._apply_fault(
                    fault, out, wire.message(kind, body), lambda s, m: _query(statements.fail_sql(s, m))
                )
            rewritten = self._rewrite(sql, execute=True, flush=out)
            return wire.message(kind, body) if rewritten is None else _query(rewritten)
        portal, statement = wire.split_bind(body)
        sql = self._statements.get(statement, "")
        fault = self.host.faults.take(self.role, sql)
        if fault is not None:
            return self._apply_fault(
                fault, out, wire.message(kind, body),
                lambda s, m: wire.bind_text_params(portal, FAIL_STATEMENT, [s, m]),
            )  # fmt: skip
        if isinstance(statements.classify(sql), statements.Unload):
            self._flush(out)
            self.host.unload(self.role, self.database, sql, self.backend_pid)
        return wire.message(kind, body)

    def _apply_fault(self, fault: Fault, out: bytearray, original: bytes, failing: _Failing) -> bytes | None:
        if fault.kind == "fail":
            return failing(fault.sqlstate, fault.message)
        self._flush(out)
        if fault.kind == "delay":
            if self.cancelled.wait(fault.seconds):
                return failing("57014", "canceling statement due to user request")
            return original
        if fault.after_bytes <= 0:
            self.close()
            return None
        self._drop_after = fault.after_bytes
        return original

    def _rewrite(self, sql: str, *, execute: bool, flush: bytearray | None = None) -> str | None:
        """The text PostgreSQL should run instead of `sql` (None: unchanged)."""
        parts = statements.split_statements(sql)
        changed = False
        result: list[str] = []
        for part in parts:
            handling = statements.classify(part)
            if handling is None:
                result.append(part)
                continue
            changed = True
            if isinstance(handling, statements.Refusal):
                text = statements.fail_sql(handling.sqlstate, handling.message)
            elif isinstance(handling, statements.Rewritten):
                text = handling.sql
            elif isinstance(handling, statements.FaultControl):
                text = part.rstrip().rstrip(";")
                if self.superuser:
                    try:
                        self.host.faults.arm_from_json(handling.spec)
                    except (ValueError, TypeError) as exc:
                        text = statements.fail_sql("22023", f"bad fault specification: {exc}")
            else:
                if execute:
                    if flush is not None:
                        self._flush(flush)
                    self.host.unload(self.role, self.database, part, self.backend_pid)
                text = "CALL pg_catalog.redshift_sim_unload_report()"
            result.append(text + (";" if len(parts) > 1 else ""))
        return "".join(result) if changed else None

    def _flush(self, out: bytearray) -> None:
        if out and self.backend is not None:
            self.backend.sendall(bytes(out))
            out.clear()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        for sock in (self.client, self.backend):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()


class _Failing(Protocol):
    def __call__(self, sqlstate: str, message: str, /) -> bytes: ...


def _query(sql: str) -> bytes:
    return wire.message(b"Q", wire.cstr(sql))
