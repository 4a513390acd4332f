"""The job store seam."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from flight_gateway.jobs.models import Instance, Job, JobState, RequestClaim


class JobStore(Protocol):
    def create(self, job: Job) -> None: ...

    def start(self, job_id: str, at: float, instance_id: str | None = None) -> None: ...

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
    ) -> None: ...

    def set_offload(self, job_id: str, location: str, expires_at: float) -> None: ...

    def set_result(self, job_id: str, result: str) -> None:
        """Store the JSON description of the job's finished offloaded result in `Job.result`
        (opaque text, at most about 100 KB). Called before `finish(..., SUCCEEDED)` for the same
        job, and a reader that sees the job SUCCEEDED must also see its result."""
        ...

    def set_admission(self, job_id: str, decision: str, queued_ms: int | None = None) -> None:
        """Record the admission decision (one of models.ADMISSION_DECISIONS) and the milliseconds
        spent waiting for a statement slot. Queued like `start`/`finish`, in call order."""
        ...

    def set_truncated(self, job_id: str, what: str) -> None:
        """Record that the job's result ended at a cap (`what`: "rows:<n>" or "bytes:<n>").
        Called before `finish` for the same job (any time while the job runs)."""
        ...

    def cancel_unfinished(self, job_id: str, at: float, *, error_code: str, error_message: str) -> bool: ...

    def get(self, job_id: str) -> Job | None: ...

    def list(
        self,
        tenant: str | None = None,
        limit: int = 50,
        *,
        state: JobState | None = None,
        kind: str | None = None,
        since: float | None = None,
        before: tuple[float, str] | None = None,
    ) -> list[Job]: ...

    # Client request ids (idempotency, see jobs/idempotency.py).

    def claim_request(self, claim: RequestClaim) -> RequestClaim:
        """Atomically bind (claim.tenant, claim.request_id) to `claim`, unless a binding for that
        pair already exists that has not expired (its expires_at > claim.created_at).

        Returns the binding that holds afterwards: `claim` itself if it was stored (new, or it
        replaced an expired one), else the existing binding, unchanged, whatever its statement
        (the caller compares). Of concurrent claims for one pair, from any replica, exactly one is
        stored and all callers get that one back. Committed before returning."""
        ...

    def forget_requests(self, expired_before: float) -> int:
        """Delete request bindings with expires_at <= expired_before: how many."""
        ...

    # Housekeeping (see jobs/housekeeping.py): instance heartbeats, restart recovery, retention.

    def save_instance(self, instance: Instance) -> None: ...

    def instances(self) -> Sequence[Instance]: ...

    def forget_instances(self, heartbeat_before: float, keep: str) -> int: ...

    def running_instance_ids(self) -> set[str]: ...

    def fail_running(self, instance_id: str, at: float, *, error_code: str, error_message: str) -> int: ...

    def cancel_queued(self, created_before: float, at: float, *, error_code: str, error_message: str) -> int: ...

    def purge_expired(self, now: float) -> int: ...

    def close(self) -> None: ...
