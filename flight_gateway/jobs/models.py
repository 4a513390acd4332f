"""The job record and its states."""

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


_LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
_SPACE = re.compile(r"\s+")


def fingerprint(sql: str) -> str:
    """A short hash of the statement's shape: literals and spacing removed, so it groups
    statements without storing their values."""
    shape = _SPACE.sub(" ", _LITERALS.sub("?", sql)).strip().lower()
    return hashlib.sha256(shape.encode()).hexdigest()[:16]
