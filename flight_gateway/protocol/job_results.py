"""A finished job's offloaded result, handed out again: the FlightInfo behind
`GetFlightInfo(FlightDescriptor.for_path("jobs", <job id>))` and the GetJobResult action.

Everything comes from the job record (its stored result and expiry) and the shared offload
location, so any replica answers; the tickets are signed for the caller's tenant as always.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pyarrow.flight as fl

from flight_gateway.context import RequestContext
from flight_gateway.errors import ErrorCode, error, not_found
from flight_gateway.jobs.history import tenant_job
from flight_gateway.jobs.models import Job, JobState
from flight_gateway.jobs.results import StoredResult, stored_result
from flight_gateway.jobs.store import JobStore
from flight_gateway.protocol.offloaded import OffloadDelivery
from flight_gateway.service.caps import announcement

log = logging.getLogger("flight_gateway.jobs")
PATH_PREFIX = b"jobs"


def job_id_of(path: list[bytes]) -> str:
    """The job id a PATH descriptor names: exactly ("jobs", <job id>)."""
    if len(path) != 2 or path[0] != PATH_PREFIX or not path[1]:
        raise error(
            ErrorCode.BAD_PATH_DESCRIPTOR,
            'a path descriptor names a job\'s result: FlightDescriptor.for_path("jobs", <job id>); '
            "statements are sent as Flight SQL commands",
        )
    try:
        return path[1].decode("ascii")
    except UnicodeDecodeError:
        raise error(ErrorCode.BAD_PATH_DESCRIPTOR, "the job id in the path descriptor is not ASCII") from None


class JobResults:
    def __init__(
        self, jobs: JobStore, offload: OffloadDelivery | None, clock: Callable[[], float] | None = None
    ) -> None:
        self._jobs = jobs
        self._offload = offload
        # Results expire in the offload store's clock, which wrote their expiry.
        self._clock = clock or (offload.now if offload is not None else time.time)

    def flight_info(self, ctx: RequestContext, job_id: str, descriptor: fl.FlightDescriptor) -> fl.FlightInfo:
        job = tenant_job(self._jobs, ctx.tenant.id, job_id)
        result, expires_at = self.available(job)
        assert self._offload is not None  # noqa: S101 - available() refuses without offload
        endpoints = self._offload.part_endpoints(ctx, job.id, (path for path, _ in result.parts), expires_at)
        capped = announcement(ctx.tenant.limits, job.truncated)
        return fl.FlightInfo(result.schema, descriptor, endpoints, result.rows, result.bytes, app_metadata=capped)

    def available(self, job: Job) -> tuple[StoredResult, float]:
        """The job's stored result and its expiry, or why there is none (the error tells what to do)."""
        if not job.state.finished:
            raise error(
                ErrorCode.JOB_NOT_FINISHED,
                f"job {job.id} is {job.state.value}; poll GetJob until it is SUCCEEDED, then ask for the result again",
            )
        if job.state is not JobState.SUCCEEDED:
            cause = job.error_message or job.error_code or "no details were recorded"
            raise not_found(
                "JOB_FAILED" if job.state is JobState.FAILED else "JOB_CANCELLED",
                f"job {job.id} ended {job.state.value} ({cause}), so it has no result; submit the statement again",
            )
        if job.result is None or self._offload is None:
            raise error(
                ErrorCode.NO_STORED_RESULT,
                f"job {job.id} kept no result: only offloaded results (SubmitJob, or offloaded statements) can be "
                "fetched again; a streamed result went to its client, an update's count is the job's rows",
            )
        expires_at = job.offload_expires_at
        if expires_at is None or expires_at <= self._clock():
            raise error(
                ErrorCode.RESULT_EXPIRED,
                f"the result of job {job.id} has expired and was deleted; run the statement again",
            )
        try:
            return stored_result(job.result), expires_at
        except ValueError:
            log.exception("job %s holds an unreadable result", job.id)
            raise error(
                ErrorCode.RESULT_UNREADABLE, f"the stored result of job {job.id} is unreadable; run it again"
            ) from None
