"""Detached jobs and client request ids: what they cost next to the calls they replace.

    python benchmarks/detached.py [--calls N] [--rows N] [--repeat K] [--part-rows N] [--work-dir DIR]

The gateway runs as a subprocess (`python -m flight_gateway.cli serve --port 0`) with the demo
tenants; clients are pyarrow.flight (C++), one connection per path, opened before measuring.

* Request ids: a one-row query planned and read (GetFlightInfo + DoGet), N times per path, the
  paths interleaved: without the header; with a fresh `x-flight-gateway-request-id` per call (the
  claim in the job store, then the statement); and the same id every time (a retry: the claim is
  found and the first call's job is handed out again, the statement is not planned again).
* Detached: the same R-row query (`select i, i * 2, 'v' || i from range(R)`) as SubmitJob, polled
  with GetJob every 10 ms until SUCCEEDED, then GetFlightInfo on its job path and every part read;
  next to the synchronous offloaded statement (header `x-flight-gateway-delivery: offload`:
  GetFlightInfo returns once every part is written, then every part read). K runs each,
  alternating, after one warm-up each whose row count is checked.
"""

from __future__ import annotations

import argparse
import json
import math
import secrets
import sys
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pyarrow.flight as fl
from _gateway import GatewayProcess, running_gateway
from _report import command_line, machine_table, markdown_table, median, percentile, run_in_work_dir

# A throwaway demo password per run (the gateway only ever listens on loopback here).
PASSWORD = secrets.token_urlsafe(16)
ONE_ROW = "select 1 as one"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300, help="one-row calls per request-id path (default 300)")
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows of the detached query (default 2,000,000)")
    parser.add_argument("--repeat", type=int, default=5, help="measured runs per detached path (default 5)")
    parser.add_argument("--part-rows", type=int, default=500_000, help="gateway offload_part_rows (default 500,000)")
    parser.add_argument("--work-dir", type=Path, help="keep the gateway's data dir and log here")
    return parser.parse_args(argv)


def connect(gateway: GatewayProcess, *headers: tuple[str, str]) -> tuple[fl.FlightClient, fl.FlightCallOptions]:
    client = fl.FlightClient(gateway.uri)
    token = client.authenticate_basic_token("acme", PASSWORD)
    return client, fl.FlightCallOptions(headers=[token, *((k.encode(), v.encode()) for k, v in headers)])


def with_header(options: fl.FlightCallOptions, name: str, value: str) -> fl.FlightCallOptions:
    return fl.FlightCallOptions(headers=[*options.headers, (name.encode(), value.encode())])


def query(client: fl.FlightClient, options: fl.FlightCallOptions, sql: str) -> int:
    from flight_gateway.protocol import flightsql_pb2 as pb
    from flight_gateway.protocol.commands import pack

    info = client.get_flight_info(fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=sql))), options)
    return sum(client.do_get(endpoint.ticket, options).read_all().num_rows for endpoint in info.endpoints)


def action(client: fl.FlightClient, options: fl.FlightCallOptions, name: str, body: dict[str, str]) -> dict[str, str]:
    [result] = client.do_action(fl.Action(name, json.dumps(body).encode()), options)
    value: dict[str, str] = json.loads(result.body.to_pybytes())
    return value


def request_id_paths(gateway: GatewayProcess, calls: int) -> str:
    client, options = connect(gateway)
    same = with_header(options, "x-flight-gateway-request-id", f"bench-{uuid.uuid4()}")
    paths: dict[str, Callable[[], int]] = {
        "no request id": lambda: query(client, options, ONE_ROW),
        "fresh request id per call (claim + statement)": lambda: query(
            client, with_header(options, "x-flight-gateway-request-id", str(uuid.uuid4())), ONE_ROW
        ),
        "same request id every call (retry: replayed)": lambda: query(client, same, ONE_ROW),
    }
    times: dict[str, list[float]] = {name: [] for name in paths}
    for name, call in paths.items():  # warm-up, checked
        assert call() == 1, name
    for _ in range(calls):
        for name, call in paths.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    client.close()
    rows = []
    for name, values in times.items():
        ordered = sorted(values)
        rows.append([name, calls, f"{median(ordered) * 1000:.2f}", f"{percentile(ordered, 99) * 1000:.2f}"])
    return markdown_table(["path (GetFlightInfo + DoGet of one row)", "calls", "p50 ms", "p99 ms"], rows)


def detached_paths(gateway: GatewayProcess, rows: int, repeat: int) -> str:
    client, options = connect(gateway)
    offload = with_header(options, "x-flight-gateway-delivery", "offload")

    def submitted(sql: str) -> tuple[int, float, float]:
        start = time.perf_counter()
        job_id = action(client, options, "SubmitJob", {"sql": sql})["job_id"]
        answered = time.perf_counter() - start
        while action(client, options, "GetJob", {"job_id": job_id})["state"] != "SUCCEEDED":
            time.sleep(0.01)
        done = time.perf_counter() - start
        info = client.get_flight_info(fl.FlightDescriptor.for_path("jobs", job_id), options)
        count = sum(client.do_get(endpoint.ticket, options).read_all().num_rows for endpoint in info.endpoints)
        return count, answered, done

    def synchronous(sql: str) -> tuple[int, float, float]:
        return query(client, offload, sql), math.nan, math.nan

    paths = {"SubmitJob → poll GetJob → path FlightInfo → DoGet parts": submitted}
    paths["offloaded statement: GetFlightInfo → DoGet parts"] = synchronous
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in paths}
    for round_ in range(repeat + 1):
        order = list(paths.items()) if round_ % 2 == 0 else list(reversed(paths.items()))
        for name, run in order:
            sql = f"select i, i * 2 as j, 'v' || i as s from range({rows}) t(i)"
            start = time.perf_counter()
            count, answered, done = run(sql)
            total = time.perf_counter() - start
            if count != rows:
                raise SystemExit(f"{name}: {count} rows, expected {rows}")
            if round_:  # round 0 is the warm-up
                results[name].append((answered, done, total))
    client.close()
    table = []
    for name, runs in results.items():
        answered = [r[0] for r in runs]
        done = [r[1] for r in runs]
        total = [r[2] for r in runs]
        table.append(
            [
                name,
                rows,
                len(runs),
                "-" if math.isnan(answered[0]) else f"{median(answered) * 1000:.1f}",
                "-" if math.isnan(done[0]) else f"{median(done):.3f}",
                f"{min(total):.3f}",
                f"{median(total):.3f}",
            ]
        )
    header = ["path", "rows", "runs", "submit answered ms", "SUCCEEDED seen s", "min total s", "median total s"]
    return markdown_table(header, table)


def run(args: argparse.Namespace, work: Path) -> str:
    serve = ["--port", "0", "--data-dir", str(work / "data"), "--demo-rows", "1000", "--demo"]
    env = {"FLIGHT_GATEWAY_DEMO_PASSWORD": PASSWORD, "FLIGHT_GATEWAY_OFFLOAD_PART_ROWS": str(args.part_rows)}
    with running_gateway(serve, log_path=work / "gateway.log", env=env) as gateway:
        print("request ids ...", file=sys.stderr)
        ids = request_id_paths(gateway, args.calls)
        print("detached jobs ...", file=sys.stderr)
        detached = detached_paths(gateway, args.rows, args.repeat)
    return "\n\n".join(
        [
            f"### Detached jobs and request ids ({date.today().isoformat()})",
            f"Command: `{command_line()}`",
            ids,
            detached,
            machine_table(),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_in_work_dir(args.work_dir, "fg-detached-", lambda work: run(args, work))


if __name__ == "__main__":
    sys.exit(main())
