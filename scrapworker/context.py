"""The process-wide connections every worker component shares.

Scrapy builds each middleware and extension from the crawler's settings, which it
deep-copies, so live clients cannot travel in them. Components call these instead:
one Redis connection pool, one queue, one rate limiter and one S3 client per process.
"""

from __future__ import annotations

from functools import cache

from scrapy.settings import BaseSettings

from lakehouse.queue import JobQueue, open_queue
from lakehouse.ratelimit import RateLimiter
from lakehouse.settings import Settings, load_settings
from lakehouse.storage import s3_client
from scrapworker.landing import RawLanding


@cache
def lakehouse_settings() -> Settings:
    return load_settings()


@cache
def _queue(prefix: str | None) -> JobQueue:
    return open_queue(lakehouse_settings(), prefix)


def queue(settings: BaseSettings) -> JobQueue:
    return _queue(settings.get("SCRAPWORKER_QUEUE_PREFIX"))


@cache
def _limiter(prefix: str | None) -> RateLimiter:
    return RateLimiter(_queue(prefix).client, _queue(prefix).keys.prefix)


def limiter(settings: BaseSettings) -> RateLimiter:
    return _limiter(settings.get("SCRAPWORKER_QUEUE_PREFIX"))


@cache
def landing() -> RawLanding:
    s3 = lakehouse_settings().s3
    # One pooled connection per reactor thread that may upload at once.
    return RawLanding(s3_client(s3, max_pool_connections=32), s3.bucket)
