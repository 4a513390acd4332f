"""The Redshift simulator: a real PostgreSQL behind a front that speaks to drivers as Redshift does.

    sim = start_redshift_simulator(work_dir, s3=S3Target("http://127.0.0.1:5000"))
    redshift_connector.connect(host=sim.host, port=sim.port, user="acme", password="...", database="dev")
    sim.faults.fail_next(1, sqlstate="57P01", message="terminating connection")
    sim.stop()

See flight_gateway/simulation/README.md for what it implements and how it differs from Redshift.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flight_gateway.simulation import wire
from flight_gateway.simulation.catalog import bootstrap_sql
from flight_gateway.simulation.faults import FaultInjector
from flight_gateway.simulation.local_postgres import LocalPostgres, start_local_postgres
from flight_gateway.simulation.session import ClientSession
from flight_gateway.simulation.unload import UnloadError, run_unload
from flight_gateway.simulation.unload_writer import PartFile

log = logging.getLogger(__name__)

# md5 so the front can ask for an MD5 password as Redshift does; the warning would reach every client.
_POSTGRES_SETTINGS = {
    "password_encryption": "md5",
    "md5_password_warnings": "off",
    "timezone": "UTC",
    "datestyle": "iso, mdy",
    "redshift.query_group": "default",
}


@dataclass(frozen=True)
class S3Target:
    """Where UNLOAD writes: an S3 API endpoint (moto's server in tests) and the credentials to use."""

    endpoint_url: str
    region: str = "us-east-1"
    access_key: str = "testing"
    secret_key: str = field(default="testing", repr=False)

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )


