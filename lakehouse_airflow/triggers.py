"""Triggers for deferred ingest tasks (they run in Airflow's triggerer, in asyncio).

Rules they keep: the constructor takes only JSON-able values and ``serialize`` returns
exactly them (the triggerer rebuilds the trigger from the metadata DB, maybe in
another process); nothing in ``run`` blocks the event loop (redis.asyncio only, and
settings are read in a thread); no secret is in the kwargs or the event (the Redis
password is read from the triggerer's own settings); no pyiceberg or pyspark import.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from lakehouse.config.settings import load_settings
from lakehouse.queue.keys import Keys
from lakehouse.queue.watch import async_client, wait_for_terminal


class CrawlStatusTrigger(BaseTrigger):
    """Fires once, when crawl ``run_id`` ends (finished, failed, dead), when no worker
    serves its queue, or at ``deadline`` (a Unix time). The event's payload::

        {"run_id", "state": finished|failed|dead|no_worker|timeout|missing,
         "manifest_path", "error", "attempts", "pages", "records", "bytes", "worker_id",
         "message", "announced", "waited_seconds"}
    """

    def __init__(
        self,
        run_id: str,
        queue_prefix: str,
        deadline: float,
        no_worker_seconds: float,
        recheck_seconds: float,
        timeout_seconds: float | None = None,
        profile: str | None = None,
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.queue_prefix = queue_prefix
        self.deadline = float(deadline)
        self.no_worker_seconds = float(no_worker_seconds)
        self.recheck_seconds = float(recheck_seconds)
        self.timeout_seconds = None if timeout_seconds is None else float(timeout_seconds)
        self.profile = profile

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "run_id": self.run_id,
                "queue_prefix": self.queue_prefix,
                "deadline": self.deadline,
                "no_worker_seconds": self.no_worker_seconds,
                "recheck_seconds": self.recheck_seconds,
                "timeout_seconds": self.timeout_seconds,
                "profile": self.profile,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:

        started = time.monotonic()
        # Reading the settings touches files: keep it off the event loop.
        settings = await asyncio.to_thread(load_settings, self.profile)
        client = async_client(settings.redis)
        try:
            result = await wait_for_terminal(
                client,
                Keys(self.queue_prefix),
                self.run_id,
                deadline=self.deadline,
                no_worker_seconds=self.no_worker_seconds,
                recheck_seconds=self.recheck_seconds,
                redis_url=settings.redis.display_url,
                timeout_seconds=self.timeout_seconds,
            )
        finally:
            await client.aclose()
        status = result.status
        yield TriggerEvent(
            {
                "run_id": self.run_id,
                "state": result.outcome.value,
                "manifest_path": status.manifest_path if status else None,
                "error": status.error if status else None,
                "attempts": status.attempts if status else 0,
                "pages": status.pages if status else 0,
                "records": status.records if status else 0,
                "bytes": status.bytes if status else 0,
                "worker_id": status.worker_id if status else None,
                "message": result.message,
                "announced": result.woken_by_announcement,
                "waited_seconds": round(time.monotonic() - started, 3),
            }
        )
