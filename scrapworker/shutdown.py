"""Graceful shutdown on SIGTERM/SIGINT: stop taking jobs, finish or release, exit 0.

Scrapy's own handler stops the engine at once, dropping in-flight requests while the
leases stay held until they expire (a lease term of delay for those jobs). This
extension replaces it (the worker starts the process with Scrapy's handlers off):

1. first signal: the spider stops leasing; jobs in hand may finish within
   ``worker.shutdown_grace`` seconds (``--shutdown-grace``);
2. when the grace ends, jobs still running are *released* (queued again at the
   head, attempt not counted) and the spider closes; the process exits 0;
3. a second signal skips the rest of the grace (release now).

Signal handlers only schedule work on the reactor (``callFromThread``): logging or
touching Redis inside a handler could interrupt the same code mid-call.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import TYPE_CHECKING, Any, Self

from scrapy import signals
from scrapy.crawler import Crawler
from twisted.internet import reactor
from twisted.internet.base import DelayedCall

from scrapworker.settings import lakehouse_settings

if TYPE_CHECKING:
    from scrapworker.spider import QueueSpider

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _reactor() -> Any:
    # Twisted types the reactor by zope interfaces, whose methods mypy reads without
    # their implicit self (callLater's delay as the callable) unless mypy-zope is used.
    return reactor


class GracefulShutdown:
    def __init__(self, crawler: Crawler, grace: float) -> None:
        self.crawler = crawler
        self.grace = grace
        self.signals_seen = 0
        self._timer: DelayedCall | None = None
        crawler.signals.connect(self._opened, signal=signals.spider_opened)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler, lakehouse_settings(crawler.settings).worker.shutdown_grace)

    def _opened(self, spider: QueueSpider) -> None:
        for sig in SIGNALS:
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        _reactor().callFromThread(self._begin, signum)

    def _begin(self, signum: int) -> None:
        spider: QueueSpider = self.crawler.spider  # type: ignore[assignment]
        self.signals_seen += 1
        name = signal.Signals(signum).name
        if self.signals_seen == 1:
            logger.info(
                "%s: no new jobs; finishing %d job(s) in hand within %.0f s, then releasing the rest",
                name,
                len(spider.runs),
                self.grace,
            )
            spider.drain()
            self._timer = _reactor().callLater(self.grace, spider.release_all)
            return
        logger.info("%s again: releasing %d job(s) now", name, len(spider.runs))
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        spider.release_all()
