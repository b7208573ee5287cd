"""Fixtures for the queue and rate-limiter tests, on the shared stack's real Redis.

Tests only rely on `redis_settings` being Settings whose Redis is running; each
test uses its own key prefix, so they never see each other's keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
import redis

from lakehouse.config.settings import Settings, load_settings
from lakehouse.queue.config import QueueSettings
from lakehouse.queue.crawl_queue import JobQueue
from lakehouse.queue.jobs import CrawlJob
from lakehouse.queue.ratelimit import RateLimiter

if TYPE_CHECKING:
    from lakehouse.local.stack import LocalStack


@pytest.fixture(scope="session")
def redis_settings(stack: LocalStack) -> Settings:
    """The shared test stack's settings; tests isolate themselves by key prefix."""
    return load_settings()


@pytest.fixture()
def redis_client(redis_settings: Settings) -> Iterator[redis.Redis]:
    client = redis_settings.redis.client()
    yield client
    client.close()


@pytest.fixture()
def prefix() -> str:
    """A fresh key prefix per test, so tests never see each other's keys."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def queue_options(prefix: str) -> QueueSettings:
    return QueueSettings(prefix=prefix)


@pytest.fixture()
def queue(redis_client: redis.Redis, queue_options: QueueSettings) -> JobQueue:
    return JobQueue(redis_client, queue_options)


@pytest.fixture()
def limiter(redis_client: redis.Redis, prefix: str) -> RateLimiter:
    return RateLimiter(redis_client, prefix)


def _make_job(
    endpoint: str = "sandbox_trades", minute: int = 0, *, max_attempts: int = 3, hour: int = 12, force: bool = False
) -> CrawlJob:
    """A valid job for one 15-minute slot."""
    start = datetime(2025, 3, 1, hour, 0, tzinfo=UTC) + timedelta(minutes=minute)
    return CrawlJob.for_slot(
        endpoint=endpoint,
        slot_start=start,
        slot_end=start + timedelta(minutes=15),
        config_hash="0" * 64,  # queue tests: no worker reads its config
        raw_base="raw",
        max_attempts=max_attempts,
        force=force,
    )


@pytest.fixture()
def make_job() -> Callable[..., CrawlJob]:
    return _make_job
