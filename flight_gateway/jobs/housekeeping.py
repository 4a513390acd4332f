"""Background upkeep of the job store for one gateway process.

One daemon thread writes this instance's heartbeat and, less often, sweeps: it fails the RUNNING
jobs of instances that stopped (restart recovery), cancels jobs whose ticket expired before anyone
fetched them, and deletes records past their retention and client request ids past their window.
`start` sweeps once before the gateway serves, so a restart cleans up after the process it replaces.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from flight_gateway.jobs.models import Instance
from flight_gateway.jobs.recovery import (
    GATEWAY_RESTARTED,
    NEVER_FETCHED,
    NEVER_FETCHED_MESSAGE,
    is_alive,
    restarted_message,
)
from flight_gateway.jobs.store import JobStore

log = logging.getLogger("flight_gateway.jobs")
# A DoGet that verified its ticket just before expiry still gets to start its job.
TICKET_GRACE_SECONDS = 60.0


@dataclass(frozen=True)
class SweepReport:
    recovered: int
    never_fetched: int
    purged: int


class JobHousekeeper:
    def __init__(
        self,
        store: JobStore,
        instance_id: str,
        *,
        heartbeat_seconds: float,
        sweep_seconds: float,
        retention_seconds: float,
        ticket_ttl_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._heartbeat = heartbeat_seconds
        self._sweep_every = sweep_seconds
        self._retention = retention_seconds
        self._ticket_ttl = ticket_ttl_seconds
        self._clock = clock
        now = clock()
        self.instance = Instance(instance_id, socket.gethostname(), os.getpid(), now, now, heartbeat_seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="job-housekeeper", daemon=True)
        self._started = False

    @property
    def instance_id(self) -> str:
        return self.instance.id

    def start(self) -> None:
        self._store.save_instance(self.instance)
        self._started = True
        self.sweep()
        self._thread.start()

    def stop(self) -> None:
        """Say this instance stopped, and fail what it still had running (its engines are gone)."""
        if not self._started or self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        now = self._clock()
        self._store.save_instance(replace(self.instance, heartbeat_at=now, stopped_at=now))
        self._store.fail_running(
            self.instance_id, now, error_code=GATEWAY_RESTARTED, error_message=restarted_message(self.instance_id)
        )

    def _loop(self) -> None:
        next_beat = next_sweep = self._clock()
        next_beat += self._heartbeat
        next_sweep += self._sweep_every
        while not self._stop.wait(max(0.0, min(next_beat, next_sweep) - self._clock())):
            now = self._clock()
            try:
                if now >= next_beat:
                    self._store.save_instance(replace(self.instance, heartbeat_at=now))
                    next_beat = now + self._heartbeat
                if now >= next_sweep:
                    self.sweep(now)
                    next_sweep = now + self._sweep_every
            except Exception:
                # Upkeep must outlive a locked or full disk; the next round tries again.
                log.exception("job store housekeeping failed")
                next_beat, next_sweep = now + self._heartbeat, now + self._sweep_every

    def sweep(self, now: float | None = None) -> SweepReport:
        now = self._clock() if now is None else now
        report = SweepReport(
            recovered=self._recover(now),
            never_fetched=self._store.cancel_queued(
                now - self._ticket_ttl - TICKET_GRACE_SECONDS,
                now,
                error_code=NEVER_FETCHED,
                error_message=NEVER_FETCHED_MESSAGE,
            ),
            purged=self._store.purge_expired(now),
        )
        self._store.forget_instances(now - self._retention, keep=self.instance_id)
        self._store.forget_requests(now)
        if report.recovered:
            log.warning("%d running job(s) of stopped gateway instances marked FAILED", report.recovered)
        if report.never_fetched or report.purged:
            log.info(
                "jobs: %d never fetched (cancelled), %d past retention (deleted)", report.never_fetched, report.purged
            )
        return report

    def _recover(self, now: float) -> int:
        instances = {instance.id: instance for instance in self._store.instances()}
        recovered = 0
        for instance_id in self._store.running_instance_ids():
            if instance_id == self.instance_id or is_alive(instances.get(instance_id), now, self.instance.host):
                continue
            recovered += self._store.fail_running(
                instance_id, now, error_code=GATEWAY_RESTARTED, error_message=restarted_message(instance_id)
            )
        return recovered
