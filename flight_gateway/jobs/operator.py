"""What the `flight-gateway jobs` commands show and do: the operator's view, across tenants.

The CLI opens the job store file directly; it has no connection to a running gateway, so it can
change a record but cannot interrupt a query. Cancelling here is for records left behind (a job
stuck QUEUED or RUNNING); a live query is stopped through the gateway (CancelJob, CancelFlightInfo).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from flight_gateway.jobs.models import Instance, Job, JobState
from flight_gateway.jobs.recovery import is_alive
from flight_gateway.jobs.store import JobStore
from flight_gateway.jobs.views import iso_utc

OPERATOR_CANCELLED = "cancelled by an operator (flight-gateway jobs cancel)"


def job_record(job: Job) -> dict[str, Any]:
    """Every field as stored (epoch seconds), as `jobs list --json` has always printed it."""
    return asdict(job) | {"state": job.state.value}


def admission(job: Job) -> str:
    """The admission decision in a few characters: `queued 120ms`, `admitted`, `-` (none recorded)."""
    if job.admission is None:
        return "-"
    return f"{job.admission} {job.queued_ms}ms" if job.queued_ms else job.admission


def table(jobs: Iterable[Job]) -> str:
    lines = [
        f"{'id':32}  {'tenant':10} {'subject':10} {'kind':9} {'state':9} {'rows':>9} {'ms':>7}  {'admission':16} "
        "created"
    ]
    for job in jobs:
        ms = f"{(job.finished_at - job.created_at) * 1000:.1f}" if job.finished_at else "-"
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.created_at))
        rows = "-" if job.rows is None else str(job.rows) + ("+" if job.truncated else "")
        lines.append(
            f"{job.id:32}  {job.tenant:10} {job.subject:10} {job.kind:9} {job.state.value:9} {rows:>9} {ms:>7}  "
            f"{admission(job):16} {created}" + (f"  {job.error_code}" if job.error_code else "")
        )
    return "\n".join(lines)


def owner(store: JobStore, job: Job, now: float) -> tuple[Instance | None, bool]:
    """The instance that owns the job, and whether it is alive."""
    instance = next((i for i in store.instances() if i.id == job.instance_id), None)
    return instance, is_alive(instance, now, socket.gethostname())


def _local(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(timestamp))}  ({iso_utc(timestamp)})"


def detail(job: Job, instance: Instance | None, alive: bool) -> str:
    if instance is None:
        where = f"{job.instance_id or '-'} (unknown)"
    else:
        state = "alive" if alive else "stopped"
        where = f"{instance.id} on {instance.host} pid {instance.pid} ({state})"
    lines = [
        ("id", job.id),
        ("tenant", job.tenant),
        ("subject", job.subject),
        ("kind", job.kind),
        *([("label", job.label)] if job.label is not None else []),
        ("state", job.state.value),
        ("fingerprint", job.fingerprint),
        ("created", _local(job.created_at)),
        ("started", _local(job.started_at)),
        ("finished", _local(job.finished_at)),
        ("expires", _local(job.expires_at)),
        ("rows", "-" if job.rows is None else str(job.rows)),
        ("bytes", "-" if job.bytes is None else str(job.bytes)),
        ("truncated", job.truncated or "-"),
        ("admission", admission(job)),
        ("delivery", job.delivery),
        *(
            [("offload", job.offload_location or "-"), ("offload expires", _local(job.offload_expires_at))]
            if job.delivery == "offload"
            else []
        ),
        ("error code", job.error_code or "-"),
        ("sqlstate", job.sqlstate or "-"),
        ("error", job.error_message or "-"),
        ("client", job.peer or "-"),
        ("user agent", job.user_agent or "-"),
        ("engine query", job.engine_query_id or "-"),
        ("instance", where),
        ("sql", job.sql_text if job.sql_text is not None else "(not stored; see store_sql_text)"),
    ]
    return "\n".join(f"{name + ':':14} {value}" for name, value in lines)


@dataclass(frozen=True)
class OperatorCancel:
    status: str  # CANCELLED | NOT_CANCELLABLE
    message: str
    warning: str | None = None


def cancel(store: JobStore, job: Job, now: float) -> OperatorCancel:
    if job.state.finished:
        return OperatorCancel("NOT_CANCELLABLE", f"job {job.id} already ended {job.state.value}; nothing to cancel")
    instance, alive = owner(store, job, now)
    running = job.state is JobState.RUNNING
    if not store.cancel_unfinished(job.id, now, error_code="CANCELLED", error_message=OPERATOR_CANCELLED):
        return OperatorCancel("NOT_CANCELLABLE", f"job {job.id} ended while being cancelled; nothing to cancel")
    warning = None
    if running and alive and instance is not None:
        warning = (
            f"job {job.id} is RUNNING in live gateway instance {instance.id} ({instance.host} pid {instance.pid}). "
            "Its record now says CANCELLED, but this command cannot reach the gateway: the query keeps running "
            "until it ends, and the gateway then records how it really ended. To interrupt it, cancel it through "
            "the gateway (the CancelJob action or CancelFlightInfo)."
        )
    return OperatorCancel("CANCELLED", f"job {job.id} marked CANCELLED (was {job.state.value})", warning)
