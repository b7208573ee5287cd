"""Heartbeats for one leased job, on a Twisted LoopingCall.

The heartbeat both extends the lease and reports progress (pages, records, bytes)
to the run's status. If the queue says the lease is gone (it expired and the reaper
handed the job to another worker, or an operator intervened), the keeper calls
``on_lost`` once: the job must stop at once and never be acked, because another
worker now owns the run (the queue's fencing token rejects our writes anyway).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from lakehouse.errors import LeaseLostError
from lakehouse.queue.crawl_queue import JobQueue, Lease
from lakehouse.queue.jobs import Progress

logger = logging.getLogger(__name__)


def heartbeat_interval(lease_seconds: float, configured: float) -> float:
    """At most a third of the lease, so two heartbeats can be late before it expires."""
    return max(0.2, min(configured, lease_seconds / 3.0))


class LeaseKeeper:
    def __init__(
        self,
        queue: JobQueue,
        lease: Lease,
        interval: float,
        progress: Callable[[], Progress],
        on_lost: Callable[[LeaseLostError], None],
    ) -> None:
        self.queue = queue
        self.lease = lease
        self.interval = interval
        self._progress = progress
        self._on_lost = on_lost
        self._loop = LoopingCall(self._beat)
        self._busy = False
        self.lost = False

    def start(self) -> None:
        # now=False: the lease was just granted with a full term.
        self._loop.start(self.interval, now=False).addErrback(self._loop_died)

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()

    def _beat(self) -> None:
        # A slow Redis must not stack heartbeats up in the thread pool.
        if self._busy or self.lost:
            return
        self._busy = True
        d = deferToThread(self.queue.heartbeat, self.lease, self._progress())
        d.addErrback(self._failed)
        d.addBoth(self._done)

    def _done(self, _: object) -> None:
        self._busy = False

    def _failed(self, failure: Failure) -> None:
        if failure.check(LeaseLostError):
            self.lost = True
            self.stop()
            self._on_lost(failure.value)  # type: ignore[arg-type]
            return
        # Redis hiccup: keep trying; the lease only expires if this persists for its term.
        logger.warning("heartbeat for %s failed (will retry): %s", self.lease.run_id, failure.getErrorMessage())

    def _loop_died(self, failure: Failure) -> None:
        logger.error("heartbeat loop for %s stopped: %s", self.lease.run_id, failure.getErrorMessage())
