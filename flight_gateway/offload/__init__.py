"""Offloaded results: huge query results written as Parquet parts, read back one endpoint per part."""

from flight_gateway.offload.local import LocalOffload
from flight_gateway.offload.policy import DELIVERY_HINTS, estimated_row_bytes, offload_mode, parquet_compatible
from flight_gateway.offload.store import Offload, OffloadedResult, Part
from flight_gateway.offload.sweeper import OffloadSweeper

__all__ = [
    "DELIVERY_HINTS",
    "LocalOffload",
    "Offload",
    "OffloadSweeper",
    "OffloadedResult",
    "Part",
    "estimated_row_bytes",
    "offload_mode",
    "parquet_compatible",
]
