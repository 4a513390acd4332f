"""SQLite job store: the single-node default.

Writes are queued and committed by one writer thread in batches, so recording a job costs a
statement microseconds instead of a commit; every read first waits for queued writes, so callers
always read what they wrote. A crash loses at most the writes of the last few milliseconds.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from flight_gateway.jobs.models import Job, JobState

log = logging.getLogger("flight_gateway.jobs")
_GROUP_COMMIT_SECONDS = 0.005

_DDL = """
create table if not exists jobs (
    id text primary key,
    tenant text not null,
    subject text not null,
    kind text not null,
    fingerprint text not null,
    state text not null,
    created_at real not null,
    started_at real,
    finished_at real,
    rows integer,
    bytes integer,
    error_code text,
    error_message text,
    sql_text text,
    peer text not null default '',
    delivery text not null default 'stream'
);
create index if not exists jobs_tenant_created on jobs (tenant, created_at);
create index if not exists jobs_created on jobs (created_at);
"""
_COLUMNS = (
    "id, tenant, subject, kind, fingerprint, state, created_at, started_at, finished_at, rows, bytes, "
    "error_code, error_message, sql_text, peer, delivery"
)


def _job(row: tuple[Any, ...]) -> Job:
    values = list(row)
    values[5] = JobState(values[5])
    return Job(*values)


class SqliteJobStore:
    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()  # guards the connection
        with self._lock:
            self._con.execute("pragma journal_mode=wal")
            # Job records are an audit trail, not the data: NORMAL keeps commits cheap and WAL-safe.
            self._con.execute("pragma synchronous=normal")
            self._con.execute("pragma busy_timeout=5000")
            self._con.executescript(_DDL)
        self._pending: list[tuple[str, tuple[Any, ...]]] = []
        self._queued = threading.Condition()
        self._in_flight = 0
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, name="job-store-writer", daemon=True)
        self._writer.start()

    def _enqueue(self, sql: str, args: tuple[Any, ...]) -> None:
        with self._queued:
            if self._closed:
                raise RuntimeError("job store is closed")
            self._pending.append((sql, args))
            self._queued.notify_all()

    def _write_loop(self) -> None:
        while True:
            with self._queued:
                while not self._pending and not self._closed:
                    self._queued.wait()
                if not self._pending and self._closed:
                    return
                batch, self._pending = self._pending, []
                self._in_flight = len(batch)
            try:
                with self._lock:
                    self._con.execute("begin")
                    for sql, args in batch:
                        self._con.execute(sql, args)
                    self._con.execute("commit")
            except sqlite3.Error:
                log.exception("job store write failed; %d job updates lost", len(batch))
                with self._lock:
                    if self._con.in_transaction:
                        self._con.execute("rollback")
            finally:
                with self._queued:
                    self._in_flight = 0
                    self._queued.notify_all()
            if not self._closed:
                # Group commit: let writes from concurrent requests gather before the next one.
                time.sleep(_GROUP_COMMIT_SECONDS)

    def flush(self) -> None:
        """Wait until every queued write is committed."""
        with self._queued:
            while self._pending or self._in_flight:
                self._queued.wait()

    def _run(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        self.flush()
        with self._lock:
            return self._con.execute(sql, args).fetchall()

    def create(self, job: Job) -> None:
        self._enqueue(
            f"insert into jobs ({_COLUMNS}) values ({', '.join('?' * 16)})",
            (
                job.id, job.tenant, job.subject, job.kind, job.fingerprint, job.state.value,
                job.created_at, job.started_at, job.finished_at, job.rows, job.bytes,
                job.error_code, job.error_message, job.sql_text, job.peer, job.delivery,
            ),
        )  # fmt: skip

    def start(self, job_id: str, at: float) -> None:
        self._enqueue(
            "update jobs set state = ?, started_at = ? where id = ? and state = ?",
            (JobState.RUNNING.value, at, job_id, JobState.QUEUED.value),
        )

    def finish(
        self,
        job_id: str,
        state: JobState,
        at: float,
        *,
        rows: int | None = None,
        bytes_: int | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> None:
        self._enqueue(
            "update jobs set state = ?, finished_at = ?, rows = ?, bytes = ?, error_code = ?, "
            "error_message = ?, started_at = coalesce(started_at, ?) where id = ?",
            (state.value, at, rows, bytes_, error_code, error_message, at, job_id),
        )

    def get(self, job_id: str) -> Job | None:
        rows = self._run(f"select {_COLUMNS} from jobs where id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def list(self, tenant: str | None = None, limit: int = 50) -> list[Job]:
        if tenant is None:
            rows = self._run(f"select {_COLUMNS} from jobs order by created_at desc limit ?", (limit,))
        else:
            rows = self._run(
                f"select {_COLUMNS} from jobs where tenant = ? order by created_at desc limit ?",
                (tenant, limit),
            )
        return [_job(r) for r in rows]

    def close(self) -> None:
        with self._queued:
            self._closed = True
            self._queued.notify_all()
        self._writer.join()
        with self._lock:
            self._con.close()
