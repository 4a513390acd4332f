"""`flight-gateway serve` stops on SIGTERM/SIGINT whenever the signal comes, including right after the
banner. Before, a signal in that window (or one the kernel gave to a gRPC thread) left the process
running for good in about four starts out of ten; a container would then wait for SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

STARTS = 8


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_on_a_signal_sent_right_after_the_banner(tmp_path: Path, signum: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHT_GATEWAY_")}
    env["FLIGHT_GATEWAY_DEMO_PASSWORD"] = "pw"
    for start in range(STARTS):
        argv = [sys.executable, "-m", "flight_gateway.cli", "serve", "--port", "0", "--demo-rows", "100",
                "--data-dir", str(tmp_path / f"d{start}")]  # fmt: skip
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)  # noqa: S603
        try:
            assert process.stdout is not None
            assert "listening on" in process.stdout.readline()
            process.send_signal(signum)
            # A generous deadline for a loaded machine: a stuck process never exits at all.
            assert process.wait(timeout=120) == 0, f"start {start}: exit status {process.returncode}"
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
