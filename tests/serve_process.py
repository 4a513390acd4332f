"""`flight-gateway serve` as a separate process on a free port, for tests that need a real process."""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from conftest import PASSWORD

_LISTENING = re.compile(r"listening on (grpc://127\.0\.0\.1:\d+)")


@dataclass
class ServeProcess:
    process: subprocess.Popen[str]
    uri: str
    data_dir: Path
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def stop(self) -> int:
        """Terminate (then kill) if still running; the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        code = self.process.wait(timeout=15)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code


def _first_line(stream: IO[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    try:
        while time.monotonic() < deadline:
            if selector.select(timeout=0.2):
                return stream.readline()
        return ""
    finally:
        selector.close()


def start_serve(tmp_path: Path, demo_rows: int = 1000, timeout: float = 180) -> ServeProcess:
    """`python -m flight_gateway.cli serve --port 0`; the port comes from the first stdout line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHT_GATEWAY_")}
    env["FLIGHT_GATEWAY_DEMO_PASSWORD"] = PASSWORD
    data_dir = tmp_path / "data"
    stderr_path = tmp_path / "serve.stderr"
    # stderr goes to a file: a pipe nobody reads would fill up with logs and stall the server.
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed argv
            [sys.executable, "-m", "flight_gateway.cli", "serve", "--port", "0", "--data-dir", str(data_dir),
             "--demo-rows", str(demo_rows)],
            stdout=subprocess.PIPE, stderr=stderr, text=True, env=env,
        )  # fmt: skip
    assert process.stdout is not None
    line = _first_line(process.stdout, timeout)
    match = _LISTENING.search(line)
    if match is None:
        running = ServeProcess(process, "", data_dir, stderr_path)
        running.stop()
        raise AssertionError(f"serve did not start: first line {line!r}; stderr:\n{running.stderr()}")
    return ServeProcess(process, match.group(1), data_dir, stderr_path)
