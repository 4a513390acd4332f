"""The serving process fixes glibc's mmap threshold (the RSS test in test_statement_memory.py
shows why: without it, 1,000 statements of 256 KiB left ~130 MiB of RSS behind under load)."""

from __future__ import annotations

import platform

import pytest

from flight_gateway.process_memory import return_large_blocks_to_the_os


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_the_threshold_is_set_on_glibc() -> None:
    assert return_large_blocks_to_the_os() is True
