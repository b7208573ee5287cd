"""Downloader middleware that retries a failed page with backoff instead of failing the job.

Replaces Scrapy's RetryMiddleware, which re-sends at once and ignores Retry-After.
Per the endpoint's ``retry`` config (``max_attempts``, ``backoff_seconds`` doubling up
to ``max_backoff_seconds``) it retries:

- 5xx and 408 responses;
- timeouts and connection errors (Scrapy's own ``RETRY_EXCEPTIONS`` list);
- a 200 whose body is not JSON (a truncated body or an HTML error page from a proxy).

A 429 is the upstream's rate limit, not a broken page: it pauses the endpoint's bucket
for ``Retry-After`` seconds for *every* worker (``RateLimiter.pause``) and re-sends;
it does not use up the page's attempts (it has its own, larger cap so a misconfigured
limit still ends). The delay itself happens in the rate-limit middleware, which
waits for the bucket (and for ``NOT_BEFORE_META``) before the request goes out again.

When attempts run out it raises ``PageRetriesExhaustedError``: the request's errback
fails the job with the reason.

Counts go to Scrapy's stats collector: the job's ``retries`` and ``throttled``
(``scrapworker.stats``), and Scrapy's own ``retry/count``,
``retry/reason_count/<reason>`` and ``retry/max_reached``, which Scrapy's
RetryMiddleware would have kept.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Self

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.statscollectors import StatsCollector
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.misc import load_object
from twisted.internet.threads import deferToThread

from lakehouse.queue.ratelimit import RateLimiter
from scrapworker import context
from scrapworker.errors import PageRetriesExhaustedError, RetryAfterTooLongError
from scrapworker.ratelimit_middleware import NOT_BEFORE_META
from scrapworker.run import CLEAN_URL_META, PARSED_META, RUN_META, JobRun
from scrapworker.settings import lakehouse_settings

logger = logging.getLogger(__name__)

ATTEMPTS_META = "crawl_attempts"  # failed attempts of this page so far
THROTTLED_META = "crawl_throttled"  # 429s of this page so far
RETRY_STATUSES = frozenset({408, 500, 502, 503, 504, 520, 521, 522, 523, 524})
MAX_429_PER_PAGE = 50
DEFAULT_RETRY_AFTER = 1.0


def backoff_seconds(failed_attempts: int, base: float, cap: float) -> float:
    """Exponential: base, 2·base, 4·base, ... capped (attempt 1 waits ``base``)."""
    return min(cap, base * 2 ** max(0, failed_attempts - 1))


def retry_after_seconds(value: bytes | None, default: float = DEFAULT_RETRY_AFTER) -> float:
    """RFC 9110 Retry-After: delay-seconds or an HTTP-date; unreadable -> ``default``."""
    if not value:
        return default
    text = value.decode("latin-1").strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class BackoffRetryMiddleware:
    def __init__(
        self, limiter: RateLimiter, exceptions: tuple[type[BaseException], ...], stats: StatsCollector
    ) -> None:
        self.limiter = limiter
        self.exceptions = exceptions
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        exceptions = tuple(
            load_object(e) if isinstance(e, str) else e for e in crawler.settings.getlist("RETRY_EXCEPTIONS")
        )
        assert crawler.stats is not None
        return cls(context.limiter(lakehouse_settings(crawler.settings)), exceptions, crawler.stats)

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        run: JobRun | None = request.meta.get(RUN_META)
        if run is None or not run.active:
            return response
        if response.status == 429:
            return await self._throttled(run, request, response)
        if response.status in RETRY_STATUSES:
            return self._retry(run, request, f"HTTP {response.status}", f"{response.status}")
        if response.status == 200:
            try:
                request.meta[PARSED_META] = json.loads(response.body)
            except ValueError as exc:  # JSONDecodeError, or UnicodeDecodeError for bytes that are not text
                where = f"{exc.msg} at byte {exc.pos}" if isinstance(exc, json.JSONDecodeError) else str(exc)
                return self._retry(
                    run, request, f"body is not valid JSON ({where} of {len(response.body)})", "invalid_json"
                )
        return response

    async def process_exception(self, request: Request, exception: Exception) -> Request | None:
        run: JobRun | None = request.meta.get(RUN_META)
        if run is None or not run.active or not isinstance(exception, self.exceptions):
            return None
        return self._retry(run, request, f"{type(exception).__name__}: {exception}", type(exception).__name__)

    async def _throttled(self, run: JobRun, request: Request, response: Response) -> Request:
        seconds = retry_after_seconds(response.headers.get(b"Retry-After"))
        run.stats.inc("throttled")
        throttled = request.meta.get(THROTTLED_META, 0) + 1
        url = run.redact(request.meta[CLEAN_URL_META])
        if throttled > MAX_429_PER_PAGE:
            self.stats.inc_value("retry/max_reached")
            raise PageRetriesExhaustedError(
                url, throttled, f"HTTP 429 {throttled} times: is rate_limit above the API's real limit?"
            )
        retry = run.config.retry
        if seconds > retry.max_retry_after_seconds:
            self.stats.inc_value("retry/max_reached")
            raise RetryAfterTooLongError(url, seconds, retry.max_retry_after_seconds)
        await maybe_deferred_to_future(deferToThread(self.limiter.pause, run.config.rate_limit_key, seconds))
        logger.warning(
            "run %s: 429 for %s; endpoint bucket %r paused %.1f s for all workers",
            run.run_id,
            url,
            run.config.rate_limit_key,
            seconds,
        )
        # Not one of the page's attempts (nor of the job's "retries"), but a re-send in
        # Scrapy's terms, as its RetryMiddleware would count it.
        self.stats.inc_value("retry/count")
        self.stats.inc_value("retry/reason_count/429")
        # Retry-After: 0 (or a tiny value) must not become an instant retry loop: this
        # page still backs off exponentially, and waits at least what the API asked.
        delay = max(seconds, backoff_seconds(throttled, retry.backoff_seconds, retry.max_backoff_seconds))
        return self._again(request, {THROTTLED_META: throttled, NOT_BEFORE_META: time.monotonic() + delay})

    def _retry(self, run: JobRun, request: Request, problem: str, reason: str) -> Request:
        retry = run.config.retry
        failed = request.meta.get(ATTEMPTS_META, 0) + 1
        url = run.redact(request.meta[CLEAN_URL_META])
        if failed >= retry.max_attempts:
            self.stats.inc_value("retry/max_reached")
            raise PageRetriesExhaustedError(url, failed, problem)
        delay = backoff_seconds(failed, retry.backoff_seconds, retry.max_backoff_seconds)
        run.stats.inc("retries")
        self.stats.inc_value("retry/count")
        self.stats.inc_value(f"retry/reason_count/{reason}")
        logger.info(
            "run %s: retrying %s in %.1f s (attempt %d of %d): %s",
            run.run_id,
            url,
            delay,
            failed + 1,
            retry.max_attempts,
            problem,
        )
        return self._again(request, {ATTEMPTS_META: failed, NOT_BEFORE_META: time.monotonic() + delay})

    @staticmethod
    def _again(request: Request, meta: dict[str, object]) -> Request:
        retry = request.copy()
        retry.meta.pop(PARSED_META, None)
        retry.meta.update(meta)
        retry.dont_filter = True
        # Ahead of new pages: a retried page is what the job waits on.
        retry.priority = request.priority + 1
        return retry
