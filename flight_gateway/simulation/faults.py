"""Fault injection for reliability tests: fail, delay or drop the next statements.

A statement is one execution as the client sends it: a simple Query message, or a Bind of a
prepared statement (so re-executing a cached prepared statement counts again). Faults are taken
in the order they were armed; each may be narrowed to one database user and/or SQL containing a
given text (case-insensitive).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["fail", "delay", "drop"]


@dataclass
class Fault:
    kind: FaultKind
    remaining: int
    sqlstate: str = "XX000"
    message: str = "fault injected by the Redshift simulator"
    seconds: float = 0.0
    after_bytes: int = 0
    user: str | None = None
    match: str | None = None

    def applies(self, user: str, sql: str) -> bool:
        if self.user is not None and self.user != user:
            return False
        return self.match is None or self.match.lower() in sql.lower()


class FaultInjector:
    """The simulator's fault plan; thread-safe, shared by every client connection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.fired = 0  # how many statements a fault was applied to, for tests to assert on

    def fail_next(
        self,
        count: int = 1,
        *,
        sqlstate: str = "XX000",
        message: str = "fault injected by the Redshift simulator",
        user: str | None = None,
        match: str | None = None,
    ) -> Fault:
        """The next `count` statements fail with this SQLSTATE and message (an ErrorResponse)."""
        if len(sqlstate) != 5:
            raise ValueError(f"a SQLSTATE has five characters, not {sqlstate!r}")
        return self._arm(Fault("fail", count, sqlstate=sqlstate, message=message, user=user, match=match))

    def delay_next(self, seconds: float, count: int = 1, *, user: str | None = None, match: str | None = None) -> Fault:
        """The next `count` statements wait `seconds` before running; a cancel request ends the wait
        with SQLSTATE 57014, as a cancelled Redshift query does."""
        return self._arm(Fault("delay", count, seconds=seconds, user=user, match=match))

    def drop_next(
        self, count: int = 1, *, after_bytes: int = 0, user: str | None = None, match: str | None = None
    ) -> Fault:
        """The connection of each of the next `count` statements is closed: before the statement
        reaches the database (`after_bytes=0`) or after that many bytes of its answer (mid-result)."""
        return self._arm(Fault("drop", count, after_bytes=after_bytes, user=user, match=match))

    def arm_from_json(self, spec: str) -> Fault | None:
        """Act on the control statement's JSON: arm a fault ({"kind": "fail", "sqlstate": "53300", …}),
        or {"kind": "clear"} / {"kind": "status"} (None)."""
        fields = json.loads(spec)
        kind = fields.pop("kind", None)
        count = int(fields.pop("count", 1))
        if kind == "fail":
            return self.fail_next(count, **fields)
        if kind == "delay":
            return self.delay_next(float(fields.pop("seconds")), count, **fields)
        if kind == "drop":
            return self.drop_next(count, **fields)
        if kind in ("clear", "status"):
            if kind == "clear":
                self.clear()
            return None
        raise ValueError(f"unknown fault kind {kind!r}: use fail, delay, drop, clear or status")

    def status(self) -> str:
        """{"pending": …, "fired": …} as JSON: what the standalone control statement answers."""
        return json.dumps({"pending": self.pending(), "fired": self.fired})

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> int:
        with self._lock:
            return sum(fault.remaining for fault in self._faults)

    def take(self, user: str, sql: str) -> Fault | None:
        """The fault to apply to this statement, if any (consumes one of its occurrences)."""
        with self._lock:
            for fault in self._faults:
                if fault.applies(user, sql):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    self.fired += 1
                    return fault
        return None

    def _arm(self, fault: Fault) -> Fault:
        if fault.remaining < 1:
            raise ValueError("a fault must apply to at least one statement")
        with self._lock:
            self._faults.append(fault)
        return fault
