"""Redshift result speed: the gateway's Redshift engine vs redshift_connector, through the simulator.

    python benchmarks/redshift.py [--rows N] [--repeat K]

One Redshift simulator (flight_gateway/simulation, in a child process: PostgreSQL behind a front
speaking Redshift's protocol dialect, relaying result bytes unparsed) holds a table of N rows ×
4 columns (bigint, double precision, varchar, timestamp). In the same run, each path reads
`SELECT * FROM bench`:

* gateway: `flight-gateway serve` as a subprocess with the Redshift engine pointed at the
  simulator; the client reads with ADBC Flight SQL (`fetch_arrow_table`).
* redshift_connector fetchall / fetch_dataframe: the driver straight against the simulator.

After one warm-up each, paths alternate K times; the table reports medians and the speed-up of
the gateway over each redshift_connector path (the requirement: ≥ 2× over fetch_dataframe).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import redshift_connector
from _gateway import running_gateway
from _report import command_line, machine_table, markdown_table, median, run_in_work_dir

from auth import hash_password
from flight_gateway.simulation.process import SimulatorProcess

USER, PASSWORD = "bench_reader", "Bench-pass1"
GATEWAY_PASSWORD = "benchmark password"  # noqa: S105 - a throwaway login for the run
QUERY = "SELECT id, x, s, ts FROM bench"


def _config(path: Path, host: str, port: int, data_dir: Path) -> Path:
    toml = f"""
data_dir = "{data_dir}"
demo = false
batch_rows = 65536

[[engines]]
name = "rs"
type = "redshift"
host = "{host}"
port = {port}
database = "dev"
sslmode = "disable"

[[tenants]]
id = "bench"
engine = "rs"
db_user = "{USER}"
db_password = "{PASSWORD}"
wlm_query_group = "benchmark"

[[users]]
username = "bench"
password_hash = "{hash_password(GATEWAY_PASSWORD)}"
tenant = "bench"
"""
    path.write_text(toml)
    return path


def _timed(run: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    rows = run()
    return time.perf_counter() - start, rows


def run(work: Path, rows: int, repeat: int) -> str:
    sim = SimulatorProcess(work / "sim")  # its own interpreter: the front never competes with a client
    try:
        sim.create_database("dev")
        with sim.backend_connect("dev") as conn:
            conn.execute(f"CREATE USER {USER} PASSWORD '{PASSWORD}'")
            conn.execute(
                "CREATE TABLE bench AS SELECT g::bigint AS id, g * 1.5::float8 AS x, 'name_' || g AS s, "
                "timestamp '2026-01-01' + g * interval '1 second' AS ts FROM generate_series(1, %s) g",
                (rows,),
            )
            conn.execute(f"GRANT SELECT ON bench TO {USER}")

        def connector(dataframe: bool) -> Callable[[], int]:
            def read() -> int:
                conn = redshift_connector.connect(
                    host=sim.host, port=sim.port, user=USER, password=PASSWORD, database="dev", ssl=False
                )
                try:
                    cursor = conn.cursor()
                    cursor.execute(QUERY)
                    return len(cursor.fetch_dataframe()) if dataframe else len(cursor.fetchall())
                finally:
                    conn.close()

            return read

        config = _config(work / "gateway.toml", sim.host, sim.port, work / "gateway")
        with running_gateway(["--config", str(config), "--port", "0"], log_path=work / "gateway.log") as gateway:

            def through_gateway() -> int:
                with flight_sql.connect(
                    gateway.uri, db_kwargs={"username": "bench", "password": GATEWAY_PASSWORD}, autocommit=True
                ) as conn:
                    cursor = conn.cursor()
                    cursor.execute(QUERY)
                    return int(cursor.fetch_arrow_table().num_rows)

            paths: dict[str, Callable[[], int]] = {
                "gateway (Redshift engine) → ADBC Flight SQL": through_gateway,
                "redshift_connector fetchall": connector(False),
                "redshift_connector fetch_dataframe": connector(True),
            }
            times: dict[str, list[float]] = {name: [] for name in paths}
            for name, read in paths.items():  # warm-up
                _, got = _timed(read)
                assert got == rows, f"{name} read {got} rows, expected {rows}"
            for _ in range(repeat):
                for name, read in paths.items():
                    seconds, got = _timed(read)
                    assert got == rows
                    times[name].append(seconds)
                    print(f"{name}: {seconds:.2f}s", file=sys.stderr, flush=True)
    finally:
        sim.stop()

    gateway_s = median(times["gateway (Redshift engine) → ADBC Flight SQL"])
    table = [
        (name, f"{median(values):.2f}", f"{rows / median(values) / 1e6:.2f}", f"{median(values) / gateway_s:.2f}×")
        for name, values in times.items()
    ]
    return "\n\n".join(
        [
            f"`{command_line()}` — {rows:,} rows × 4 columns (bigint, double, varchar, timestamp), "
            f"median of {repeat} alternating runs after a warm-up, all through the Redshift simulator",
            markdown_table(("path", "seconds", "M rows/s", "gateway speed-up"), table, "lrrr"),
            machine_table(),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    return run_in_work_dir(args.work_dir, "redshift-bench-", lambda work: run(work, args.rows, args.repeat))


if __name__ == "__main__":
    sys.exit(main())
