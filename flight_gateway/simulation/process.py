"""The simulator in a child process, driven from the parent with the in-process object's API.

Why a process: a client in the same interpreter can deadlock an in-process front. libpq calls
that block while holding the GIL (psycopg's `conn.cancel()`, `pgconn.describe_prepared()`…) wait
for an answer the front's threads cannot produce without the GIL. A child process also keeps the
front's CPU out of the measured client's. Faults travel as the superuser control statement
(`select redshift_sim_fault('<json>')`); the backing PostgreSQL is reached directly, over its
Unix socket, as in-process.

    python -m flight_gateway.simulation.process --work-dir D [--s3-endpoint URL --bucket B]

prints one JSON line (the addresses) and runs until its standard input closes.
"""

from __future__ import annotations

import argparse
import json
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flight_gateway.simulation.simulator import S3Target

_READY_TIMEOUT = 120.0


@dataclass(frozen=True)
class BackendAddress:
    """The backing PostgreSQL, as LocalPostgres describes it (without the process)."""

    host: str
    port: int
    superuser: str
    password: str = field(repr=False)

    def dsn(self, user: str | None = None, password: str | None = None, dbname: str = "postgres") -> str:
        user = user or self.superuser
        secret = self.password if password is None and user == self.superuser else (password or "")
        credentials = quote(user, safe="") + (":" + quote(secret, safe="") if secret else "")
        return f"postgresql://{credentials}@{self.host}:{self.port}/{quote(dbname, safe='')}"


class RemoteFaults:
    """FaultInjector's API, carried out by the child's front."""

    def __init__(self, sim: SimulatorProcess) -> None:
        self._sim = sim
        self._lock = threading.Lock()
        self._conn: Any = None

    def _send(self, **spec: Any) -> dict[str, int]:
        import psycopg
        from psycopg import sql

        text = json.dumps({key: value for key, value in spec.items() if value is not None})
        statement = sql.SQL("select redshift_sim_fault({})").format(sql.Literal(text))
        with self._lock:
            if self._conn is None or self._conn.closed:
                dsn = self._sim.dsn(self._sim.backend.superuser, self._sim.backend.password, "postgres")
                self._conn = psycopg.connect(dsn, autocommit=True)
            row = self._conn.execute(statement).fetchone()
        return dict(json.loads(row[0])) if row else {}

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()

    def fail_next(self, count: int = 1, *, sqlstate: str = "XX000",
                  message: str = "fault injected by the Redshift simulator", user: str | None = None,
                  match: str | None = None) -> None:  # fmt: skip
        self._send(kind="fail", count=count, sqlstate=sqlstate, message=message, user=user, match=match)

    def delay_next(self, seconds: float, count: int = 1, *, user: str | None = None, match: str | None = None) -> None:
        self._send(kind="delay", seconds=seconds, count=count, user=user, match=match)

    def drop_next(
        self, count: int = 1, *, after_bytes: int = 0, user: str | None = None, match: str | None = None
    ) -> None:
        self._send(kind="drop", count=count, after_bytes=after_bytes, user=user, match=match)

    def clear(self) -> None:
        self._send(kind="clear")

    def pending(self) -> int:
        return self._send(kind="status")["pending"]

    @property
    def fired(self) -> int:
        return self._send(kind="status")["fired"]


class SimulatorProcess:
    """A simulator running in a child process; the same attributes as RedshiftSimulator that tests use."""

    def __init__(self, work_dir: Path, *, s3: S3Target | None = None, bucket: str | None = None, slices: int = 2):
        command = [sys.executable, "-m", "flight_gateway.simulation.process", "--work-dir", str(work_dir),
                   "--slices", str(slices)]  # fmt: skip
        if s3 is not None:
            command += ["--s3-endpoint", s3.endpoint_url, "--region", s3.region, "--access-key", s3.access_key,
                        "--secret-key", s3.secret_key]  # fmt: skip
        if bucket is not None:
            command += ["--bucket", bucket]
        work_dir.mkdir(parents=True, exist_ok=True)
        log = open(work_dir / "simulator.log", "ab")  # handed to the child
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)  # noqa: S603
        log.close()
        ready: queue.Queue[bytes] = queue.Queue()
        assert self._process.stdout is not None  # noqa: S101 - stdout=PIPE
        threading.Thread(target=lambda: ready.put(self._process.stdout.readline()), daemon=True).start()  # type: ignore[union-attr]
        try:
            line = ready.get(timeout=_READY_TIMEOUT)
        except queue.Empty:
            line = b""
        if not line:
            self.stop()
            tail = (work_dir / "simulator.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the Redshift simulator process did not start:\n{tail}")
        facts = json.loads(line)
        self.work_dir = work_dir
        self.s3 = s3
        self.unload_bucket = bucket
        self.slices = slices
        self.host: str = facts["host"]
        self.port: int = facts["port"]
        self.backend = BackendAddress(facts["backend_host"], facts["backend_port"], "postgres", facts["password"])
        self.socket_dir: str = facts["socket_dir"]
        self.faults = RemoteFaults(self)

    @property
    def superuser_dsn(self) -> str:
        return self.backend.dsn()

    def dsn(self, user: str, password: str, dbname: str = "dev") -> str:
        return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{self.host}:{self.port}/{dbname}"

    def backend_connect(self, dbname: str, user: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(host=self.socket_dir, port=self.backend.port, user=user, dbname=dbname,
                               autocommit=True)  # fmt: skip

    def create_database(self, name: str) -> None:
        from psycopg import sql

        with self.backend_connect("postgres") as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def stop(self) -> None:
        faults = getattr(self, "faults", None)  # absent when the child failed to start
        if faults is not None:
            faults.close()
        if self._process.poll() is None:
            assert self._process.stdin is not None  # noqa: S101 - stdin=PIPE
            self._process.stdin.close()  # the child stops when its input ends
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    from flight_gateway.simulation.simulator import start_redshift_simulator

    parser = argparse.ArgumentParser(description="the Redshift simulator as a child process")
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--s3-endpoint")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--access-key", default="testing")
    parser.add_argument("--secret-key", default="testing")
    parser.add_argument("--bucket")
    parser.add_argument("--slices", type=int, default=2)
    args = parser.parse_args(argv)
    s3 = S3Target(args.s3_endpoint, args.region, args.access_key, args.secret_key) if args.s3_endpoint else None
    sim = start_redshift_simulator(args.work_dir, s3=s3, bucket=args.bucket, slices=args.slices)
    try:
        facts = {"host": sim.host, "port": sim.port, "backend_host": sim.backend.host,
                 "backend_port": sim.backend.port, "password": sim.backend.password,
                 "socket_dir": str(sim.backend.socket_dir)}  # fmt: skip
        sys.stdout.write(json.dumps(facts) + "\n")
        sys.stdout.flush()
        sys.stdin.read()  # until the parent closes our input (or exits)
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
