"""Noisy neighbour: does one tenant's flood of big scans hurt another tenant's one-row queries?

    python benchmarks/noisy_neighbour.py [--engines duckdb,postgres] [--rows N] [--pg-rows N]
                                         [--flood-streams 64] [--limit 4] [--duration 60] [--quiet 20]

One gateway subprocess serves three tenants on the same engine:

* `b`: the quiet tenant; runs one-row queries (`select id, s from small where id = <n>`) one after
  another on one ADBC cursor;
* `a`: the flooding tenant, limited to `--limit` concurrent statements (`max_concurrent_statements`;
  the rest wait in its queue, `queue_timeout_seconds` long enough that none fails);
* `a_free`: the same data without limits, for the baselines.

Phases (each `--duration` seconds except the first):

1. quiet: `b` alone (`--quiet` seconds): b's p50/p99;
2. baseline: `a_free` with `--limit` concurrent streams of `select * from bench` (a full scan,
   `--rows` rows), nothing else: what that many unthrottled streams achieve (rows/s);
3. flood: `a` with `--flood-streams` concurrent scans while `b` runs: b's p50/p99 and a's rows/s;
4. unlimited flood: the same flood as `a_free` (no limit), for comparison: what the limit buys.

The flood runs in a separate process (threads, one ADBC connection each, batches counted and
dropped) so the quiet tenant's timings are not distorted by the flood client's own work. Targets
(issue 11): b's p99 under the flood ≤ 2× its quiet p99; a's flood throughput within 10 % of the
baseline's.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import adbc_driver_flightsql.dbapi as flight_sql
import duckdb
import psycopg
from _gateway import running_gateway
from _report import command_line, machine_table, markdown_table, percentile, run_in_work_dir

from auth import hash_password
from flight_gateway.simulation.local_postgres import start_local_postgres

SCAN = "select id, v, d, s from bench"
POINT = "select id, s from small where id = {n}"
SMALL_ROWS = 1000
PASSWORD_ENV = "FG_BENCH_NN_PASSWORD"  # noqa: S105 - the name of a variable, not a password


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="duckdb,postgres", help="comma-separated: duckdb, postgres")
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows per scan on DuckDB (default 10M)")
    parser.add_argument("--pg-rows", type=int, default=10_000_000, help="rows per scan on PostgreSQL (default 10M)")
    parser.add_argument("--flood-streams", type=int, default=64, help="concurrent scans of the flood (default 64)")
    parser.add_argument("--limit", type=int, default=4, help="the flooding tenant's max_concurrent_statements")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per flood/baseline phase")
    parser.add_argument("--quiet", type=float, default=20.0, help="seconds of the quiet phase")
    parser.add_argument("--work-dir", type=Path, help="keep databases, config and gateway log here")
    args = parser.parse_args(argv)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if not set(args.engines) <= {"duckdb", "postgres"} or not args.engines:
        parser.error("--engines takes duckdb and/or postgres")
    return args


def _s(value: object) -> str:  # a TOML basic string (JSON escaping is valid TOML)
    return json.dumps(str(value))


def _tenants(engine: str, limit: int, flood: int, fields: Callable[[str], dict[str, str]]) -> list[str]:
    """Inline TOML tables for tenants a (limited), a_free and b; `fields` adds each one's own keys."""
    queue = f"max_concurrent_statements = {limit}, max_queued_statements = {flood}, queue_timeout_seconds = 3600"
    tables = []
    for tenant in ("a", "a_free", "b"):
        items = {"id": _s(tenant), "engine": _s(engine), "read_only": "true", **fields(tenant)}
        if tenant == "a":
            items["limits"] = "{ " + queue + " }"
        tables.append("{ " + ", ".join(f"{key} = {value}" for key, value in items.items()) + " }")
    return tables


def write_config(work: Path, tenants: list[str], engines: str, password: str) -> Path:
    hashed = hash_password(password)
    lines = ['host = "127.0.0.1"', "port = 0", "demo = false", "data_dir = " + _s(work / "state")]
    if engines:
        lines.append(engines)
    lines.append("tenants = [" + ", ".join(tenants) + "]")
    users = [f"{{ username = '{t}', password_hash = {_s(hashed)}, tenant = '{t}' }}" for t in ("a", "a_free", "b")]
    lines.append("users = [" + ", ".join(users) + "]")
    config = work / "gateway.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def duckdb_setup(work: Path, rows: int, limit: int, flood: int) -> tuple[list[str], str, dict[str, str]]:
    big, small = work / "bench.duckdb", work / "small.duckdb"
    for path, count, name in ((big, rows, "bench"), (small, SMALL_ROWS, "small")):
        con = duckdb.connect(str(path))
        con.execute(
            f"create or replace table {name} as select i::bigint as id, (i * 7919) % 1000003 as v, "
            "(i / 7)::double as d, 'row-' || i::varchar as s from range($rows) t(i)",
            {"rows": count},
        )
        con.execute("checkpoint")
        con.close()
    databases = {"a": big, "a_free": big, "b": small}
    return _tenants("duckdb", limit, flood, lambda t: {"database": _s(databases[t])}), "", {}


