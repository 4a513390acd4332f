"""A tenant's own job history: the reads behind the ListJobs and GetJob actions."""

from __future__ import annotations

from typing import Any

from flight_gateway.errors import ErrorCode, GatewayError, error
from flight_gateway.jobs.models import Job
from flight_gateway.jobs.requests import ListJobsRequest, page_token
from flight_gateway.jobs.store import JobStore
from flight_gateway.jobs.views import job_json


def job_not_found() -> GatewayError:
    # One answer for "absent" and "another tenant's", so job ids cannot be probed across tenants.
    return error(ErrorCode.JOB_NOT_FOUND, "no job with this id for this tenant; see ListJobs for the tenant's jobs")


def tenant_job(store: JobStore, tenant: str, job_id: str) -> Job:
    job = store.get(job_id)
    if job is None or job.tenant != tenant:
        raise job_not_found()
    return job


def list_page(store: JobStore, tenant: str, request: ListJobsRequest) -> dict[str, Any]:
    # One job more than asked for tells whether another page exists, so the last page has no token.
    jobs = store.list(
        tenant,
        request.limit + 1,
        state=request.state,
        kind=request.kind,
        since=request.since,
        before=request.after,
    )
    page = jobs[: request.limit]
    more = len(jobs) > request.limit
    return {"jobs": [job_json(job) for job in page], "next_page_token": page_token(page[-1]) if more else None}