class RedshiftSimulator:
    """A running simulator; `host`/`port` is the Redshift-speaking front, `backend` the PostgreSQL behind it."""

    def __init__(self, backend: LocalPostgres, work_dir: Path, s3: S3Target | None, slices: int, port: int = 0) -> None:
        self.backend = backend
        self.work_dir = work_dir
        self.s3 = s3
        self.slices = slices
        self.unload_bucket: str | None = None  # created on `s3` at start, when asked for
        self.faults = FaultInjector()
        self._sessions: dict[tuple[int, int], ClientSession] = {}
        self._lock = threading.Lock()
        self._control = self.backend_connect("postgres")
        self._control_lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((backend.host, port))
        self._listener.listen(64)
        self.host: str = backend.host
        self.port: int = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, name="redshift-sim-front", daemon=True)
        self._acceptor.start()

    # -- what tests and the standalone mode use ------------------------------------------------

    @property
    def superuser_dsn(self) -> str:
        """A libpq DSN straight to the backing PostgreSQL as its superuser (for setting up data)."""
        return self.backend.dsn()

    def dsn(self, user: str, password: str, dbname: str = "dev") -> str:
        """A libpq DSN through the front (what a Redshift client would use)."""
        return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{self.host}:{self.port}/{dbname}"

    @property
    def socket_path(self) -> Path:
        return self.backend.socket_dir / f".s.PGSQL.{self.backend.port}"

    def backend_connect(self, dbname: str, user: str = "postgres") -> Any:
        """A psycopg connection to the backing PostgreSQL over its local socket (no password)."""
        import psycopg

        return psycopg.connect(host=str(self.backend.socket_dir), port=self.backend.port, user=user, dbname=dbname,
                               autocommit=True)  # fmt: skip

    def create_database(self, name: str) -> None:
        """CREATE DATABASE (it inherits the simulator's catalog objects from template1)."""
        from psycopg import sql

        with self._control_lock:
            self._control.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def install_catalog(self, dbname: str) -> None:
        pg_version = str(self._control.execute("SHOW server_version").fetchone()[0])
        with self.backend_connect(dbname) as conn:
            conn.execute(bootstrap_sql(pg_version))

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._listener.close()
        with self._lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            session.close()
        self._control.close()
        self.backend.stop()

    def __enter__(self) -> RedshiftSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what client sessions call back into ---------------------------------------------------

    def stored_password(self, role: str) -> str | None:
        with self._control_lock:
            row = self._control.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s AND rolcanlogin",
                                        (role,)).fetchone()  # fmt: skip
        return None if row is None or row[0] is None else str(row[0])

    def unload(self, role: str, database: str, sql: str, backend_pid: int) -> None:
        started = datetime.now(UTC).replace(tzinfo=None)
        files: list[PartFile] = []
        try:
            count, files = run_unload(self, role, database, sql)
            outcome = ("00000", f"UNLOAD completed, {count} record(s) unloaded successfully.")
        except UnloadError as exc:
            outcome = (exc.sqlstate, str(exc))
        except Exception as exc:  # a bug or an unexpected S3 answer must still reach the client as an error
            log.exception("UNLOAD failed in the simulator")
            outcome = ("XX000", f"UNLOAD failed in the simulator: {type(exc).__name__}: {exc}")
        finished = datetime.now(UTC).replace(tzinfo=None)
        with self.backend_connect(database) as conn:
            conn.execute(
                "INSERT INTO redshift_sim.unload_reports (pid, sqlstate, message) VALUES (%s, %s, %s) "
                "ON CONFLICT (pid) DO UPDATE SET sqlstate = excluded.sqlstate, message = excluded.message",
                (backend_pid, *outcome),
            )
            if files:
                query = conn.execute("SELECT nextval('redshift_sim.query_ids')").fetchone()[0]
                with conn.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO redshift_sim.unload_log (userid, query, slice, pid, path, start_time, end_time,"
                        " line_count, transfer_size, file_format) SELECT oid, %s, %s, %s, %s, %s, %s, %s, %s,"
                        " 'parquet' FROM pg_roles WHERE rolname = %s",
                        [(query, f.slice, backend_pid, f.url, started, finished, f.rows, f.size, role) for f in files],
                    )

    def register(self, key: tuple[int, int], session: ClientSession) -> None:
        with self._lock:
            self._sessions[key] = session

    def unregister(self, key: tuple[int, int]) -> None:
        with self._lock:
            self._sessions.pop(key, None)

    def cancel(self, pid: int, secret: int) -> None:
        with self._lock:
            session = self._sessions.get((pid, secret))
        if session is None:
            return
        session.cancelled.set()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(str(self.socket_path))
            sock.sendall(wire.int32(16) + wire.int32(wire.CANCEL_REQUEST) + wire.int32(pid) + wire.int32(secret))

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            session = ClientSession(self, client)
            threading.Thread(target=session.run, name="redshift-sim-session", daemon=True).start()


def start_redshift_simulator(
    work_dir: Path,
    *,
    s3: S3Target | None = None,
    bucket: str | None = None,
    slices: int = 2,
    password: str | None = None,
    port: int = 0,
) -> RedshiftSimulator:
    """Start PostgreSQL under `work_dir` and the front on a free loopback port; `stop()` ends both.

    `slices` is how many compute slices UNLOAD pretends to have (one Parquet file per slice at least);
    `bucket` is created on `s3` when given (an existing one is kept); `port` fixes the front's port.
    """
    if bucket is not None and s3 is not None:
        client = s3.client()
        existing = {entry["Name"] for entry in client.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)
    backend = start_local_postgres(work_dir, password=password, settings=dict(_POSTGRES_SETTINGS))
    try:
        simulator = RedshiftSimulator(backend, work_dir, s3, slices, port)
        # PostgreSQL's `md5` method checks MD5- and SCRAM-stored passwords alike, so roles the simulator
        # stores as MD5 can also log in to the backing server directly over TCP.
        hba = backend.pgdata / "pg_hba.conf"
        hba.write_text(hba.read_text().replace("scram-sha-256", "md5"))
        simulator._control.execute("SELECT pg_reload_conf()")
        simulator.unload_bucket = bucket
        # Every database, so a reused data directory gets this version's objects too.
        databases = simulator._control.execute("SELECT datname FROM pg_database WHERE datallowconn").fetchall()
        for (dbname,) in databases:
            simulator.install_catalog(dbname)
    except BaseException:
        backend.stop()
        raise
    return simulator
