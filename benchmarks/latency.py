"""One-row query latency through the gateway (ADBC), next to the same query on DuckDB in-process.

    python benchmarks/latency.py [--runs 1000] [--warmup 50]

The gateway runs as a subprocess in demo mode (`flight-gateway serve --port 0 --data-dir <tmp>`,
password from FLIGHT_GATEWAY_DEMO_PASSWORD) and the client logs in as `acme`. Paths measured:

* gateway, same cursor: `cursor.execute(q)` + `fetchall()` on one cursor; ADBC keeps the prepared
  statement of an unchanged query text, so an execute is GetFlightInfo + DoGet.
* gateway, new cursor: a cursor per execute (the usual DB-API pattern), so an execute also
  creates and closes a prepared statement: CreatePreparedStatement, GetFlightInfo, DoGet,
  ClosePreparedStatement.
* DuckDB direct: `con.execute(q).fetchall()` on a copy of the tenant's database file, opened
  read-only in this process (the gateway holds DuckDB's exclusive lock on its own file).
* DuckDB via the gateway's engine: the gateway's own `DuckDBEngine` in this process (session,
  describe, execute to an Arrow reader, read), i.e. the engine's share of a gateway execute.

Paths alternate in chunks so slow drifts of the machine hit all of them. Then, unless --no-trace,
a second gateway started through benchmarks/_traced_serve.py counts the RPCs of each execute and
the time its Python handlers take.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import duckdb
from _gateway import STUB_CLI, TRACED_CLI, GatewayProcess, PySpy, RpcTrace, running_gateway
from _report import command_line, machine_table, markdown_table, percentile, run_in_work_dir

TARGET_P50_MS = 3.0
TARGET_P99_MS = 10.0
TENANT = "acme"
DEFAULT_QUERY = "select * from customers where customer_id = 42"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000, help="measured executes per path (default 1000)")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured executes per path first (default 50)")
    parser.add_argument("--chunk", type=int, default=100, help="executes per path before switching (default 100)")
    parser.add_argument("--query", default=DEFAULT_QUERY, help=f"one-row query (default: {DEFAULT_QUERY})")
    parser.add_argument("--demo-rows", type=int, default=100_000, help="demo dataset size (default 100,000)")
    parser.add_argument("--work-dir", type=Path, help="keep the gateway's data dir and log here (default: temp)")
    parser.add_argument("--trace-runs", type=int, default=200, help="executes per path in the RPC trace")
    parser.add_argument("--no-trace", action="store_true", help="skip the RPC trace phase")
    parser.add_argument("--py-spy", type=Path, metavar="FILE", help="profile the gateway during measured runs")
    parser.add_argument("--py-spy-native", action="store_true", help="include native frames in the profile")
    args = parser.parse_args(argv)
    if min(args.runs, args.chunk, args.trace_runs) < 1 or args.warmup < 0:
        parser.error("--runs, --chunk and --trace-runs must be positive, --warmup not negative")
    return args


@dataclass
class PathResult:
    label: str
    rpcs: str
    millis: list[float] = field(default_factory=list)
    client_cpu: float = 0.0  # seconds, this process
    server_cpu: float = 0.0  # seconds, the server process (gateway or stub), if any

    def per_op_ms(self, seconds: float) -> str:
        return f"{seconds / len(self.millis) * 1e3:.2f}" if self.millis else "-"


Op = Callable[[], object]


def gateway_ops(conn: Any, query: str, stack: ExitStack) -> dict[str, Op]:
    cursor = stack.enter_context(conn.cursor())  # closed before the connection

    def same_cursor() -> object:
        cursor.execute(query)
        return cursor.fetchall()

    def new_cursor() -> object:
        with conn.cursor() as fresh:
            fresh.execute(query)
            return fresh.fetchall()

    return {"gateway-same-cursor": same_cursor, "gateway-new-cursor": new_cursor}


def engine_op(database: Path, query: str) -> tuple[Op | None, str]:
    """The gateway's DuckDB engine in-process; None (and why) if its internal API has moved on."""
    try:
        from auth import Tenant
        from flight_gateway.engines.duckdb.engine import DuckDBEngine

        engine = DuckDBEngine({TENANT: str(database)})
        tenant = Tenant(id=TENANT, engine="duckdb", database=str(database))

        def run() -> object:
            with engine.session(tenant) as session:
                session.describe(query)
                return session.execute(query, None, 65_536).read_all().to_pylist()

        run()
    except Exception as exc:  # a benchmark of internals must not die with them
        return None, f"engine path skipped: {type(exc).__name__}: {exc}"
    return run, ""


