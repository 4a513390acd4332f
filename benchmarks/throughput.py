"""Bulk read throughput: the same N-row result through the gateway (ADBC) and straight from DuckDB.

    python benchmarks/throughput.py [--rows N] [--repeat K]

The data (id bigint, v bigint, d double, s varchar) is materialized once into a DuckDB file. The
gateway runs as a subprocess (`python -m flight_gateway.cli serve --config ... --port 0`) with
that file as its only tenant; the client reads the result with ADBC Flight SQL (`execute` +
`fetch_arrow_table`). The direct path reads a byte-identical copy of the file in this process
(`duckdb.connect(path).sql(q).to_arrow_table()`): the copy is needed because the gateway holds
DuckDB's exclusive file lock on its own file. After one warm-up each, the paths alternate K
times; the ratio is direct time / gateway time (1.0 = the gateway adds nothing).

Two breakdown paths (skip with --no-breakdown) split the gateway's time: the same gateway read
with pyarrow.flight's C++ client instead of ADBC's Go driver, and DuckDB's streaming reader
(`to_arrow_reader(batch_rows)`, what the gateway's engine calls) in this process. Every run also
records the CPU seconds of this process and of the gateway process: on a machine where client,
gateway and DuckDB share few cores, direct CPU / (client + gateway CPU) bounds the ratio.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as fl
from _gateway import GatewayProcess, PySpy, pin_process, running_gateway
from _report import command_line, machine_table, markdown_table, median, run_in_work_dir
from google.protobuf import any_pb2

from auth import hash_password
from flight_gateway.protocol import flightsql_pb2 as pb

TARGET_RATIO = 0.8
TABLE = "bench"
QUERY = f"select id, v, d, s from {TABLE}"
USERNAME = "bench"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="result size in rows (default 10,000,000)")
    parser.add_argument("--repeat", type=int, default=5, help="measured runs per path after 1 warm-up (default 5)")
    parser.add_argument("--work-dir", type=Path, help="keep data, config and gateway log here (default: a temp dir)")
    parser.add_argument("--batch-rows", type=int, help="gateway batch_rows setting (default: the gateway's)")
    parser.add_argument(
        "--no-breakdown",
        action="store_true",
        help="skip the breakdown paths (pyarrow.flight client, DuckDB's streaming reader)",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="gateway on CPU 0, this process (client and direct DuckDB) on CPU 1: no core sharing",
    )
    parser.add_argument("--py-spy", type=Path, metavar="FILE", help="profile the gateway during measured runs")
    parser.add_argument("--py-spy-native", action="store_true", help="include native frames in the profile")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.repeat < 1:
        parser.error("--rows and --repeat must be positive")
    return args


def materialize(path: Path, rows: int) -> None:
    """The benchmark table: 4 columns, one of them a string of 5-12 characters."""
    con = duckdb.connect(str(path))
    try:
        con.execute(
            f"create table {TABLE} as select "
            "i::bigint as id, (i * 7919) % 1000003 as v, (i / 7)::double as d, 'row-' || i::varchar as s "
            "from range($rows) t(i)",
            {"rows": rows},
        )
        con.execute("checkpoint")
    finally:
        con.close()


def write_config(work: Path, database: Path, password: str, batch_rows: int | None) -> Path:
    """A TOML config with one tenant on `database` and one user; no demo tenants."""

    def s(value: object) -> str:  # a TOML basic string (JSON escaping is valid TOML)
        return json.dumps(str(value))

    lines = [
        "host = " + s("127.0.0.1"),
        "port = 0",
        "demo = false",
        "data_dir = " + s(work / "state"),
        "log_level = " + s("INFO"),
    ]
    if batch_rows is not None:
        lines.append(f"batch_rows = {batch_rows}")
    lines += [
        f"tenants = [{{ id = {s(TABLE)}, engine = {s('duckdb')}, database = {s(database)}, read_only = true }}]",
        f"users = [{{ username = {s(USERNAME)}, password_hash = {s(hash_password(password))}, tenant = {s(TABLE)} }}]",
    ]
    config = work / "gateway.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


@dataclass(frozen=True)
class Sample:
    seconds: float  # wall clock
    client_cpu: float  # CPU seconds of this process (ADBC's Go driver threads, or in-process DuckDB)
    gateway_cpu: float  # CPU seconds of the gateway process


def timed(read: Callable[[], pa.Table], gateway: GatewayProcess) -> tuple[Sample, pa.Table]:
    gateway_cpu, client_cpu = gateway.cpu_seconds(), time.process_time()
    start = time.perf_counter()
    table = read()
    seconds = time.perf_counter() - start
    sample = Sample(seconds, time.process_time() - client_cpu, gateway.cpu_seconds() - gateway_cpu)
    return sample, table


def check(table: pa.Table, rows: int, expected_v_sum: int | None, what: str) -> int:
    if table.num_rows != rows:
        raise SystemExit(f"{what} returned {table.num_rows} rows, expected {rows}")
    if table.column_names != ["id", "v", "d", "s"]:
        raise SystemExit(f"{what} returned columns {table.column_names}")
    v_sum = int(pc.sum(table.column("v")).as_py())
    if expected_v_sum is not None and v_sum != expected_v_sum:
        raise SystemExit(f"{what}: sum(v) = {v_sum}, direct DuckDB says {expected_v_sum}")
    return v_sum


def run(args: argparse.Namespace, work: Path) -> str:
    direct_db = work / "direct" / f"{TABLE}.duckdb"
    gateway_db = work / "gateway" / f"{TABLE}.duckdb"
    direct_db.parent.mkdir(parents=True, exist_ok=True)
    gateway_db.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    materialize(direct_db, args.rows)
    shutil.copyfile(direct_db, gateway_db)
    print(f"materialized {args.rows:,} rows in {time.perf_counter() - started:.1f}s ({work})", file=sys.stderr)

    password = secrets.token_urlsafe(16)
    config = write_config(work, gateway_db, password, args.batch_rows)
    serve_args = ["--config", str(config), "--port", "0"]
    with running_gateway(serve_args, log_path=work / "gateway.log") as gateway:
        if args.pin:
            if (os.cpu_count() or 1) < 2:
                raise SystemExit("--pin needs at least 2 CPUs")
            pin_process(gateway.pid, {0})
            pin_process(os.getpid(), {1})
        return measure(args, gateway, password, direct_db)


PATHS = {
    "gateway": "gateway: ADBC Flight SQL → gateway subprocess → DuckDB",
    "direct": "direct: in-process DuckDB `to_arrow_table()`",
    "gateway-pyarrow": "breakdown: gateway read with pyarrow.flight (C++ client) instead of ADBC (Go)",
    "duckdb-reader": "breakdown: in-process DuckDB `to_arrow_reader(batch_rows)`, the gateway's engine call",
}


def measure(args: argparse.Namespace, gateway: GatewayProcess, password: str, direct_db: Path) -> str:
    db_kwargs = {"username": USERNAME, "password": password}
    batch_rows = args.batch_rows or 65_536
    with (
        flight_sql.connect(gateway.uri, db_kwargs=db_kwargs, autocommit=True) as conn,
        conn.cursor() as cursor,
        duckdb.connect(str(direct_db), read_only=True) as duck,
    ):
        flight = fl.FlightClient(gateway.uri)
        options = fl.FlightCallOptions(headers=[flight.authenticate_basic_token(USERNAME, password)])
        command = any_pb2.Any()
        command.Pack(pb.CommandStatementQuery(query=QUERY))

        def via_gateway() -> pa.Table:
            cursor.execute(QUERY)
            table: pa.Table = cursor.fetch_arrow_table()
            return table

        def direct() -> pa.Table:
            table: pa.Table = duck.sql(QUERY).to_arrow_table()
            return table

        def via_pyarrow() -> pa.Table:
            descriptor = fl.FlightDescriptor.for_command(command.SerializeToString())
            info = flight.get_flight_info(descriptor, options)
            table: pa.Table = flight.do_get(info.endpoints[0].ticket, options).read_all()
            return table

        def duckdb_reader() -> pa.Table:
            with duck.cursor() as cur:
                reader = cur.sql(QUERY).to_arrow_reader(batch_rows)
                return pa.Table.from_batches(list(reader), reader.schema)

        readers: dict[str, Callable[[], pa.Table]] = {"gateway": via_gateway, "direct": direct}
        if not args.no_breakdown:
            readers |= {"gateway-pyarrow": via_pyarrow, "duckdb-reader": duckdb_reader}

        # Warm-up (caches, DuckDB buffer pools, connections), checked for equal content.
        warm, table = timed(direct, gateway)
        v_sum = check(table, args.rows, None, "direct DuckDB")
        nbytes, schemas = {"direct": table.nbytes}, {"direct": table.schema}
        del table
        for name, read in readers.items():
            if name != "direct":
                warm, table = timed(read, gateway)
                check(table, args.rows, v_sum, name)
                nbytes[name], schemas[name] = table.nbytes, table.schema
                del table
            print(f"warm-up {name}: {warm.seconds:.3f}s", file=sys.stderr)
        gc.collect()

        samples: dict[str, list[Sample]] = {name: [] for name in readers}
        profile: Any = PySpy(gateway.pid, args.py_spy, native=args.py_spy_native) if args.py_spy else nullcontext()
        with profile:
            for i in range(args.repeat):
                order = list(readers) if i % 2 == 0 else list(reversed(readers))
                for name in order:
                    sample, table = timed(readers[name], gateway)
                    if table.num_rows != args.rows:
                        raise SystemExit(f"{name} returned {table.num_rows} rows")
                    del table
                    gc.collect()
                    samples[name].append(sample)
                    print(
                        f"run {i + 1}/{args.repeat} {name}: {sample.seconds:.3f}s "
                        f"(CPU s: client {sample.client_cpu:.2f}, gateway {sample.gateway_cpu:.2f})",
                        file=sys.stderr,
                    )
        flight.close()

    return report(args, samples, nbytes, schemas)


def report(
    args: argparse.Namespace,
    samples: dict[str, list[Sample]],
    nbytes: dict[str, int],
    schemas: dict[str, pa.Schema],
) -> str:
    times = {name: [s.seconds for s in runs] for name, runs in samples.items()}
    rows = []
    for name in samples:
        best, mid = min(times[name]), median(times[name])
        rows.append(
            [
                PATHS[name],
                f"{args.rows:,}",
                f"{nbytes[name] / 1e6:,.0f}",
                len(times[name]),
                f"{best:.3f}",
                f"{mid:.3f}",
                f"{args.rows / mid / 1e6:.2f} M",
                f"{nbytes[name] / mid / 1e6:,.0f}",
                f"{median([s.client_cpu for s in samples[name]]):.2f}",
                f"{median([s.gateway_cpu for s in samples[name]]):.2f}",
            ]
        )
    ratio_median = median(times["direct"]) / median(times["gateway"])
    ratio_min = min(times["direct"]) / min(times["gateway"])
    verdict = "met" if ratio_median >= TARGET_RATIO else "MISSED"
    direct_cpu = median([s.client_cpu for s in samples["direct"]])
    client_cpu = median([s.client_cpu for s in samples["gateway"]])
    gateway_cpu = median([s.gateway_cpu for s in samples["gateway"]])
    if args.pin:  # client and gateway on their own core each: the busier one sets the pace
        ceiling = direct_cpu / max(client_cpu, gateway_cpu)
        bound = "direct CPU / max(gateway CPU, client CPU), the ratio if the two sides overlapped perfectly"
    else:  # client, gateway and DuckDB share all cores
        ceiling = direct_cpu / (client_cpu + gateway_cpu)
        bound = "direct CPU / (gateway CPU + client CPU), the ratio if every path kept all cores busy"
    header = ["path", "rows", "Arrow MB", "runs", "min s", "median s", "rows/s (median)", "MB/s (median)"]
    figures = markdown_table([*header, "client CPU s", "gateway CPU s"], rows)
    each = markdown_table(
        ["path", *[f"run {i + 1} s" for i in range(args.repeat)]],
        [[name, *[f"{t:.3f}" for t in times[name]]] for name in samples],
    )
    fields = ", ".join(f"{f.name} {f.type}" for f in schemas["gateway"])
    same = all(schema.equals(schemas["gateway"]) for schema in schemas.values())
    cores = os.cpu_count() or 1
    return "\n".join(
        [
            f"## Throughput: {args.rows:,} rows × 4 columns ({date.today().isoformat()})",
            "",
            f"Command: `{command_line()}`",
            "",
            f"Query: `{QUERY}`; result schema: {fields} ({'same on every path' if same else 'differs'}); "
            f"gateway batch_rows {args.batch_rows or 'default (65,536)'}. "
            "MB = 10^6 bytes of Arrow buffers (`Table.nbytes`). CPU s = median user+system CPU seconds "
            "per run of the benchmark process (client: ADBC's Go threads, or in-process DuckDB) and of the "
            f"gateway process; {cores} cores give at most {cores} CPU seconds per wall-clock second.",
            "",
            *(
                [
                    "**Pinned** (`--pin`): the gateway runs on CPU 0 only, this process (ADBC client and "
                    "direct DuckDB) on CPU 1 only, so the client no longer competes with the gateway; every "
                    "path gets one core.",
                    "",
                ]
                if args.pin
                else []
            ),
            figures,
            "",
            f"**Throughput ratio gateway/direct** (direct time / gateway time): "
            f"**{ratio_median:.2f}** on medians, {ratio_min:.2f} on best runs "
            f"(target ≥ {TARGET_RATIO}: {verdict}). CPU-bound ceiling of the ratio in this set-up: "
            f"{ceiling:.2f} = {bound}; CPU time moves much less with other load on the machine than "
            "wall-clock time.",
            "",
            "Every measured run, in order (the order of paths reverses on every other round):",
            "",
            each,
            "",
            machine_table(),
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_in_work_dir(args.work_dir, "fg-throughput-", lambda work: run(args, work))


if __name__ == "__main__":
    sys.exit(main())
