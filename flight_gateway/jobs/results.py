"""An offloaded result as the job record keeps it (`Job.result`), so any replica can hand it out later.

The JSON holds what a FlightInfo needs besides tickets: the Arrow schema, each part's path (relative
to the tenant's offload location) and rows, and the totals. The expiry is not in it: it lives in
`Job.offload_expires_at`, which RenewFlightEndpoint moves.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

_VERSION = 1


@dataclass(frozen=True)
class StoredResult:
    schema: pa.Schema
    parts: tuple[tuple[str, int], ...]  # (path, rows)
    rows: int
    bytes: int


def result_json(schema: pa.Schema, parts: Iterable[tuple[str, int]], rows: int, nbytes: int) -> str:
    return json.dumps(
        {
            "v": _VERSION,
            "schema": base64.b64encode(schema.serialize().to_pybytes()).decode(),
            "parts": [[path, count] for path, count in parts],
            "rows": rows,
            "bytes": nbytes,
        },
        separators=(",", ":"),
    )


def stored_result(text: str) -> StoredResult:
    """The result a job record holds; ValueError if the text is not one."""
    try:
        value = json.loads(text)
        if value.get("v") != _VERSION:
            raise ValueError(f"unknown result version {value.get('v')!r}")
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(value["schema"])))
        parts = tuple((str(path), int(count)) for path, count in value["parts"])
        return StoredResult(schema, parts, int(value["rows"]), int(value["bytes"]))
    except (KeyError, TypeError, AttributeError, pa.ArrowException) as exc:
        raise ValueError(f"malformed stored result: {exc}") from exc