def measure(
    args: argparse.Namespace,
    gateway: GatewayProcess,
    ops: dict[str, tuple[Op, GatewayProcess | None]],
    labels: dict[str, str],
) -> dict[str, PathResult]:
    results = {}
    for name in ops:
        label, rpcs = labels[name].split("|")
        results[name] = PathResult(label, rpcs)
    for op, _ in ops.values():
        for _ in range(args.warmup):
            op()
    profile: Any = PySpy(gateway.pid, args.py_spy, native=args.py_spy_native) if args.py_spy else nullcontext()
    done = 0
    with profile:
        while done < args.runs:
            chunk = min(args.chunk, args.runs - done)
            for name, (op, server) in ops.items():
                result = results[name]
                server_cpu = server.cpu_seconds() if server else 0.0
                client_cpu = time.process_time()
                for _ in range(chunk):
                    start = time.perf_counter_ns()
                    op()
                    result.millis.append((time.perf_counter_ns() - start) / 1e6)
                result.client_cpu += time.process_time() - client_cpu
                result.server_cpu += server.cpu_seconds() - server_cpu if server else 0.0
            done += chunk
            print(f"{done}/{args.runs} runs per path", file=sys.stderr)
    return results


def trace(args: argparse.Namespace, serve_args: list[str], env: dict[str, str], work: Path, password: str) -> str:
    """RPCs per execute and Python handler time per RPC, from a gateway with counting handlers."""
    trace_file = work / "rpc-trace.json"
    rows: list[list[object]] = []
    with running_gateway(
        serve_args,
        log_path=work / "gateway-traced.log",
        env={**env, "FG_BENCH_TRACE_FILE": str(trace_file)},
        launcher=TRACED_CLI,
    ) as gateway:
        rpc_trace = RpcTrace(gateway, trace_file)
        with ExitStack() as stack:
            conn = stack.enter_context(
                flight_sql.connect(gateway.uri, db_kwargs={"username": TENANT, "password": password}, autocommit=True)
            )
            for name, op in gateway_ops(conn, args.query, stack).items():
                for _ in range(args.warmup):
                    op()
                before = rpc_trace.snapshot()
                millis = []
                for _ in range(args.trace_runs):
                    start = time.perf_counter_ns()
                    op()
                    millis.append((time.perf_counter_ns() - start) / 1e6)
                after = rpc_trace.snapshot()
                total_handler = 0.0
                for rpc in sorted(after):
                    calls = after[rpc][0] - before.get(rpc, (0, 0.0))[0]
                    seconds = after[rpc][1] - before.get(rpc, (0, 0.0))[1]
                    if calls:
                        total_handler += seconds
                        rows.append([name, rpc, f"{calls / args.trace_runs:.2f}", f"{seconds / calls * 1e3:.3f}"])
                rows.append(
                    [
                        name,
                        "**all handlers** (vs. client-side p50)",
                        "",
                        f"{total_handler / args.trace_runs * 1e3:.3f} per execute "
                        f"(p50 {statistics.median(millis):.3f} in this run)",
                    ]
                )
    table = markdown_table(["path", "RPC", "calls per execute", "Python handler ms per call"], rows, align="llrr")
    return "\n".join(
        [
            f"RPC trace ({args.trace_runs} executes per path after {args.warmup} warm-up, gateway started via "
            "`benchmarks/_traced_serve.py`; handler time is the Python handler only, for DoGet without "
            "sending the stream):",
            "",
            table,
        ]
    )


def run(args: argparse.Namespace, work: Path) -> str:
    password = secrets.token_urlsafe(16)
    env = {"FLIGHT_GATEWAY_DEMO_PASSWORD": password}
    state = work / "state"
    serve_args = ["--port", "0", "--data-dir", str(state), "--demo-rows", str(args.demo_rows)]
    labels = {
        "gateway-same-cursor": "gateway: ADBC, same cursor|GetFlightInfo + DoGet",
        "gateway-new-cursor": "gateway: ADBC, new cursor per execute"
        "|CreatePrepared + GetFlightInfo + DoGet + ClosePrepared",
        "stub": "floor: ADBC, same cursor, do-nothing Flight SQL stub server (no auth, canned result)"
        "|GetFlightInfo + DoGet",
        "direct": "DuckDB direct: `con.execute(q).fetchall()`|-",
        "engine": "DuckDB via the gateway's engine in-process (describe + execute + read)|-",
    }
    with ExitStack() as stack:
        gateway = stack.enter_context(running_gateway(serve_args, log_path=work / "gateway.log", env=env))
        # Copies taken before the gateway's first query opens (and locks) its file.
        demo_db = state / "demo" / f"rows-{args.demo_rows}" / f"{TENANT}.duckdb"
        copies = {}
        for name in ("direct", "engine"):
            copies[name] = work / name / f"{TENANT}.duckdb"
            copies[name].parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(demo_db, copies[name])
        stub = stack.enter_context(
            running_gateway(
                ["--database", str(copies["direct"]), "--query", args.query],
                log_path=work / "stub.log",
                launcher=STUB_CLI,
            )
        )
        conn = stack.enter_context(
            flight_sql.connect(gateway.uri, db_kwargs={"username": TENANT, "password": password}, autocommit=True)
        )
        stub_conn = stack.enter_context(flight_sql.connect(stub.uri, autocommit=True))
        duck = stack.enter_context(duckdb.connect(str(copies["direct"]), read_only=True))

        def direct() -> object:
            return duck.execute(args.query).fetchall()

        ops: dict[str, tuple[Op, GatewayProcess | None]] = {
            name: (op, gateway) for name, op in gateway_ops(conn, args.query, stack).items()
        }
        ops["stub"] = (gateway_ops(stub_conn, args.query, stack)["gateway-same-cursor"], stub)
        ops["direct"] = (direct, None)
        engine, skipped = engine_op(copies["engine"], args.query)
        if engine is not None:
            ops["engine"] = (engine, None)
        else:
            print(skipped, file=sys.stderr)

        gateway_rows, direct_rows = ops["gateway-same-cursor"][0](), direct()
        if gateway_rows != direct_rows:
            print(f"warning: gateway returned {gateway_rows!r}, DuckDB {direct_rows!r}", file=sys.stderr)
        results = measure(args, gateway, ops, labels)
    traced = "" if args.no_trace else trace(args, serve_args, env, work, password)
    return report(args, results, traced, skipped, len(direct_rows) if isinstance(direct_rows, list) else -1)


