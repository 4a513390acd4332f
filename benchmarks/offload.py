"""Offloaded vs. streamed delivery: the same N-row result read as one stream and as Parquet parts.

    python benchmarks/offload.py [--rows N] [--repeat K] [--part-rows N] [--workers 2,4]

The data (id bigint, v bigint, d double, s varchar) is materialized once into a DuckDB file, the
same way throughput.py does. The gateway runs as a subprocess (`python -m flight_gateway.cli serve
--config ... --port 0`) with that file as its only tenant and `offload_mode = "auto"`; every
client connection picks the delivery per call with the header `x-flight-gateway-delivery` (ADBC
database option `adbc.flight.sql.rpc.call_header.x-flight-gateway-delivery`), which wins over the
mode. Paths, each reading `select id, v, d, s from bench`:

* stream: hint `stream`, `cursor.execute(q)` then `fetch_record_batch()`, one DoGet;
* offload, K workers: hint `offload`, `adbc_execute_partitions(q)` (GetFlightInfo returns once the
  gateway has written every Parquet part, `offload_part_rows` rows each), then K threads, each with
  its own ADBC connection (opened once, before the measurements), take partitions from a shared
  queue and read them with `adbc_read_partition` + `fetch_record_batch()`;
* offload, ADBC reader: hint `offload`, `cursor.execute(q)` + `fetch_arrow_table()`, for
  reference (ADBC's Go driver opens a DoGet per endpoint at once and hands the batches over in
  endpoint order, each endpoint buffering up to its queue size of batches).

Recorded per run: time until FlightInfo (execute / execute_partitions returned), until the first
record batch reached Python, and until every batch had (all from the start of the execute), plus
the CPU seconds of this process and of the gateway. Every run's row count must equal N; the
warm-up run of each path also checks sum(v) against DuckDB. After one warm-up each, the paths
alternate K times (the order reverses on every other round).

With `--s3` the gateway offloads to `offload_target = "s3://bench/offload"` on moto's S3 server,
started as its own process on loopback (so it competes for the same two cores). moto is an
in-memory emulator, not S3: the figures show the gateway's S3 code path (multipart uploads,
ranged GETs through boto3), not S3's latency or throughput.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from _gateway import GatewayProcess, running_gateway
from _report import command_line, machine_table, markdown_table, median, run_in_work_dir

from auth import hash_password

TABLE = "bench"
QUERY = f"select id, v, d, s from {TABLE}"
USERNAME = "bench"
HINT = "adbc.flight.sql.rpc.call_header.x-flight-gateway-delivery"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="result size in rows (default 10,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="measured runs per path after 1 warm-up (default 3)")
    parser.add_argument(
        "--part-rows",
        type=int,
        default=1_000_000,
        help="gateway offload_part_rows: rows per Parquet part (default 1,000,000)",
    )
    parser.add_argument(
        "--workers", default="2,4", help="comma-separated reader thread counts for the parallel paths (default 2,4)"
    )
    parser.add_argument("--batch-rows", type=int, help="gateway batch_rows setting (default: the gateway's)")
    parser.add_argument("--work-dir", type=Path, help="keep data, config, offloaded parts and gateway log here")
    parser.add_argument("--s3", action="store_true", help="offload to S3 on a local moto server instead of a directory")
    args = parser.parse_args(argv)
    try:
        args.workers = sorted({int(k) for k in args.workers.split(",") if k.strip()})
    except ValueError:
        parser.error("--workers must be comma-separated integers")
    if args.rows < 1 or args.repeat < 1 or args.part_rows < 1 or not args.workers or min(args.workers) < 1:
        parser.error("--rows, --repeat, --part-rows and --workers must be positive")
    return args


def materialize(path: Path, rows: int) -> int:
    """The benchmark table (as in throughput.py); returns sum(v) for the content check."""
    con = duckdb.connect(str(path))
    try:
        con.execute(
            f"create table {TABLE} as select "
            "i::bigint as id, (i * 7919) % 1000003 as v, (i / 7)::double as d, 'row-' || i::varchar as s "
            "from range($rows) t(i)",
            {"rows": rows},
        )
        con.execute("checkpoint")
        found = con.execute(f"select sum(v) from {TABLE}").fetchone()
        assert found is not None
        return int(found[0])
    finally:
        con.close()


MOTO = (
    "from moto.server import ThreadedMotoServer; import threading; "
    "s = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False); s.start(); "
    "print(s.get_host_and_port()[1], flush=True); threading.Event().wait()"
)
AWS_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


class Moto:
    """moto's S3 in its own process (not this one: it would share the client's GIL)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed code
            [sys.executable, "-c", MOTO], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.proc.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.proc.stdout.readline())}"
        import boto3

        self.s3 = boto3.client("s3", endpoint_url=self.url, region_name="us-east-1")  # credentials: AWS_ENV
        self.s3.create_bucket(Bucket="bench")

    def newest_result_bytes(self) -> int:
        sizes: dict[str, tuple[Any, int]] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket="bench"):
            for item in page.get("Contents", []):
                job, _, name = item["Key"].rpartition("/")
                newest, total = sizes.get(job, (item["LastModified"], 0))
                size = item["Size"] if name.endswith(".parquet") else 0
                sizes[job] = (max(newest, item["LastModified"]), total + size)
        return max(sizes.values(), key=lambda v: v[0])[1] if sizes else 0

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def write_config(
    work: Path, database: Path, password: str, args: argparse.Namespace, s3_url: str | None = None
) -> Path:
    """One tenant on `database`, one user, offload_mode auto, parts of --part-rows rows."""

    def s(value: object) -> str:  # a TOML basic string (JSON escaping is valid TOML)
        return json.dumps(str(value))

    lines = [
        "host = " + s("127.0.0.1"),
        "port = 0",
        "demo = false",
        "data_dir = " + s(work / "state"),
        "log_level = " + s("INFO"),
        "offload_mode = " + s("auto"),
        "offload_dir = " + s(work / "offload"),
        f"offload_part_rows = {args.part_rows}",
    ]
    if s3_url is not None:
        lines += ["offload_target = " + s("s3://bench/offload"), "offload_s3_endpoint_url = " + s(s3_url)]
    if args.batch_rows is not None:
        lines.append(f"batch_rows = {args.batch_rows}")
    lines += [
        f"tenants = [{{ id = {s(TABLE)}, engine = {s('duckdb')}, database = {s(database)}, read_only = true }}]",
        f"users = [{{ username = {s(USERNAME)}, password_hash = {s(hash_password(password))}, tenant = {s(TABLE)} }}]",
    ]
    config = work / "gateway.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


