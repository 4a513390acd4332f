"""Jobs as JSON: what a tenant reads through the job actions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flight_gateway.jobs.models import Job


def iso_utc(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def job_json(job: Job) -> dict[str, Any]:
    """A tenant's view of a job. The owning instance is an operator's concern and stays out;
    the SQL text appears only where the gateway stores it (`store_sql_text`)."""
    view: dict[str, Any] = {
        "id": job.id,
        "tenant": job.tenant,
        "subject": job.subject,
        "kind": job.kind,
        "fingerprint": job.fingerprint,
        "state": job.state.value,
        "created_at": iso_utc(job.created_at),
        "started_at": iso_utc(job.started_at),
        "finished_at": iso_utc(job.finished_at),
        "expires_at": iso_utc(job.expires_at),
        "rows": job.rows,
        "bytes": job.bytes,
        "delivery": job.delivery,
        "error_code": job.error_code,
        "sqlstate": job.sqlstate,
        "error_message": job.error_message,
        "user_agent": job.user_agent,
        "peer": job.peer,
        "engine_query_id": job.engine_query_id,
        # How admission control treated it (admitted / queued / refused / cancelled), the time
        # it waited for a statement slot, and which result cap cut it short, if one did.
        "admission": job.admission,
        "queued_ms": job.queued_ms,
        "truncated": job.truncated,
    }
    if job.delivery == "offload":
        view["offload_expires_at"] = iso_utc(job.offload_expires_at)
    if job.label is not None:
        view["label"] = job.label
    if job.sql_text is not None:
        view["sql_text"] = job.sql_text
    return view
