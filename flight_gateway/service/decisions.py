"""Admission decisions: how each statement was let in (or not), written to its job record and as
one structured log line (logger `flight_gateway.admission`), ready for metrics.

Decisions (jobs/models.py ADMISSION_DECISIONS): `admitted` (a slot at once, or no concurrency
limit), `queued` (waited `queued_ms` for a slot, then ran), `refused` (the pre-flight or the queue
said no; `code` says why), `cancelled` (left the queue: cancelled, or its client went away). The
line is key=value and never carries SQL text:

    admission tenant=acme job=5f0c... decision=queued code=- queued_ms=1250
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flight_gateway.context import RequestContext
from flight_gateway.errors import GatewayError, Status
from flight_gateway.jobs import JobStore
from flight_gateway.service.slots import StatementSlots

log = logging.getLogger("flight_gateway.admission")


class Decisions:
    def __init__(self, jobs: JobStore, slots: StatementSlots, clock: Callable[[], float]) -> None:
        self._jobs = jobs
        self._slots = slots
        self._clock = clock

    def record(self, tenant_id: str, job_id: str, decision: str, code: str | None, queued_ms: int | None) -> None:
        self._jobs.set_admission(job_id, decision, queued_ms)
        log.info(
            "admission tenant=%s job=%s decision=%s code=%s queued_ms=%s",
            tenant_id, job_id, decision, code or "-", "-" if queued_ms is None else queued_ms,
        )  # fmt: skip

    def refused(self, tenant_id: str, job_id: str, failure: GatewayError) -> None:
        """A statement the pre-flight turned away (policy, text, rate, the gateway stopping)."""
        self.record(tenant_id, job_id, "refused", failure.code, None)

    @contextmanager
    def slot(self, ctx: RequestContext, job_id: str) -> Iterator[None]:
        """Hold one of the tenant's statement slots for the block (waiting for it first if all are
        taken), with the decision recorded as soon as it is made."""
        tenant = ctx.tenant
        since = self._clock()
        try:
            slot = self._slots.take(tenant.id, tenant.limits, job_id, ctx.client_gone)
        except GatewayError as failure:
            waited = max(0, round((self._clock() - since) * 1000))
            decision = "cancelled" if failure.status is Status.CANCELLED else "refused"
            self.record(tenant.id, job_id, decision, failure.code, waited)
            raise
        try:
            self.record(tenant.id, job_id, slot.decision, None, slot.queued_ms)
            yield
        finally:
            self._slots.give_back(tenant.id, slot)
