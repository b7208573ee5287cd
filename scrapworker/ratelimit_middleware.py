"""Downloader middleware: every request of a job waits for a token from the endpoint's
shared Redis bucket (lakehouse.queue.ratelimit), so all workers together stay within the
endpoint's limit; a 429 elsewhere pauses the bucket and this wait honours it.

It sits closest to the downloader (high order number) so the time between the grant
and the request leaving is as short and steady as possible: that gap is what an
upstream counting "R per second" sees as jitter.

Waiting is a Twisted ``deferLater``, never a sleep: the reactor keeps serving other
jobs' responses meanwhile. The bucket is asked again after each wait (nothing is
reserved), so a worker that dies while waiting costs the others nothing.

``worker.rate_headroom`` (``--rate-headroom``, default 0.05) takes that share off the configured
rate: grants are spaced on Redis's clock, but arrival at the upstream jitters by a
few ms, and a strict sliding-window upstream counts an early arrival as the
(R+1)-th request. R grants at the reduced rate span 1/(1-h) s, so the headroom
leaves a margin of h/(1-h) s in every window (53 ms at 0.05) for that jitter.

``worker.rate_slack`` (``--rate-slack``, default 0.010 s) lets a grant come that much early
(see lakehouse.queue.ratelimit): a wake-up that is a few ms late then costs nothing,
where otherwise every request would lose it (docs/benchmarks.md). It spends part of
the same margin, so it must stay below it (``lakehouse.config.worker`` checks both
when the settings load); it is capped at half an interval.
"""

from __future__ import annotations

import logging
import time
from typing import Self

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread

from lakehouse.queue.ratelimit import RateLimiter
from scrapworker import context
from scrapworker.errors import RunCancelledError
from scrapworker.redis_outage import OUTAGE_ERRORS, OUTAGE_RETRY_SECONDS
from scrapworker.run import RUN_META, JobRun
from scrapworker.settings import lakehouse_settings

logger = logging.getLogger(__name__)

NOT_BEFORE_META = "crawl_not_before"  # monotonic time before which not to send (backoff)
# A request that is no page but draws from that run's bucket (an OAuth2 token request
# of an auth with rate_limited: true).
LIMITED_AS_META = "crawl_limited_as"


async def sleep(seconds: float) -> None:
    if seconds > 0:
        await maybe_deferred_to_future(deferLater(reactor, seconds, lambda: None))


class SharedRateLimitMiddleware:
    def __init__(self, limiter: RateLimiter, headroom: float, slack: float = 0.0) -> None:
        self.limiter = limiter
        self.headroom = headroom
        self.slack = slack

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = lakehouse_settings(crawler.settings)
        # Validated with the settings (WorkerSettings' model validator).
        return cls(context.limiter(settings), settings.worker.rate_headroom, settings.worker.rate_slack)

    async def process_request(self, request: Request) -> None:
        run: JobRun | None = request.meta.get(RUN_META) or request.meta.get(LIMITED_AS_META)
        if run is None:
            return None
        not_before = request.meta.pop(NOT_BEFORE_META, None)
        if not_before is not None:
            await sleep(not_before - time.monotonic())
        limit = run.config.rate_limit
        rate = limit.per_second * (1.0 - self.headroom)
        slack = min(self.slack, 0.5 / rate)
        while True:
            if not run.active:
                raise RunCancelledError(f"run {run.run_id} ended")
            try:
                wait = await maybe_deferred_to_future(
                    deferToThread(self.limiter.acquire, run.config.rate_limit_key, rate, limit.burst, slack)
                )
            except OUTAGE_ERRORS as exc:
                # No token without Redis, and no reason to fail the page: wait it out
                # (scrapworker.redis_outage).
                logger.warning("run %s: rate limiter unreachable (%s); asking again", run.run_id, exc)
                await sleep(OUTAGE_RETRY_SECONDS)
                continue
            if wait == 0:
                run.stats.inc("requests")
                return None
            await sleep(wait)
