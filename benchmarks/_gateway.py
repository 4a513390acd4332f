"""Run the gateway as a subprocess for benchmarks: free port, banner parsing, clean shutdown.

The gateway is started exactly as an operator would start it (`python -m flight_gateway.cli serve
--port 0 ...`), so what is measured includes the real CLI, settings and logging set-up. The port
comes from the first banner line (`flight-gateway X listening on grpc://HOST:PORT`); stderr (the
gateway's log) goes to a file next to the benchmark's other state so a failure can be explained.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

_BANNER = re.compile(r"^flight-gateway \S+ listening on (grpc(?:\+tls)?://(\S+):(\d+))\s*$")


class GatewayStartError(RuntimeError):
    """The gateway exited, or printed no banner in time; the message carries its log tail."""


@dataclass
class GatewayProcess:
    """A running `flight-gateway serve` subprocess."""

    proc: subprocess.Popen[str]
    uri: str
    port: int
    log_path: Path
    banner: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time the gateway process has used so far (all its threads)."""
        return process_cpu_seconds(self.proc.pid)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM (the gateway shuts down cleanly on it); SIGKILL if it is still alive after `timeout`."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return int(self.proc.returncode)


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, from /proc (Linux); NaN where /proc is unavailable."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin_process(pid: int, cpus: set[int]) -> None:
    """Restrict every thread of a process (and the threads they start) to `cpus` (Linux)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), cpus)
        except OSError:
            pass  # the thread ended meanwhile


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Forward stdout lines to `lines` (None at EOF) so the pipe never fills up."""
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


CLI = (sys.executable, "-m", "flight_gateway.cli")
TRACED_CLI = (sys.executable, str(Path(__file__).with_name("_traced_serve.py")))
STUB_CLI = (sys.executable, str(Path(__file__).with_name("_stub_flightsql.py")))


def start_gateway(
    args: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 300.0,
    launcher: Sequence[str] = CLI,
) -> GatewayProcess:
    """Start `python -m flight_gateway.cli serve <args>` and wait for its banner.

    `args` must include `--port 0` (or another port); `env` is added to this process's environment.
    The timeout is generous because the first start may generate demo data. `launcher` replaces
    `python -m flight_gateway.cli`, e.g. with TRACED_CLI (see _traced_serve.py).
    """
    command = [*launcher, "serve", *args]
    full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
            command, stdout=subprocess.PIPE, stderr=log, text=True, env=full_env
        )
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    deadline = time.monotonic() + timeout
    banner: list[str] = []
    match: re.Match[str] | None = None
    while match is None:
        remaining = deadline - time.monotonic()
        try:
            line = lines.get(timeout=max(remaining, 0.0)) if remaining > 0 else None
        except queue.Empty:
            line = None
        if line is None:
            running = GatewayProcess(proc, "", 0, log_path)
            code = running.stop(timeout=5)
            why = f"exited with code {code}" if remaining > 0 else f"printed no banner within {timeout:.0f}s"
            raise GatewayStartError(
                f"gateway {why}: {' '.join(command)}\n--- log tail ({log_path}) ---\n{running.log_tail()}"
            )
        banner.append(line)
        match = _BANNER.match(line)
    # Collect the rest of the banner briefly (it is printed in one write); later lines are ignored.
    time.sleep(0.05)
    while not lines.empty():
        extra = lines.get_nowait()
        if extra is not None:
            banner.append(extra)
    return GatewayProcess(proc, match.group(1), int(match.group(3)), log_path, banner)


@contextmanager
def running_gateway(
    args: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 300.0,
    launcher: Sequence[str] = CLI,
) -> Iterator[GatewayProcess]:
    """`start_gateway` as a context manager that always stops the process."""
    gateway = start_gateway(args, log_path=log_path, env=env, timeout=timeout, launcher=launcher)
    try:
        yield gateway
    finally:
        gateway.stop()


class RpcTrace:
    """Reads the RPC counters of a gateway started with TRACED_CLI and FG_BENCH_TRACE_FILE=path."""

    def __init__(self, gateway: GatewayProcess, path: Path) -> None:
        self._gateway = gateway
        self._path = path
        self._seq = 0

    def snapshot(self, timeout: float = 10.0) -> dict[str, tuple[int, float]]:
        """{rpc name: (calls, handler seconds)} so far, fresh from the gateway."""
        self._gateway.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = json.loads(self._path.read_text())
            except (OSError, ValueError):
                data = {"seq": self._seq}
            if data["seq"] > self._seq:
                self._seq = data["seq"]
                return {name: (int(calls), float(seconds)) for name, (calls, seconds) in data["rpcs"].items()}
            time.sleep(0.01)
        raise RuntimeError(f"the traced gateway wrote no snapshot to {self._path}")


class PySpy:
    """Optional sampling profile of the gateway process while a benchmark phase runs.

    `py-spy record --pid PID` (pip install py-spy); the output format follows the file suffix:
    `.svg` flame graph, `.json` speedscope, anything else py-spy's raw collapsed stacks (text,
    one stack per line with its sample count, easy to grep).
    """

    def __init__(self, pid: int, output: Path, *, native: bool = False, idle: bool = False, rate: int = 250) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(exe).exists():
            raise RuntimeError("py-spy is not installed: pip install py-spy")
        fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(output.suffix, "raw")
        self.output = output
        self._command = [exe, "record", "--pid", str(pid), "--output", str(output), "--format", fmt]
        self._command += ["--rate", str(rate), "--threads", "--full-filenames"]
        # Native stacks need the target paused while sampling; Python-only sampling does not.
        self._command.append("--native" if native else "--nonblocking")
        if idle:
            self._command.append("--idle")
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PySpy:
        self._proc = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
            self._command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        time.sleep(0.5)  # let py-spy attach before the measured work starts
        if self._proc.poll() is not None:
            err = self._proc.stderr.read() if self._proc.stderr else b""
            print(f"py-spy exited: {err.decode(errors='replace')[-500:]}", file=sys.stderr)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            _, err = self._proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            _, err = self._proc.communicate()
        if not self.output.exists():
            print(f"py-spy wrote no profile: {err.decode(errors='replace')[-500:]}", file=sys.stderr)
