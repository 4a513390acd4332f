"""The `grpc-status-details-bin` trailer of a status with a retry hint: a `google.rpc.Status` holding
`google.rpc.ErrorInfo` (our error code) and `google.rpc.RetryInfo` (the delay), as gRPC clients parse it.

gRPC clients decode that trailer as a google.rpc.Status and some (grpc-go) reject one whose `code`
differs from the call's status, so `code` is always the status on the wire. The messages are
declared here, wire-identical to googleapis' (same field numbers), in a descriptor pool of their own:
no googleapis-common-protos dependency, and no clash with it in the default pool if a program loads it.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

DOMAIN = "flight-gateway"
_PACKAGE = "flight_gateway.rpc"
_TYPE_URL = "type.googleapis.com/google.rpc."
_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {"string": _F.TYPE_STRING, "bytes": _F.TYPE_BYTES, "int64": _F.TYPE_INT64, "int32": _F.TYPE_INT32}
# Field name -> (number, type), as in google/rpc/status.proto and error_details.proto; `*` repeats.
# A map<string, string> is, on the wire, a repeated entry message of key (1) and value (2).
_MESSAGES: dict[str, dict[str, tuple[int, str]]] = {
    "Any": {"type_url": (1, "string"), "value": (2, "bytes")},
    "Duration": {"seconds": (1, "int64"), "nanos": (2, "int32")},
    "MetadataEntry": {"key": (1, "string"), "value": (2, "string")},
    "Status": {"code": (1, "int32"), "message": (2, "string"), "details": (3, "*Any")},
    "ErrorInfo": {"reason": (1, "string"), "domain": (2, "string"), "metadata": (3, "*MetadataEntry")},
    "RetryInfo": {"retry_delay": (1, "Duration")},
}


def _classes() -> dict[str, Any]:
    file = descriptor_pb2.FileDescriptorProto(name="flight_gateway/rpc_status.proto", package=_PACKAGE, syntax="proto3")
    for name, fields in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for field, (number, kind) in fields.items():
            label = _F.LABEL_REPEATED if kind.startswith("*") else _F.LABEL_OPTIONAL
            kind = kind.lstrip("*")
            if kind in _SCALARS:
                message.field.add(name=field, number=number, type=_SCALARS[kind], label=label)
            else:
                message.field.add(
                    name=field, number=number, type=_F.TYPE_MESSAGE, label=label, type_name=f".{_PACKAGE}.{kind}"
                )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}")) for name in _MESSAGES
    }


_CLASSES = _classes()


def _any(name: str, message: Any) -> Any:
    return _CLASSES["Any"](type_url=_TYPE_URL + name, value=message.SerializeToString())


def status_details(grpc_code: int, message: str, reason: str, status: str, retry_seconds: int) -> bytes:
    """A serialized google.rpc.Status for the trailer: `grpc_code` is the status sent on the wire,
    `reason` our error code, `status` the status it stands for (RESOURCE_EXHAUSTED, which pyarrow
    cannot send), `retry_seconds` the delay before a retry may succeed."""
    entry = _CLASSES["MetadataEntry"](key="status", value=status)
    info = _CLASSES["ErrorInfo"](reason=reason, domain=DOMAIN, metadata=[entry])
    delay = _CLASSES["RetryInfo"](retry_delay=_CLASSES["Duration"](seconds=retry_seconds))
    details = [_any("ErrorInfo", info), _any("RetryInfo", delay)]
    return bytes(_CLASSES["Status"](code=grpc_code, message=message, details=details).SerializeToString())
