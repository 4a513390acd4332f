"""Raw gRPC access to the Flight service, for tests that need exact status codes and headers.

pyarrow.flight folds several gRPC codes into the same Python exception, so these helpers talk
to `arrow.flight.protocol.FlightService` with the plain `grpc` package. The few Flight.proto
messages that pyarrow cannot serialize for us (FlightData, PutResult, HandshakeRequest) are
encoded by hand: they are flat messages of bytes fields.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import grpc
import pyarrow as pa
import pyarrow.flight as fl
from google.protobuf import message

from flight_gateway.protocol.commands import pack

SERVICE = "/arrow.flight.protocol.FlightService/"
Metadata = Sequence[tuple[str, str]]


def _identity(data: bytes) -> bytes:
    return data


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _bytes_field(number: int, data: bytes) -> bytes:
    return _varint((number << 3) | 2) + _varint(len(data)) + data


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def bytes_fields(data: bytes) -> dict[int, bytes]:
    """The length-delimited fields of a flat protobuf message (last occurrence wins)."""
    fields: dict[int, bytes] = {}
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, pos = _read_varint(data, pos)
        elif wire_type == 2:
            length, pos = _read_varint(data, pos)
            fields[number] = data[pos : pos + length]
            pos += length
        else:
            raise ValueError(f"unexpected wire type {wire_type}")
    return fields


def command_descriptor(cmd: message.Message) -> bytes:
    """A serialized FlightDescriptor (CMD) holding the Any-wrapped Flight SQL command."""
    return bytes(fl.FlightDescriptor.for_command(pack(cmd)).serialize())


def raw_descriptor(command: bytes) -> bytes:
    return bytes(fl.FlightDescriptor.for_command(command).serialize())


def flight_data(
    descriptor: bytes | None = None, header: bytes = b"", body: bytes = b"", app_metadata: bytes = b""
) -> bytes:
    """A FlightData message: descriptor (1), IPC data_header (2), app_metadata (3), data_body (1000)."""
    out = b""
    if descriptor is not None:
        out += _bytes_field(1, descriptor)
    if header:
        out += _bytes_field(2, header)
    if app_metadata:
        out += _bytes_field(3, app_metadata)
    if body:
        out += _bytes_field(1000, body)
    return out


def ipc_flight_data(descriptor: bytes, batch: pa.RecordBatch) -> list[bytes]:
    """The FlightData messages of a DoPut upload: schema (with the descriptor), then the batch."""
    schema_msg = pa.ipc.read_message(batch.schema.serialize())
    batch_msg = pa.ipc.read_message(batch.serialize())
    return [
        flight_data(descriptor, header=schema_msg.metadata.to_pybytes()),
        flight_data(header=batch_msg.metadata.to_pybytes(), body=batch_msg.body.to_pybytes()),
    ]


@dataclass
class RawFlight:
    """A grpc channel to a gateway with bytes-in/bytes-out stubs for each Flight method."""

    channel: grpc.Channel

    @classmethod
    def connect(cls, uri: str) -> RawFlight:
        return cls(grpc.insecure_channel(uri.removeprefix("grpc://")))

    def close(self) -> None:
        self.channel.close()

    def _unary_stream(self, method: str) -> grpc.UnaryStreamMultiCallable:
        return self.channel.unary_stream(
            SERVICE + method, request_serializer=_identity, response_deserializer=_identity
        )

    def _unary(self, method: str) -> grpc.UnaryUnaryMultiCallable:
        return self.channel.unary_unary(SERVICE + method, request_serializer=_identity, response_deserializer=_identity)

    def _stream_stream(self, method: str) -> grpc.StreamStreamMultiCallable:
        return self.channel.stream_stream(
            SERVICE + method, request_serializer=_identity, response_deserializer=_identity
        )

    def get_flight_info(self, descriptor: bytes, metadata: Metadata = ()) -> fl.FlightInfo:
        raw = self._unary("GetFlightInfo")(descriptor, metadata=list(metadata), timeout=60)
        return fl.FlightInfo.deserialize(raw)

    def get_schema(self, descriptor: bytes, metadata: Metadata = ()) -> bytes:
        result: bytes = self._unary("GetSchema")(descriptor, metadata=list(metadata), timeout=60)
        return result

    def do_get(self, ticket: bytes, metadata: Metadata = ()) -> list[bytes]:
        request = bytes(fl.Ticket(ticket).serialize())
        return list(self._unary_stream("DoGet")(request, metadata=list(metadata), timeout=60))

    def do_action(self, action_type: str, body: bytes, metadata: Metadata = ()) -> list[bytes]:
        request = bytes(fl.Action(action_type, body).serialize())
        results = self._unary_stream("DoAction")(request, metadata=list(metadata), timeout=60)
        return [bytes_fields(r).get(1, b"") for r in results]

    def do_put(self, messages: Sequence[bytes], metadata: Metadata = ()) -> list[bytes]:
        """Upload `messages` (FlightData) and return the app_metadata of each PutResult."""
        results = self._stream_stream("DoPut")(iter(messages), metadata=list(metadata), timeout=60)
        return [bytes_fields(r).get(1, b"") for r in results]

    def list_flights(self, criteria: bytes = b"", metadata: Metadata = ()) -> list[bytes]:
        return list(self._unary_stream("ListFlights")(criteria, metadata=list(metadata), timeout=60))

    def list_actions(self, metadata: Metadata = ()) -> list[bytes]:
        return list(self._unary_stream("ListActions")(b"", metadata=list(metadata), timeout=60))

    def do_exchange(self, messages: Sequence[bytes], metadata: Metadata = ()) -> list[bytes]:
        return list(self._stream_stream("DoExchange")(iter(messages), metadata=list(metadata), timeout=60))

    def handshake(self, metadata: Metadata) -> tuple[list[bytes], dict[str, str]]:
        """Handshake with one empty HandshakeRequest: the responses and the initial metadata."""
        call = self._stream_stream("Handshake")(iter([b""]), metadata=list(metadata), timeout=60)
        responses: list[bytes] = list(call)
        headers = {str(k): v if isinstance(v, str) else v.decode() for k, v in call.initial_metadata()}
        return responses, headers


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", token if token.startswith("Bearer ") else f"Bearer {token}")]


def stream_table(messages: Iterator[bytes] | Sequence[bytes]) -> pa.Table:
    """Decode DoGet FlightData messages back into an Arrow table."""
    sink = pa.BufferOutputStream()
    for raw in messages:
        fields = bytes_fields(raw)
        header, body = fields.get(2, b""), fields.get(1000, b"")
        if not header:
            continue
        padded = header + b"\x00" * (-len(header) % 8)
        sink.write(b"\xff\xff\xff\xff" + len(padded).to_bytes(4, "little") + padded)
        sink.write(body)
    return pa.ipc.open_stream(sink.getvalue()).read_all()