@dataclass(frozen=True)
class Read:
    """What a path hands back: the batches it read, when FlightInfo and the first batch arrived."""

    batches: list[pa.RecordBatch]
    info_at: float  # perf_counter when execute / execute_partitions returned
    first_at: float  # perf_counter when the first record batch reached Python
    endpoints: int


@dataclass(frozen=True)
class Sample:
    info: float  # seconds from the start until FlightInfo
    first: float  # seconds from the start until the first batch
    total: float  # seconds from the start until the last batch
    client_cpu: float
    gateway_cpu: float


def drain(reader: pa.RecordBatchReader, batches: list[pa.RecordBatch]) -> float:
    """Append every batch of `reader` to `batches`; returns when the first one arrived (inf if none)."""
    first = math.inf
    try:
        for batch in reader:
            if first == math.inf:
                first = time.perf_counter()
            batches.append(batch)
    finally:
        reader.close()
    return first


def timed(read: Callable[[float], Read], gateway: GatewayProcess) -> tuple[Sample, Read]:
    gateway_cpu, client_cpu = gateway.cpu_seconds(), time.process_time()
    start = time.perf_counter()
    result = read(start)
    end = time.perf_counter()
    sample = Sample(
        result.info_at - start,
        result.first_at - start,
        end - start,
        time.process_time() - client_cpu,
        gateway.cpu_seconds() - gateway_cpu,
    )
    return sample, result


def check(result: Read, rows: int, v_sum: int | None, what: str) -> None:
    got = sum(batch.num_rows for batch in result.batches)
    if got != rows:
        raise SystemExit(f"{what} returned {got:,} rows, expected {rows:,}")
    if v_sum is not None:
        table = pa.Table.from_batches(result.batches)
        if table.column_names != ["id", "v", "d", "s"]:
            raise SystemExit(f"{what} returned columns {table.column_names}")
        found = int(pc.sum(table.column("v")).as_py())
        if found != v_sum:
            raise SystemExit(f"{what}: sum(v) = {found}, DuckDB says {v_sum}")


