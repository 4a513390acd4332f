"""Whether a gateway instance is still alive, and what a job it left behind says about it.

Each gateway process writes a heartbeat row every N seconds. An instance is taken for dead when
it said it stopped, when its heartbeat is older than `STALE_HEARTBEATS` × N (its own N, stored in
the row, so gateways with different settings judge each other alike), or when it ran on this host
and its process no longer exists: a gateway restarted on the same data dir finds its predecessor's
jobs at once instead of after 3 × N. Same host means same hostname: containers sharing a data dir
must not share a hostname, or one could take the other's live process for a dead one.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from flight_gateway.jobs.models import Instance

STALE_HEARTBEATS = 3
GATEWAY_RESTARTED = "GATEWAY_RESTARTED"
NEVER_FETCHED = "NEVER_FETCHED"
NEVER_FETCHED_MESSAGE = "no client fetched the result before its ticket expired; run the query again"


def process_exists(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, as another user's process
        return True
    return True


def is_alive(
    instance: Instance | None,
    now: float,
    host: str,
    exists: Callable[[int], bool] = process_exists,
) -> bool:
    if instance is None or instance.stopped_at is not None:
        return False
    if instance.heartbeat_at < now - STALE_HEARTBEATS * instance.heartbeat_seconds:
        return False
    # In-process gateways (tests, embedding) share a pid: only the heartbeat can tell those apart.
    return not (instance.host == host and instance.pid != os.getpid() and not exists(instance.pid))


def restarted_message(instance_id: str) -> str:
    which = f"instance {instance_id}" if instance_id else "an unknown instance"
    return f"the gateway that ran this query ({which}) stopped before it finished; run the query again"