def postgres_setup(work: Path, rows: int, limit: int, flood: int, server: Any) -> tuple[list[str], str, dict[str, str]]:
    dsn = server.dsn()
    password = secrets.token_hex(16)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name, count in (("bench", rows), ("small", SMALL_ROWS)):
            conn.execute(f"drop table if exists {name}")
            conn.execute(
                f"create table {name} as select i::int8 as id, (i * 7919) %% 1000003 as v, "
                "(i / 7.0)::float8 as d, 'row-' || i as s from generate_series(0::int8, %s - 1) i",
                (count,),
            )
            conn.execute(f"alter table {name} add primary key (id)")
            conn.execute(f"vacuum analyze {name}")
        conn.execute("drop role if exists nn_reader")
        conn.execute(f"create role nn_reader login password '{password}'")  # benchmark-local, random
        conn.execute("grant select on bench, small to nn_reader")
    parsed = urlparse(dsn)
    engines = (
        f"engines = [{{ name = 'pg', type = 'postgres', host = {_s(parsed.hostname or '127.0.0.1')}, "
        f"port = {parsed.port or 5432}, database = {_s(parsed.path.lstrip('/') or 'postgres')}, sslmode = 'disable' }}]"
    )
    login = {"db_user": _s("nn_reader"), "db_password_env": _s(PASSWORD_ENV)}
    return _tenants("pg", limit, flood, lambda _t: login), engines, {PASSWORD_ENV: password}


def _scan_loop(uri: str, user: str, password: str, stop_at: float, counts: list[int], errors: list[str]) -> None:
    kwargs = {"username": user, "password": password}
    try:
        with flight_sql.connect(uri, db_kwargs=kwargs, autocommit=True) as conn, conn.cursor() as cur:
            while time.time() < stop_at:
                cur.execute(SCAN)
                reader = cur.fetch_record_batch()
                for batch in reader:
                    counts.append(batch.num_rows)
    except Exception as exc:  # reported, not hidden: a failed flood stream is part of the result
        errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")


def flood_process(uri: str, user: str, password: str, streams: int, seconds: float, out: Any) -> None:
    """Run `streams` scan loops for `seconds` (a process of its own); put (rows, seconds, errors) on `out`."""
    stop_at = time.time() + seconds
    counts: list[int] = []
    errors: list[str] = []
    threads = [threading.Thread(target=_scan_loop, args=(uri, user, password, stop_at, counts, errors))
               for _ in range(streams)]  # fmt: skip
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put((sum(counts), time.perf_counter() - started, errors))


def point_queries(uri: str, password: str, seconds: float) -> list[float]:
    """Milliseconds per one-row query by tenant b, for `seconds` (after 20 warm-ups)."""
    result: list[float] = []
    kwargs = {"username": "b", "password": password}
    with flight_sql.connect(uri, db_kwargs=kwargs, autocommit=True) as conn, conn.cursor() as cur:
        for n in range(20):
            cur.execute(POINT.format(n=n))
            cur.fetchall()
        stop_at = time.perf_counter() + seconds
        n = 0
        while time.perf_counter() < stop_at:
            n += 1
            start = time.perf_counter()
            cur.execute(POINT.format(n=n % SMALL_ROWS))
            rows = cur.fetchall()
            result.append((time.perf_counter() - start) * 1000)
            if len(rows) != 1:
                raise SystemExit(f"b's point query returned {len(rows)} rows")
    return sorted(result)


def run_phase(
    uri: str, password: str, tenant: str | None, streams: int, seconds: float, with_b: bool
) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = None
    if tenant is not None:
        proc = ctx.Process(target=flood_process, args=(uri, tenant, password, streams, seconds, out))
        proc.start()
    latencies = point_queries(uri, password, seconds) if with_b else []
    phase: dict[str, Any] = {"b": latencies, "rows": 0, "seconds": seconds, "errors": []}
    if proc is not None:
        rows, elapsed, errors = out.get()
        proc.join()
        phase.update(rows=rows, seconds=elapsed, errors=errors)
    print(f"  {tenant or 'quiet'}×{streams}: {phase['rows']:,} rows, b {len(latencies)} queries", file=sys.stderr)
    return phase


