"""`flight-gateway serve`, with every Flight RPC the server handles counted and timed.

    python benchmarks/_traced_serve.py serve --port 0 ... (same arguments as the CLI)

A diagnostic for the latency benchmark: it wraps the public Flight handlers of
`GatewayFlightServer` (GetFlightInfo, GetSchema, DoGet, DoPut, DoAction per action type,
ListActions), then runs the real CLI unchanged. On SIGUSR1 it writes a JSON snapshot
`{"seq": n, "rpcs": {name: [count, handler_seconds]}}` to $FG_BENCH_TRACE_FILE, so a benchmark can
take the difference around a measured loop. Handler seconds cover the Python handler only: for
DoGet that is planning and starting the stream, not sending the batches.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_counts: dict[str, list[float]] = {}
_lock = threading.Lock()


def _record(name: str, seconds: float) -> None:
    with _lock:
        entry = _counts.setdefault(name, [0, 0.0])
        entry[0] += 1
        entry[1] += seconds


def _wrap(method: Callable[..., Any], name: str | None) -> Callable[..., Any]:
    @functools.wraps(method)
    def traced(self: Any, context: Any, *args: Any) -> Any:
        label = name or f"DoAction:{args[0].type}"
        start = time.perf_counter()
        try:
            return method(self, context, *args)
        finally:
            _record(label, time.perf_counter() - start)

    return traced


def _install() -> None:
    from flight_gateway.protocol.server import GatewayFlightServer as Server

    handlers = {
        "get_flight_info": "GetFlightInfo",
        "get_schema": "GetSchema",
        "do_get": "DoGet",
        "do_put": "DoPut",
        "do_action": None,  # labelled by action type
        "list_actions": "ListActions",
    }
    for attribute, name in handlers.items():
        setattr(Server, attribute, _wrap(getattr(Server, attribute), name))


def _dump_on_signal(path: Path) -> None:
    seq = 0
    while True:
        signal.sigwait({signal.SIGUSR1})
        seq += 1
        with _lock:
            snapshot = {"seq": seq, "rpcs": {k: list(v) for k, v in _counts.items()}}
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(snapshot))
        partial.replace(path)


def main() -> int:
    trace_file = os.environ.get("FG_BENCH_TRACE_FILE")
    if not trace_file:
        print("set FG_BENCH_TRACE_FILE to where snapshots go", file=sys.stderr)
        return 2
    # Block SIGUSR1 before any thread starts (threads inherit the mask): only the dumper receives it.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    threading.Thread(target=_dump_on_signal, args=(Path(trace_file),), daemon=True, name="rpc-trace").start()
    _install()
    from flight_gateway.cli import main as cli_main

    return int(cli_main(sys.argv[1:]))


if __name__ == "__main__":
    sys.exit(main())
