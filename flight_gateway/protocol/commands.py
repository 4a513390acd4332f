"""Decoding of `Any`-wrapped Flight SQL commands, and packing of results."""

from __future__ import annotations

from google.protobuf import any_pb2, message
from google.protobuf.message import DecodeError

from flight_gateway.errors import ErrorCode, error
from flight_gateway.protocol import flightsql_pb2 as pb

_PREFIX = "type.googleapis.com/"
_PACKAGE = pb.DESCRIPTOR.package  # arrow.flight.protocol.sql

# Every Flight SQL message, by full name; commands outside this package are not Flight SQL.
MESSAGES: dict[str, type[message.Message]] = {
    f"{_PACKAGE}.{name}": getattr(pb, name) for name in pb.DESCRIPTOR.message_types_by_name
}


def unpack(data: bytes) -> message.Message:
    """The Flight SQL message inside `data`; INVALID_ARGUMENT / UNIMPLEMENTED otherwise."""
    wrapper = any_pb2.Any()
    try:
        wrapper.ParseFromString(data)
    except DecodeError:
        raise error(
            ErrorCode.MALFORMED_COMMAND,
            "the command is not a Flight SQL message (protobuf Any); use a Flight SQL client",
        ) from None
    if not wrapper.type_url:
        raise error(
            ErrorCode.MALFORMED_COMMAND,
            "the command is not a Flight SQL message (protobuf Any); use a Flight SQL client",
        )
    name = wrapper.type_url.rsplit("/", 1)[-1]
    cls = MESSAGES.get(name)
    if cls is None:
        raise error(ErrorCode.UNKNOWN_COMMAND, f"command type {name!r} is not supported by this gateway")
    command = cls()
    try:
        command.ParseFromString(wrapper.value)
    except DecodeError:
        raise error(ErrorCode.MALFORMED_COMMAND, f"the {cls.__name__} message is malformed") from None
    return command


def pack(msg: message.Message) -> bytes:
    wrapper = any_pb2.Any()
    wrapper.Pack(msg, type_url_prefix=_PREFIX)
    return wrapper.SerializeToString()


def unpack_action(body: bytes, cls: type[message.Message]) -> message.Message:
    """An action body is an `Any` holding `cls` (Flight SQL actions); plain bytes are accepted too."""
    wrapper = any_pb2.Any()
    try:
        wrapper.ParseFromString(body)
        if wrapper.type_url:
            if wrapper.type_url.rsplit("/", 1)[-1] != cls.DESCRIPTOR.full_name:
                raise error(ErrorCode.MALFORMED_ACTION, f"the action body must be a {cls.__name__}")
            body = wrapper.value
        msg = cls()
        msg.ParseFromString(body)
    except DecodeError:
        raise error(ErrorCode.MALFORMED_ACTION, f"the action body is not a valid {cls.__name__}") from None
    return msg
