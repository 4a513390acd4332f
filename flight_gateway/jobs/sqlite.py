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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flight_gateway.jobs.models import Instance, Job, JobState, RequestClaim
from flight_gateway.jobs.sqlite_schema import COLUMNS, INSTANCE_COLUMNS, REQUEST_COLUMNS, migrate

log = logging.getLogger("flight_gateway.jobs")
_GROUP_COMMIT_SECONDS = 0.005

_SELECT = f"select {', '.join(COLUMNS)} from jobs"
# A job is created only if absent: a duplicate must not roll back the other writes of its group commit.
_INSERT = f"insert or ignore into jobs ({', '.join(COLUMNS)}) values ({', '.join('?' * len(COLUMNS))})"
_UNFINISHED = (JobState.QUEUED.value, JobState.RUNNING.value)


def _job(row: tuple[Any, ...]) -> Job:
    values = dict(zip(COLUMNS, row, strict=True))
    values["state"] = JobState(values["state"])
    return Job(**values)


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
            migrate(self._con)
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

    def _run(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        self.flush()
        with self._lock:
            return self._con.execute(sql, tuple(args)).fetchall()

    def _write_now(self, sql: str, args: tuple[Any, ...]) -> int:
        """A write committed before returning, after every queued one: how many rows it changed."""
        self.flush()
        with self._lock:
            return self._con.execute(sql, args).rowcount

    def create(self, job: Job) -> None:
        values = tuple(job.state.value if column == "state" else getattr(job, column) for column in COLUMNS)
        self._enqueue(_INSERT, values)

    def start(self, job_id: str, at: float, instance_id: str | None = None) -> None:
        # The instance that runs a job owns it from now on (any replica may redeem a ticket).
        self._enqueue(
            "update jobs set state = ?, started_at = ?, instance_id = coalesce(?, instance_id) "
            "where id = ? and state = ?",
            (JobState.RUNNING.value, at, instance_id, job_id, JobState.QUEUED.value),
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
        sqlstate: str | None = None,
        engine_query_id: str | None = None,
    ) -> None:
        # Not guarded by the current state: the process that ran the statement reports how it
        # really ended, even after an operator or a sweep has marked the record.
        self._enqueue(
            "update jobs set state = ?, finished_at = ?, rows = ?, bytes = ?, error_code = ?, error_message = ?, "
            "sqlstate = ?, started_at = coalesce(started_at, ?), engine_query_id = coalesce(?, engine_query_id) "
            "where id = ?",
            (state.value, at, rows, bytes_, error_code, error_message, sqlstate, at, engine_query_id, job_id),
        )

    def set_offload(self, job_id: str, location: str, expires_at: float) -> None:
        """The job's result was offloaded to `location` (or its expiry renewed)."""
        self._enqueue(
            "update jobs set delivery = 'offload', offload_location = ?, offload_expires_at = ? where id = ?",
            (location, expires_at, job_id),
        )

    def set_result(self, job_id: str, result: str) -> None:
        # Queued like finish(), which follows it: one writer commits both in order.
        self._enqueue("update jobs set result = ? where id = ?", (result, job_id))

    def set_admission(self, job_id: str, decision: str, queued_ms: int | None = None) -> None:
        self._enqueue("update jobs set admission = ?, queued_ms = ? where id = ?", (decision, queued_ms, job_id))

    def set_truncated(self, job_id: str, what: str) -> None:
        self._enqueue("update jobs set truncated = ? where id = ?", (what, job_id))

    def cancel_unfinished(self, job_id: str, at: float, *, error_code: str, error_message: str) -> bool:
        """Mark a QUEUED or RUNNING job CANCELLED; False if it had already finished (or is absent)."""
        changed = self._write_now(
            "update jobs set state = ?, finished_at = ?, error_code = ?, error_message = ? "
            "where id = ? and state in (?, ?)",
            (JobState.CANCELLED.value, at, error_code, error_message, job_id, *_UNFINISHED),
        )
        return changed > 0

    def get(self, job_id: str) -> Job | None:
        rows = self._run(f"{_SELECT} where id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def list(
        self,
        tenant: str | None = None,
        limit: int = 50,
        *,
        state: JobState | None = None,
        kind: str | None = None,
        since: float | None = None,
        before: tuple[float, str] | None = None,
    ) -> list[Job]:
        """Newest first, ordered by (created_at, id) so that `before` (the last job of a page)
        resumes exactly where a page ended, even among jobs created in the same instant."""
        clauses: list[str] = []
        args: list[Any] = []
        for clause, value in (
            ("tenant = ?", tenant),
            ("state = ?", state.value if state is not None else None),
            ("kind = ?", kind),
            ("created_at >= ?", since),
        ):
            if value is not None:
                clauses.append(clause)
                args.append(value)
        if before is not None:
            clauses.append("(created_at, id) < (?, ?)")
            args += before
        where = f" where {' and '.join(clauses)}" if clauses else ""
        rows = self._run(f"{_SELECT}{where} order by created_at desc, id desc limit ?", [*args, limit])
        return [_job(r) for r in rows]

    # -- client request ids (idempotency) ---------------------------------------------------------

    def claim_request(self, claim: RequestClaim) -> RequestClaim:
        """See JobStore.claim_request: the primary key (tenant, request_id) makes the claim atomic,
        and the immediate transaction makes it so across processes sharing the file."""
        values = tuple(getattr(claim, column) for column in REQUEST_COLUMNS)
        # No flush: a claim depends on no queued job write, and waiting for the group commit
        # would add its pause to every call that carries a request id.
        with self._lock:
            self._con.execute("begin immediate")
            try:
                self._con.execute(
                    f"insert into requests ({', '.join(REQUEST_COLUMNS)}) values (?, ?, ?, ?, ?, ?) "
                    "on conflict (tenant, request_id) do update set statement = excluded.statement, "
                    "job_id = excluded.job_id, created_at = excluded.created_at, expires_at = excluded.expires_at "
                    "where requests.expires_at <= excluded.created_at",
                    values,
                )
                row = self._con.execute(
                    f"select {', '.join(REQUEST_COLUMNS)} from requests where tenant = ? and request_id = ?",
                    (claim.tenant, claim.request_id),
                ).fetchone()
                self._con.execute("commit")
            except BaseException:
                self._con.execute("rollback")
                raise
        return RequestClaim(*row)

    def forget_requests(self, expired_before: float) -> int:
        return self._write_now("delete from requests where expires_at <= ?", (expired_before,))

    # -- housekeeping: instances, restart recovery, retention ------------------------------------

    def save_instance(self, instance: Instance) -> None:
        """Insert or refresh an instance's row (its heartbeat); committed before returning."""
        self._write_now(
            f"insert or replace into instances ({', '.join(INSTANCE_COLUMNS)}) values (?, ?, ?, ?, ?, ?, ?)",
            tuple(getattr(instance, column) for column in INSTANCE_COLUMNS),
        )

    def instances(self) -> Sequence[Instance]:
        rows = self._run(f"select {', '.join(INSTANCE_COLUMNS)} from instances", ())
        return [Instance(*row) for row in rows]

    def forget_instances(self, heartbeat_before: float, keep: str) -> int:
        return self._write_now("delete from instances where heartbeat_at < ? and id != ?", (heartbeat_before, keep))

    def running_instance_ids(self) -> set[str]:
        rows = self._run("select distinct instance_id from jobs where state = ?", (JobState.RUNNING.value,))
        return {str(row[0]) for row in rows}

    def fail_running(self, instance_id: str, at: float, *, error_code: str, error_message: str) -> int:
        """Fail the jobs an instance was running (it stopped): how many."""
        return self._write_now(
            "update jobs set state = ?, finished_at = ?, error_code = ?, error_message = ? "
            "where state = ? and instance_id = ?",
            (JobState.FAILED.value, at, error_code, error_message, JobState.RUNNING.value, instance_id),
        )

    def cancel_queued(self, created_before: float, at: float, *, error_code: str, error_message: str) -> int:
        """Cancel jobs still QUEUED that were created before `created_before` (never fetched)."""
        return self._write_now(
            "update jobs set state = ?, finished_at = ?, error_code = ?, error_message = ? "
            "where state = ? and created_at < ?",
            (JobState.CANCELLED.value, at, error_code, error_message, JobState.QUEUED.value, created_before),
        )

    def purge_expired(self, now: float) -> int:
        """Delete finished jobs whose retention has passed; unfinished ones wait for the sweeps
        that finish them, so a long-running query never vanishes from its tenant's listing."""
        return self._write_now("delete from jobs where expires_at <= ? and state not in (?, ?)", (now, *_UNFINISHED))

    def close(self) -> None:
        with self._queued:
            self._closed = True
            self._queued.notify_all()
        self._writer.join()
        with self._lock:
            self._con.close()
