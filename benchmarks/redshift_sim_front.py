"""What the Redshift simulator's front costs: the same result read straight from its PostgreSQL and through it.

    python benchmarks/redshift_sim_front.py [--rows N] [--repeat K]

`flight-gateway simulate redshift` runs as a subprocess (the front gets its own interpreter, as in
standalone use; in-process it would share the GIL with the client being measured). A table of N
rows × 4 columns (bigint, double precision, varchar, timestamp) is read with `SELECT *` by:

* psycopg (libpq) text and binary results, straight to PostgreSQL and through the front (same
  superuser login, so the only difference is the front);
* redshift_connector fetchall / fetch_dataframe through the front (it cannot talk to PostgreSQL
  directly: PostgreSQL refuses its Redshift start-up parameters).

Paths alternate after one warm-up each; the table shows medians, the front's overhead per psycopg
path, and the CPU seconds the simulator process (front only; PostgreSQL is a separate process)
spent per read.
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import psycopg
import redshift_connector
from _report import command_line, machine_table, markdown_table, median, run_in_work_dir

QUERY = "SELECT id, x, s, ts FROM bench"


def _start(work: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    command = [sys.executable, "-m", "flight_gateway.cli", "simulate", "redshift", "--data-dir", str(work / "sim")]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # noqa: S603
    banner = ""
    assert proc.stdout is not None
    while "Ctrl-C stops" not in banner:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the simulator exited before its banner:\n{banner}")
        banner += line
    facts = {
        "port": re.search(r"listening on 127\.0\.0\.1:(\d+)", banner).group(1),  # type: ignore[union-attr]
        "superuser_dsn": re.search(r"backend superuser DSN: (\S+)", banner).group(1),  # type: ignore[union-attr]
    }
    return proc, facts


def run(work: Path, rows: int, repeat: int) -> str:
    proc, facts = _start(work)
    sim_cpu = psutil.Process(proc.pid)
    try:
        direct = facts["superuser_dsn"].rsplit("/", 1)[0] + "/dev"
        user, password = re.match(r"postgresql://([^:]+):([^@]+)@", direct).groups()  # type: ignore[union-attr]
        front = f"postgresql://{user}:{password}@127.0.0.1:{facts['port']}/dev"
        with psycopg.connect(direct, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS bench")
            conn.execute(
                "CREATE TABLE bench AS SELECT g::bigint AS id, g * 1.5::float8 AS x, 'name_' || g AS s, "
                "timestamp '2026-01-01' + g * interval '1 second' AS ts FROM generate_series(1, %s) g",
                (rows,),
            )
            conn.execute("VACUUM ANALYZE bench")

        def with_psycopg(dsn: str, binary: bool) -> Callable[[], int]:
            def read() -> int:
                with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor(binary=binary) as cursor:
                    cursor.execute(QUERY)
                    return len(cursor.fetchall())

            return read

        def with_connector(dataframe: bool) -> Callable[[], int]:
            def read() -> int:
                conn = redshift_connector.connect(host="127.0.0.1", port=int(facts["port"]), user=user,
                                                  password=password, database="dev", ssl=False)  # fmt: skip
                try:
                    cursor = conn.cursor()
                    cursor.execute(QUERY)
                    return len(cursor.fetch_dataframe()) if dataframe else len(cursor.fetchall())
                finally:
                    conn.close()

            return read

        paths: dict[str, Callable[[], int]] = {
            "psycopg text, direct": with_psycopg(direct, False),
            "psycopg text, through the front": with_psycopg(front, False),
            "psycopg binary, direct": with_psycopg(direct, True),
            "psycopg binary, through the front": with_psycopg(front, True),
            "redshift_connector fetchall, through the front": with_connector(False),
            "redshift_connector fetch_dataframe, through the front": with_connector(True),
        }
        times: dict[str, list[float]] = {name: [] for name in paths}
        front_cpu: dict[str, list[float]] = {name: [] for name in paths}
        for name, read in paths.items():
            assert read() == rows, name  # warm-up
        for _ in range(repeat):
            for name, read in paths.items():
                before = sum(sim_cpu.cpu_times()[:2])
                start = time.perf_counter()
                got = read()
                times[name].append(time.perf_counter() - start)
                front_cpu[name].append(sum(sim_cpu.cpu_times()[:2]) - before)
                assert got == rows
                print(f"{name}: {times[name][-1]:.2f}s", file=sys.stderr, flush=True)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)

    table = []
    for name, values in times.items():
        overhead = ""
        if name.endswith("through the front") and name.startswith("psycopg"):
            base = median(times[name.replace("through the front", "direct")])
            overhead = f"{(median(values) / base - 1) * 100:+.0f}%"
        table.append((name, f"{median(values):.2f}", f"{rows / median(values) / 1e6:.2f}", overhead,
                      f"{median(front_cpu[name]):.2f}"))  # fmt: skip
    return "\n\n".join(
        [
            f"Command: `{command_line()}` — {rows:,} rows × 4 columns (bigint, double, varchar, timestamp), "
            f"median of {repeat} alternating runs after a warm-up; the simulator is a subprocess",
            markdown_table(("path", "seconds", "M rows/s", "front overhead", "front CPU s"), table, "lrrrr"),
            machine_table(),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    return run_in_work_dir(args.work_dir, "redshift-sim-front-", lambda work: run(work, args.rows, args.repeat))


if __name__ == "__main__":
    sys.exit(main())
