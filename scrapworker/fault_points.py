"""Named points in a job's landing where a fault-injection test can hold a worker
(``worker.pause_at``; off by default), so that a kill -9 lands at a chosen moment
rather than by luck:

- ``page_upload``: a page's PUT to S3 is about to start (earlier pages may have
  landed, this one has not; the crawl goes on meanwhile);
- ``manifest``: every page has landed, the lease was confirmed and the run's current
  manifest read; the conditional manifest write is next (pages without a manifest:
  an incomplete landing);
- ``ack``: the manifest is written, the queue has not been told (a complete landing
  whose job still reads "running").

Each point runs in a reactor pool thread, so holding it blocks only that call, never
the reactor: heartbeats go on and the lease stays held, as in a slow upload.
"""

from __future__ import annotations

import logging
import threading
import time

from lakehouse.config.worker import WorkerSettings

logger = logging.getLogger(__name__)


class FaultPoints:
    def __init__(self, point: str | None = None, hit: int = 1, seconds: float = 0.0) -> None:
        self.point = point
        self.hit = hit
        self.seconds = seconds
        self._hits = 0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, worker: WorkerSettings) -> FaultPoints:
        return cls(worker.pause_at, worker.pause_hit, worker.pause_seconds)

    def reach(self, point: str, detail: str) -> None:
        """Hold here if this is the configured point's configured hit (blocking)."""
        if self.point != point:
            return
        with self._lock:
            self._hits += 1
            if self._hits != self.hit:
                return
        logger.warning(
            "fault point %s reached (%s): holding %.1f s (worker.pause_at, a test hook)", point, detail, self.seconds
        )
        time.sleep(self.seconds)
