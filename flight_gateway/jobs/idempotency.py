"""Client request ids: a retried call gets the first call's job instead of running its statement again.

A call that carries `x-flight-gateway-request-id` claims (tenant, id) in the job store before its
statement runs; the store lets exactly one claim per pair hold within the window, from any replica.
The claim records a digest of what was asked (operation, SQL, parameters), so the same id sent with
a different statement is refused rather than answered with an unrelated result.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flight_gateway.errors import ErrorCode, GatewayError, Status, error
from flight_gateway.jobs.history import tenant_job
from flight_gateway.jobs.models import Job, JobState, RequestClaim
from flight_gateway.jobs.store import JobStore

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# How long a retry waits for the first call's statement to finish before asking to be sent again.
DEFAULT_WAIT_SECONDS = 120.0


def client_request_id(raw: str | None) -> str | None:
    """The header's value if it is a valid request id; INVALID_ARGUMENT if it is not."""
    if raw is None:
        return None
    if not _REQUEST_ID.fullmatch(raw):
        raise error(
            ErrorCode.BAD_REQUEST_ID,
            "the x-flight-gateway-request-id header must be 1 to 128 characters from A-Z a-z 0-9 . _ : -; "
            "send a UUID, for example",
        )
    return raw


def statement_digest(operation: str, sql: str, parameters: Iterable[bytes] = ()) -> str:
    """What a request asked for, as a digest: the operation, the SQL text and the parameter bytes."""
    digest = hashlib.sha256()
    for chunk in (operation.encode(), sql.encode(), *parameters):
        digest.update(len(chunk).to_bytes(8, "big"))
        digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Claimed:
    job_id: str
    # True: this call runs the statement as `job_id`; False: it repeats an earlier call.
    first: bool


class RequestIds:
    def __init__(
        self,
        store: JobStore,
        window_seconds: float,
        *,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.window_seconds = window_seconds
        self._wait = wait_seconds
        self._clock = clock

    def claim(self, tenant: str, request_id: str, digest: str) -> Claimed:
        now = self._clock()
        mine = uuid.uuid4().hex
        held = self._store.claim_request(RequestClaim(tenant, request_id, digest, mine, now, now + self.window_seconds))
        if held.statement != digest:
            raise error(
                ErrorCode.REQUEST_ID_REUSED,
                f"request id {request_id!r} was already used for a different statement or call; "
                "send a new request id for a new statement",
            )
        return Claimed(held.job_id, held.job_id == mine)

    def job(self, tenant: str, job_id: str, *, finished: bool) -> Job:
        """The first call's job, once its record exists (and, if asked, once it has finished).

        The first call may still be between its claim and its job record, or still running: this
        polls with a deadline, and past it asks the client to retry (UNAVAILABLE, retryable)."""
        deadline = time.monotonic() + self._wait
        pause = 0.01
        while True:
            job = self._store.get(job_id)
            if job is not None and (not finished or job.state.finished):
                return tenant_job(self._store, tenant, job_id)
            if time.monotonic() >= deadline:
                raise error(
                    ErrorCode.REQUEST_IN_PROGRESS,
                    "an earlier call with this request id is still running; send the same call again later "
                    "(or follow its job with GetJob)",
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.5)


def replayed_failure(job: Job) -> GatewayError:
    """The error a retry gets when the first call's statement did not succeed."""
    cause = job.error_message or "no details were recorded"
    message = (
        f"an earlier call with this request id ended {job.state.value} (job {job.id}: {cause}); "
        "send a new request id to run the statement again"
    )
    if job.state is JobState.CANCELLED:
        return GatewayError(Status.CANCELLED, job.error_code or ErrorCode.CANCELLED.name, message)
    return GatewayError(Status.INVALID_ARGUMENT, job.error_code or ErrorCode.REQUEST_FAILED.name, message)
