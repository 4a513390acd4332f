"""PostgreSQL v3 wire-protocol framing: just enough to read, inspect and forge messages.

Only the simulator's front uses this; it never decodes result rows (they are relayed as bytes).
"""

from __future__ import annotations

import socket
import struct

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
PROTOCOL_3_0 = 196608

_INT32 = struct.Struct("!i")
_INT16 = struct.Struct("!h")


class ProtocolError(Exception):
    """The peer sent something that is not the PostgreSQL v3 protocol."""


def recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("peer closed the connection")
        chunks += chunk
    return bytes(chunks)


def read_startup(sock: socket.socket) -> tuple[int, bytes]:
    """One untyped start-up packet: (request code, payload after the code)."""
    (length,) = _INT32.unpack(recv_exact(sock, 4))
    if not 8 <= length <= 10_000:
        raise ProtocolError(f"start-up packet of {length} bytes")
    body = recv_exact(sock, length - 4)
    return _INT32.unpack_from(body)[0], body[4:]


def parse_startup_params(payload: bytes) -> dict[str, str]:
    parts = payload.split(b"\0")
    params: dict[str, str] = {}
    for key, value in zip(parts[0::2], parts[1::2], strict=False):
        if key:
            params[key.decode()] = value.decode()
    return params


def startup_packet(params: dict[str, str]) -> bytes:
    body = _INT32.pack(PROTOCOL_3_0) + b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items())
    body += b"\0"
    return _INT32.pack(len(body) + 4) + body


def read_message(sock: socket.socket) -> tuple[bytes, bytes]:
    """One typed message: (type byte, body)."""
    header = recv_exact(sock, 5)
    (length,) = _INT32.unpack_from(header, 1)
    return header[:1], recv_exact(sock, length - 4) if length > 4 else b""


def message(kind: bytes, body: bytes = b"") -> bytes:
    return kind + _INT32.pack(len(body) + 4) + body


def cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def parameter_status(name: str, value: str) -> bytes:
    return message(b"S", cstr(name) + cstr(value))


def negotiate_protocol_version(version: int, unknown_options: list[str]) -> bytes:
    body = _INT32.pack(version) + _INT32.pack(len(unknown_options)) + b"".join(cstr(o) for o in unknown_options)
    return message(b"v", body)


def error_response(sqlstate: str, text: str, severity: str = "ERROR") -> bytes:
    fields = b"S" + cstr(severity) + b"V" + cstr(severity) + b"C" + cstr(sqlstate) + b"M" + cstr(text)
    return message(b"E", fields + b"\0")


def error_fields(body: bytes) -> dict[str, str]:
    """The fields of an ErrorResponse/NoticeResponse body, keyed by their one-letter codes."""
    fields: dict[str, str] = {}
    for part in body.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode(errors="replace")
    return fields


def auth_request(code: int, extra: bytes = b"") -> bytes:
    return message(b"R", _INT32.pack(code) + extra)


def parse_message(name: str, sql: str, param_types: list[int]) -> bytes:
    body = cstr(name) + cstr(sql) + _INT16.pack(len(param_types)) + b"".join(_INT32.pack(t) for t in param_types)
    return message(b"P", body)


def split_parse(body: bytes) -> tuple[str, str, list[int]]:
    """A Parse body: (statement name, SQL text, declared parameter type OIDs)."""
    end_name = body.index(b"\0")
    end_sql = body.index(b"\0", end_name + 1)
    (count,) = _INT16.unpack_from(body, end_sql + 1)
    types = [_INT32.unpack_from(body, end_sql + 3 + 4 * i)[0] for i in range(count)]
    return body[:end_name].decode(), body[end_name + 1 : end_sql].decode(errors="replace"), types


def split_bind(body: bytes) -> tuple[str, str]:
    """A Bind body: (portal name, statement name)."""
    end_portal = body.index(b"\0")
    end_stmt = body.index(b"\0", end_portal + 1)
    return body[:end_portal].decode(), body[end_portal + 1 : end_stmt].decode()


def bind_text_params(portal: str, statement: str, values: list[str]) -> bytes:
    """A Bind of text-format parameters with default (text) result formats."""
    body = cstr(portal) + cstr(statement) + _INT16.pack(0) + _INT16.pack(len(values))
    for value in values:
        data = value.encode()
        body += _INT32.pack(len(data)) + data
    return message(b"B", body + _INT16.pack(0))


def query_text(body: bytes) -> str:
    return body.rstrip(b"\0").decode(errors="replace")


def int32(value: int) -> bytes:
    return _INT32.pack(value)


def unpack_int32(data: bytes | bytearray, offset: int = 0) -> int:
    return int(_INT32.unpack_from(data, offset)[0])
