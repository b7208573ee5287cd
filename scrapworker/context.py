"""The process-wide connections every worker component shares.

Scrapy builds each middleware and extension from the crawler's settings, which it
deep-copies, so live clients cannot travel in them. Components call these with the
typed settings they read (``scrapworker.settings.lakehouse_settings``): one Redis
connection pool and queue, one rate limiter and one S3 client per process and
Redis/queue prefix (or S3 endpoint and bucket).
"""

from __future__ import annotations

from threading import Lock

from lakehouse.config.settings import Settings
from lakehouse.queue.crawl_queue import JobQueue, open_queue
from lakehouse.queue.ratelimit import RateLimiter
from lakehouse.raw.storage import s3_client
from scrapworker.fault_points import FaultPoints
from scrapworker.landing import RawLanding

_lock = Lock()
_queues: dict[tuple[str, str], JobQueue] = {}
_limiters: dict[tuple[str, str], RateLimiter] = {}
_landings: dict[tuple[str, str], RawLanding] = {}


def _queue_key(settings: Settings) -> tuple[str, str]:
    return settings.redis.display_url, settings.queue.prefix


def queue(settings: Settings) -> JobQueue:
    """The queue of ``settings`` (checked reachable on first use: a named error if not)."""
    key = _queue_key(settings)
    with _lock:
        if key not in _queues:
            _queues[key] = open_queue(settings)
        return _queues[key]


def limiter(settings: Settings) -> RateLimiter:
    shared = queue(settings)
    key = _queue_key(settings)
    with _lock:
        if key not in _limiters:
            _limiters[key] = RateLimiter(shared.client, shared.keys.prefix)
        return _limiters[key]


def landing(settings: Settings) -> RawLanding:
    s3 = settings.s3
    key = (s3.endpoint_url, s3.bucket)
    with _lock:
        if key not in _landings:
            # One pooled connection per reactor thread that may upload at once.
            _landings[key] = RawLanding(
                s3_client(s3, max_pool_connections=32), s3.bucket, FaultPoints.from_settings(settings.worker)
            )
        return _landings[key]
