"""Deletes expired offloaded results: once at start-up, then every few seconds in a daemon thread."""

from __future__ import annotations

import logging
import threading

from flight_gateway.offload.store import Offload

log = logging.getLogger("flight_gateway.offload")


class OffloadSweeper:
    def __init__(self, offload: Offload, every_seconds: float) -> None:
        self._offload = offload
        self._every = every_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="offload-sweeper", daemon=True)

    def start(self) -> None:
        self.sweep()
        self._thread.start()

    def sweep(self) -> int:
        try:
            removed = self._offload.sweep()
        except Exception:
            # A full disk or an unreachable bucket must not stop the gateway; the next round tries again.
            log.exception("deleting expired offloaded results failed")
            return 0
        if removed:
            log.info("offload: %d expired result(s) deleted", removed)
        return removed

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            self.sweep()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
