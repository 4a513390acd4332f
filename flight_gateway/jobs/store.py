"""The job store seam."""

from __future__ import annotations

from typing import Protocol

from flight_gateway.jobs.models import Job, JobState


class JobStore(Protocol):
    def create(self, job: Job) -> None: ...

    def start(self, job_id: str, at: float) -> None: ...

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
    ) -> None: ...

    def get(self, job_id: str) -> Job | None: ...

    def list(self, tenant: str | None = None, limit: int = 50) -> list[Job]: ...

    def close(self) -> None: ...