def run(args: argparse.Namespace, work: Path) -> str:
    database = work / "data" / f"{TABLE}.duckdb"
    database.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    v_sum = materialize(database, args.rows)
    print(f"materialized {args.rows:,} rows in {time.perf_counter() - started:.1f}s ({work})", file=sys.stderr)
    password = secrets.token_urlsafe(16)
    os.environ.update(AWS_ENV if args.s3 else {})  # moto takes any credentials; this process's client too
    moto = Moto() if args.s3 else None
    try:
        config = write_config(work, database, password, args, moto.url if moto else None)
        log = work / "gateway.log"
        with running_gateway(["--config", str(config), "--port", "0"], log_path=log, env=AWS_ENV) as gateway:
            return measure(args, gateway, password, v_sum, work / "offload", moto)
    finally:
        if moto is not None:
            moto.stop()


def path_names(workers: list[int]) -> dict[str, str]:
    names = {"stream": "stream: `execute` + `fetch_record_batch`, one DoGet"}
    for k in workers:
        names[f"offload-{k}"] = f"offload, {k} reader threads: `adbc_execute_partitions` + `adbc_read_partition` each"
    names["offload-adbc"] = "offload, ADBC reader: `execute` + `fetch_arrow_table` (for reference)"
    return names


def measure(
    args: argparse.Namespace, gateway: GatewayProcess, password: str, v_sum: int, offload_dir: Path, moto: Moto | None
) -> str:
    login = {"username": USERNAME, "password": password}

    def connect(hint: str | None) -> Any:
        return flight_sql.connect(gateway.uri, db_kwargs={**login, **({HINT: hint} if hint else {})}, autocommit=True)

    stream_conn, offload_conn = connect("stream"), connect("offload")
    workers = [connect(None) for _ in range(max(args.workers))]  # partitions need no hint
    cursors = [conn.cursor() for conn in (stream_conn, offload_conn, *workers)]
    stream_cur, offload_cur, worker_curs = cursors[0], cursors[1], cursors[2:]
    expected_parts = math.ceil(args.rows / args.part_rows)
    try:

        def stream(start: float) -> Read:
            stream_cur.execute(QUERY)
            info_at = time.perf_counter()
            batches: list[pa.RecordBatch] = []
            first_at = drain(stream_cur.fetch_record_batch(), batches)
            return Read(batches, info_at, first_at, 1)

        def offload_parallel(k: int) -> Callable[[float], Read]:
            def read(start: float) -> Read:
                partitions, _schema = offload_cur.adbc_execute_partitions(QUERY)
                info_at = time.perf_counter()
                if len(partitions) != expected_parts:
                    raise SystemExit(f"offload gave {len(partitions)} partitions, expected {expected_parts}")
                todo: queue.SimpleQueue[bytes] = queue.SimpleQueue()
                for partition in partitions:
                    todo.put(partition)
                results: list[list[pa.RecordBatch]] = [[] for _ in range(k)]
                firsts = [math.inf] * k
                errors: list[BaseException] = []

                def work(i: int) -> None:
                    cur = worker_curs[i]
                    try:
                        while True:
                            try:
                                partition = todo.get_nowait()
                            except queue.Empty:
                                return
                            cur.adbc_read_partition(partition)
                            firsts[i] = min(firsts[i], drain(cur.fetch_record_batch(), results[i]))
                    except BaseException as exc:  # re-raised in the caller
                        errors.append(exc)

                threads = [threading.Thread(target=work, args=(i,)) for i in range(k)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                if errors:
                    raise errors[0]
                return Read([b for batches in results for b in batches], info_at, min(firsts), len(partitions))

            return read

        def offload_adbc(start: float) -> Read:
            offload_cur.execute(QUERY)
            info_at = time.perf_counter()
            table: pa.Table = offload_cur.fetch_arrow_table()
            # fetch_arrow_table gives no first-batch time: reported as the total.
            return Read(table.to_batches(), info_at, time.perf_counter(), expected_parts)

        readers: dict[str, Callable[[float], Read]] = {"stream": stream}
        for k in args.workers:
            readers[f"offload-{k}"] = offload_parallel(k)
        readers["offload-adbc"] = offload_adbc

        # Warm-up: every path once, row count and sum(v) checked.
        for name, read in readers.items():
            warm, result = timed(read, gateway)
            check(result, args.rows, v_sum, name)
            del result
            gc.collect()
            print(f"warm-up {name}: {warm.total:.3f}s (FlightInfo {warm.info:.3f}s)", file=sys.stderr)
        parquet_bytes = moto.newest_result_bytes() if moto else _last_offload_bytes(offload_dir)

        samples: dict[str, list[Sample]] = {name: [] for name in readers}
        for i in range(args.repeat):
            order = list(readers) if i % 2 == 0 else list(reversed(readers))
            for name in order:
                sample, result = timed(readers[name], gateway)
                check(result, args.rows, None, name)
                del result
                gc.collect()
                samples[name].append(sample)
                print(
                    f"run {i + 1}/{args.repeat} {name}: total {sample.total:.3f}s, FlightInfo {sample.info:.3f}s, "
                    f"first batch {sample.first:.3f}s (CPU s: client {sample.client_cpu:.2f}, "
                    f"gateway {sample.gateway_cpu:.2f})",
                    file=sys.stderr,
                )
    finally:
        for closable in [*cursors, stream_conn, offload_conn, *workers]:
            closable.close()
    return report(args, samples, parquet_bytes, expected_parts)


def _last_offload_bytes(offload_dir: Path) -> int:
    """Size on disk of the Parquet parts of the newest offloaded result."""
    jobs = [d for d in offload_dir.glob("*/*") if d.is_dir()]
    if not jobs:
        return 0
    newest = max(jobs, key=lambda d: d.stat().st_mtime)
    return sum(f.stat().st_size for f in newest.glob("*.parquet"))


def report(args: argparse.Namespace, samples: dict[str, list[Sample]], parquet_bytes: int, parts: int) -> str:
    names = path_names(args.workers)
    rows = []
    for name, runs in samples.items():
        totals = [s.total for s in runs]
        info = f"{median([s.info for s in runs]):.3f}"
        first = "–" if name == "offload-adbc" else f"{median([s.first for s in runs]):.3f}"
        mid = median(totals)
        rows.append(
            [
                names[name],
                len(runs),
                info,
                first,
                f"{median([s.total - s.info for s in runs]):.3f}",
                f"{min(totals):.3f}",
                f"{mid:.3f}",
                f"{args.rows / mid / 1e6:.2f} M",
                f"{median([s.client_cpu for s in runs]):.2f}",
                f"{median([s.gateway_cpu for s in runs]):.2f}",
            ]
        )
    header = [
        "path",
        "runs",
        "FlightInfo s (median)",
        "first batch s (median)",
        "read s = total − FlightInfo (median)",
        "total min s",
        "total median s",
        "rows/s (median)",
        "client CPU s",
        "gateway CPU s",
    ]
    each = markdown_table(
        ["path", *[f"run {i + 1} total s" for i in range(args.repeat)]],
        [[name, *[f"{s.total:.3f}" for s in runs]] for name, runs in samples.items()],
    )
    cores = os.cpu_count() or 1
    return "\n".join(
        [
            f"## Offload{' (S3 on moto)' if args.s3 else ''} vs stream: {args.rows:,} rows × 4 columns "
            f"({date.today().isoformat()})",
            "",
            f"Command: `{command_line()}`",
            "",
            f'Query: `{QUERY}` (id bigint, v bigint, d double, s varchar); gateway `offload_mode = "auto"`, '
            f"delivery chosen per call by the `x-flight-gateway-delivery` header; offload_part_rows "
            f"{args.part_rows:,} → {parts} Parquet parts, {parquet_bytes / 1e6:,.0f} MB "
            f"{'on moto S3 (an in-memory emulator in its own process on loopback, not S3)' if args.s3 else 'on disk'}; "
            "gateway "
            f"batch_rows {args.batch_rows or 'default (65,536)'}. All times are from the start of the "
            "execute: FlightInfo = execute / execute_partitions returned (stream: the query is planned; offload: "
            "every part written), "
            "first batch = the first record batch reached Python, total = every batch read. Every run's row "
            "count is checked against N. CPU s = median user+system CPU seconds per run of this process (ADBC "
            f"client) and of the gateway process; {cores} cores give at most {cores} CPU seconds per "
            "wall-clock second.",
            "",
            markdown_table(header, rows),
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
    return run_in_work_dir(args.work_dir, "fg-offload-", lambda work: run(args, work))


if __name__ == "__main__":
    sys.exit(main())