def measure(args: argparse.Namespace, engine: str, work: Path) -> str:
    password = secrets.token_urlsafe(16)
    server = None
    rows = args.rows if engine == "duckdb" else args.pg_rows
    try:
        print(f"{engine}: preparing {rows:,} rows", file=sys.stderr)
        if engine == "duckdb":
            tenants, engines, env = duckdb_setup(work, rows, args.limit, args.flood_streams)
        else:
            server = start_local_postgres(work / "postgres")
            tenants, engines, env = postgres_setup(work, rows, args.limit, args.flood_streams, server)
        config = write_config(work, tenants, engines, password)
        with running_gateway(["--config", str(config), "--port", "0"], log_path=work / "gateway.log", env=env) as gw:
            phases = {
                "quiet": run_phase(gw.uri, password, None, 0, args.quiet, True),
                "baseline": run_phase(gw.uri, password, "a_free", args.limit, args.duration, False),
                "flood": run_phase(gw.uri, password, "a", args.flood_streams, args.duration, True),
                "unlimited": run_phase(gw.uri, password, "a_free", args.flood_streams, args.duration, True),
            }
    finally:
        if server is not None:
            server.stop()
    return report(args, engine, rows, phases)


def report(args: argparse.Namespace, engine: str, rows: int, phases: dict[str, dict[str, Any]]) -> str:
    def b(phase: str, pct: float) -> float:
        return percentile(phases[phase]["b"], pct)

    def rate(phase: str) -> float:
        return float(phases[phase]["rows"]) / float(phases[phase]["seconds"])

    labels = {
        "quiet": "quiet: b alone",
        "baseline": f"baseline: a_free, {args.limit} unthrottled streams, b idle",
        "flood": f"flood: a, {args.flood_streams} streams, limit {args.limit}; b running",
        "unlimited": f"unlimited flood: a_free, {args.flood_streams} streams, no limit; b running",
    }
    table = []
    for name, label in labels.items():
        lat = phases[name]["b"]
        table.append([
            label, len(lat) or "-", f"{b(name, 50):.2f}" if lat else "-", f"{b(name, 99):.2f}" if lat else "-",
            f"{rate(name) / 1e6:.2f} M" if phases[name]["rows"] else "-", len(phases[name]["errors"]),
        ])  # fmt: skip
    p99_ratio = b("flood", 99) / b("quiet", 99)
    throughput_ratio = rate("flood") / rate("baseline") if rate("baseline") else float("nan")
    errors = [e for p in phases.values() for e in p["errors"]][:3]
    return "\n".join(
        [
            f"### Noisy neighbour on {engine}: {rows:,}-row scans ({time.strftime('%Y-%m-%d')})",
            "",
            f"Command: `{command_line()}`",
            "",
            f"Scan: `{SCAN}`; point query: `{POINT.format(n='<n>')}` ({SMALL_ROWS} rows); "
            f"{args.duration:.0f} s per phase ({args.quiet:.0f} s quiet).",
            "",
            markdown_table(["phase", "b queries", "b p50 ms", "b p99 ms", "a rows/s", "a errors"], table, "lrrrrr"),
            "",
            f"**b's p99 under the flood / quiet p99**: **{p99_ratio:.2f}** (target ≤ 2: "
            f"{'met' if p99_ratio <= 2 else 'MISSED'}); unlimited flood: {b('unlimited', 99) / b('quiet', 99):.2f}.",
            f"**a's flood throughput / {args.limit} unthrottled streams**: **{throughput_ratio:.2f}** (target ≥ 0.9: "
            f"{'met' if throughput_ratio >= 0.9 else 'MISSED'}).",
            *([f"First flood errors: {errors}"] if errors else []),
            "",
            machine_table(),
            "",
        ]
    )


def run(args: argparse.Namespace, work: Path) -> str:
    sections = []
    for engine in args.engines:
        engine_dir = work / engine
        engine_dir.mkdir(parents=True, exist_ok=True)
        sections.append(measure(args, engine, engine_dir))
    return "\n".join(sections)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.pop(PASSWORD_ENV, None)
    return run_in_work_dir(args.work_dir, "fg-noisy-", lambda work: run(args, work))


if __name__ == "__main__":
    sys.exit(main())