def report(args: argparse.Namespace, results: dict[str, PathResult], traced: str, skipped: str, rows: int) -> str:
    table_rows = []
    for result in results.values():
        ms = sorted(result.millis)
        table_rows.append(
            [
                result.label,
                result.rpcs,
                len(ms),
                f"{percentile(ms, 50):.3f}",
                f"{percentile(ms, 99):.3f}",
                f"{statistics.mean(ms):.3f}",
                f"{ms[-1]:.3f}",
                f"{ms[0]:.3f}",
                result.per_op_ms(result.client_cpu),
                result.per_op_ms(result.server_cpu) if result.rpcs != "-" else "-",
            ]
        )
    header = ["path", "RPCs per execute", "runs", "p50 ms", "p99 ms", "mean ms", "max ms", "min ms"]
    figures = markdown_table([*header, "client CPU ms/op", "server CPU ms/op"], table_rows)
    verdicts = []
    for name in ("gateway-same-cursor", "gateway-new-cursor"):
        ms = sorted(results[name].millis)
        p50, p99 = percentile(ms, 50), percentile(ms, 99)
        verdicts.append(
            f"* {results[name].label}: p50 {p50:.2f} ms (target ≤ {TARGET_P50_MS:g}: "
            f"{'met' if p50 <= TARGET_P50_MS else 'MISSED'}), p99 {p99:.2f} ms (target ≤ {TARGET_P99_MS:g}: "
            f"{'met' if p99 <= TARGET_P99_MS else 'MISSED'})"
        )
    cores = os.cpu_count() or 1
    lines = [
        f"## Latency: one-row query ({date.today().isoformat()})",
        "",
        f"Command: `{command_line()}`",
        "",
        f"Query: `{args.query}` ({rows} row) as `{TENANT}` on the demo tenant ({args.demo_rows:,} demo rows). "
        f"{args.runs} measured executes per path after {args.warmup} warm-up, in chunks of {args.chunk} "
        "alternating between paths. Each execute includes fetching the rows as Python tuples. CPU ms/op = "
        "user+system CPU of the benchmark process (client: ADBC's Go threads, or in-process DuckDB) and of "
        f"the server process (gateway or stub) per execute; {cores} cores.",
        "",
        figures,
        "",
        *verdicts,
    ]
    if "stub" in results:
        gateway_ms, stub_ms = sorted(results["gateway-same-cursor"].millis), sorted(results["stub"].millis)
        added = percentile(gateway_ms, 50) - percentile(stub_ms, 50)
        runs = len(gateway_ms)
        cpu = (results["gateway-same-cursor"].server_cpu - results["stub"].server_cpu) / runs * 1e3
        engine = f"{percentile(sorted(results['engine'].millis), 50):.2f} ms" if "engine" in results else "n/a"
        lines += [
            "",
            f"Gateway's own share (same cursor minus the stub floor): p50 +{added:.2f} ms and +{cpu:.2f} ms of "
            f"server CPU per execute; the DuckDB work inside it, run in-process through the gateway's engine, "
            f"takes {engine} (p50). The floor itself (ADBC client + gRPC on this machine, server doing "
            f"nothing) is p50 {percentile(stub_ms, 50):.2f} ms.",
        ]
    if skipped:
        lines += ["", f"({skipped})"]
    if traced:
        lines += ["", traced]
    lines += ["", machine_table(), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_in_work_dir(args.work_dir, "fg-latency-", lambda work: run(args, work))


if __name__ == "__main__":
    sys.exit(main())
