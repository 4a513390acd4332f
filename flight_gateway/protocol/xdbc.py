"""CommandGetXdbcTypeInfo: the result table builder. The rows are each engine's own
(`engines/<engine>/typeinfo.py`, reached as `Engine.xdbc_types`)."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from flight_gateway.engines.typeinfo import XdbcType
from flight_gateway.protocol.schemas import XDBC_TYPE_INFO_SCHEMA

__all__ = ["build_xdbc_type_info_table"]


def build_xdbc_type_info_table(types: Sequence[XdbcType], data_type: int | None) -> pa.Table:
    """Rows of XDBC_TYPE_INFO_SCHEMA, optionally only for one XdbcDataType.

    Ordered by data_type, then type_name, as the spec requires.
    """
    selected = sorted(
        (t for t in types if data_type is None or t.data_type == data_type),
        key=lambda t: (t.data_type, t.type_name),
    )
    columns = [
        pa.array(
            [
                list(value) if isinstance(value, tuple) else value
                for value in (getattr(t, field.name) for t in selected)
            ],
            field.type,
        )
        for field in XDBC_TYPE_INFO_SCHEMA
    ]
    return pa.Table.from_arrays(columns, schema=XDBC_TYPE_INFO_SCHEMA)
