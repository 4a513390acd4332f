"""The job record, its states, and the gateway instances that own running jobs."""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass


class JobState(enum.Enum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


# admitted: ran at once; queued: waited for a slot, then ran; refused: the pre-flight or the queue
# said no (the job's error code says why); cancelled: left the queue, cancelled or its client gone.
ADMISSION_DECISIONS = ("admitted", "queued", "refused", "cancelled")


@dataclass
class Job:
    id: str
    tenant: str
    subject: str
    kind: str
    fingerprint: str
    state: JobState
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    rows: int | None = None
    bytes: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    sql_text: str | None = None
    peer: str = ""
    delivery: str = "stream"
    user_agent: str = ""
    # The engine's own id for the statement (Redshift query id); DuckDB has none.
    engine_query_id: str | None = None
    sqlstate: str | None = None
    # The gateway process that planned the job, then the one that ran it (restart recovery).
    instance_id: str = ""
    # When the record may be deleted (retention); None keeps it.
    expires_at: float | None = None
    # Offloaded results: where the Parquet parts are and until when they are kept.
    offload_location: str | None = None
    offload_expires_at: float | None = None
    # The client's name for a detached job (SubmitJob "label"); None for ordinary statements.
    label: str | None = None
    # A finished offloaded result as JSON (schema, parts, totals; see jobs/results.py), so any
    # replica can rebuild its FlightInfo from the record alone. Opaque to the stores.
    result: str | None = None
    # The admission decision (ADMISSION_DECISIONS) and the time spent waiting for one of the
    # tenant's statement slots (max_concurrent_statements); None before the decision.
    admission: str | None = None
    queued_ms: int | None = None
    # Which result cap ended the result early ("rows:10", "bytes:1048576"; result_limit_mode
    # "truncate"); None for a complete result.
    truncated: str | None = None


@dataclass(frozen=True)
class Instance:
    """One gateway process, as its heartbeat row records it."""

    id: str
    host: str
    pid: int
    started_at: float
    heartbeat_at: float
    heartbeat_seconds: float
    stopped_at: float | None = None


@dataclass(frozen=True)
class RequestClaim:
    """A client request id (header `x-flight-gateway-request-id`) bound to the job that ran it.

    `statement` is a digest of what the request asked for (operation, SQL, parameters), so a
    retry can be told from a different statement sent with the same id."""

    tenant: str
    request_id: str
    statement: str
    job_id: str
    created_at: float
    expires_at: float


_LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
_SPACE = re.compile(r"\s+")


def fingerprint(sql: str) -> str:
    """A short hash of the statement's shape: literals and spacing removed, so it groups
    statements without storing their values."""
    shape = _SPACE.sub(" ", _LITERALS.sub("?", sql)).strip().lower()
    return hashlib.sha256(shape.encode()).hexdigest()[:16]
