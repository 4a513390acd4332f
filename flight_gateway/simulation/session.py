"""One client connection through the front, after start-up (startup.py): the relay in both directions.

Server→client bytes are relayed in large chunks by a second thread without looking at them
(so a million-row result costs the front a few hundred `recv`/`sendall` calls, not a million
Python steps). Client→server messages are parsed: Query, Parse and Bind are where the front
refuses, rewrites, unloads and injects faults.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Protocol

from flight_gateway.simulation import startup, statements, wire
from flight_gateway.simulation.faults import Fault, FaultInjector
from flight_gateway.simulation.startup import FAIL_STATEMENT

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


class SessionHost(startup.LoginHost, Protocol):
    faults: FaultInjector

    def unload(self, role: str, database: str, sql: str, backend_pid: int) -> None: ...

    def register(self, key: tuple[int, int], session: ClientSession) -> None: ...

    def unregister(self, key: tuple[int, int]) -> None: ...


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

    def run(self) -> None:
        key: tuple[int, int] | None = None
        try:
            params = startup.negotiate(self.client, self.host)
            if params is None:
                return
            session = startup.login(self.client, self.host, params)
            if session is None:
                return
            self.backend, self.role, self.database = session.backend, session.role, session.database
            self.superuser, self.backend_pid = session.superuser, session.pid
            key = (session.pid, session.secret)
            self.host.register(key, self)
            relay = threading.Thread(target=self._relay_server, name="redshift-sim-relay", daemon=True)
            relay.start()
            self._relay_client()
        except (ConnectionError, OSError, wire.ProtocolError) as exc:
            log.debug("simulator session ended: %s", exc)
        except Exception:  # a bug here must end one session, not leave its client hanging
            log.exception("simulator session failed")
        finally:
            if key is not None:
                self.host.unregister(key)
            self.close()

    # -- relay ----------------------------------------------------------------------------------

    def _relay_server(self) -> None:
        assert self.backend is not None  # noqa: S101 - set at login
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
        assert self.backend is not None  # noqa: S101 - set at login
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
            fault = self._take_fault(sql)
            if fault is not None:
                return self._apply_fault(
                    fault, out, wire.message(kind, body), lambda s, m: _query(statements.fail_sql(s, m))
                )
            rewritten = self._rewrite(sql, execute=True, flush=out)
            return wire.message(kind, body) if rewritten is None else _query(rewritten)
        portal, statement = wire.split_bind(body)
        sql = self._statements.get(statement, "")
        fault = self._take_fault(sql)
        if fault is not None:
            return self._apply_fault(
                fault, out, wire.message(kind, body),
                lambda s, m: wire.bind_text_params(portal, FAIL_STATEMENT, [s, m]),
            )  # fmt: skip
        if isinstance(statements.classify(sql), statements.Unload):
            self._flush(out)
            self.host.unload(self.role, self.database, sql, self.backend_pid)
        return wire.message(kind, body)

    def _take_fault(self, sql: str) -> Fault | None:
        if isinstance(statements.classify(sql), statements.FaultControl):
            return None  # the fault controls themselves are never faulted
        return self.host.faults.take(self.role, sql)

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
                text = part.rstrip().rstrip(";")  # for others PostgreSQL refuses the superuser-only function
                if self.superuser:
                    try:
                        self.host.faults.arm_from_json(handling.spec)
                        text = f"SELECT {statements.quote(self.host.faults.status())}::text AS redshift_sim_fault"
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
