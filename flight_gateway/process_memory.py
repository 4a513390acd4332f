"""Process-wide allocator settings for a serving gateway (glibc only; a no-op elsewhere).

Statement texts, gRPC messages and protobuf copies of them are short-lived allocations of up to
`max_statement_bytes`. glibc raises its mmap threshold each time such a block is freed, so later
ones land in the per-thread heap arenas, whose freed space the process keeps: 1,000 statements
of 256 KiB left ~130 MiB of RSS behind under load. A fixed threshold (which also turns off the
dynamic adjustment) maps every block of 128 KiB or more on its own and returns it on free, at
the price of an mmap/munmap pair per large block. Only `flight-gateway serve` calls this: a
library embedding the gateway keeps its own allocator settings.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

_M_MMAP_THRESHOLD = -3  # <malloc.h>
MMAP_THRESHOLD_BYTES = 128 * 1024

_log = logging.getLogger(__name__)


def return_large_blocks_to_the_os() -> bool:
    """Fix glibc's mmap threshold; True if it was set (False on other C libraries)."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    _log.debug("glibc mmap threshold fixed at %d bytes: %s", MMAP_THRESHOLD_BYTES, ok)
    return ok
