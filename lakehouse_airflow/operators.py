"""Operators of the ingest DAGs that are more than a TaskFlow function."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from lakehouse.config.settings import load_settings
from lakehouse.errors import QueueUnavailableError
from lakehouse.pipeline import steps as pipeline
from lakehouse.pipeline.steps import CrawlFailedError
from lakehouse_airflow.triggers import CrawlStatusTrigger

log = logging.getLogger(__name__)

# The trigger keeps the deadline itself (with a message that says what to do); the
# deferral timeout is only the backstop for a triggerer that lost the trigger.
_DEFER_TIMEOUT_MARGIN_SECONDS = 60.0
# One status read (a Redis HGETALL) per poll during the short inline wait.
_INLINE_POLL_SECONDS = 0.2
# Redis not answering (killed, restarting) during the inline wait: the task has no
# retries, so it defers instead; the trigger waits an outage out until the deadline.
# (open_queue's connection check raises QueueUnavailableError, a later read redis-py's.)
_REDIS_UNREACHABLE = (QueueUnavailableError, RedisConnectionError, RedisTimeoutError)


class CrawlWaitOperator(BaseOperator):
    """Wait for crawl ``crawl_run_id`` to end, holding a worker slot for a few seconds
    at most.

    It reads the run's status first, and for ``airflow.inline_wait_seconds`` more
    while the crawl runs: finished returns the manifest path (the XCom the transform
    reads), failed or dead fails at once with the worker's reason and without
    retries (the worker already retried pages and attempts). Otherwise it defers to
    ``CrawlStatusTrigger`` in the triggerer, which wakes on the queue's status
    announcement (and re-reads the status every few seconds, in case one was
    missed), and resumes in ``execute_complete``.
    """

    template_fields = ("crawl_run_id",)
    ui_color = "#e8f4fd"

    def __init__(
        self, *, crawl_run_id: Any, timeout_seconds: float | None = None, profile: str | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)
        self.crawl_run_id = crawl_run_id
        self.timeout_seconds = timeout_seconds
        self.profile = profile

    def execute(self, context: Any) -> str:

        settings = load_settings(self.profile)
        run_id = str(self.crawl_run_id)
        reachable = True
        try:
            status = pipeline.crawl_status(settings, run_id)
        except pipeline.CrawlFailedError as exc:
            raise AirflowFailException(str(exc)) from exc
        except _REDIS_UNREACHABLE as exc:
            status, reachable = None, False
            _redis_unreachable(run_id, exc)
        if status is None and reachable:
            status = self._wait_inline(settings, run_id)
        if status is not None:
            return self._finished(
                run_id, status.worker_id, status.pages, status.records, status.bytes, status.manifest_path
            )
        timeout = self.timeout_seconds if self.timeout_seconds is not None else settings.airflow.crawl_timeout_seconds
        queue = settings.queue
        log.info("crawl %s not finished yet: deferring to the triggerer (timeout %.0f s)", run_id, timeout)
        self.defer(
            trigger=CrawlStatusTrigger(
                run_id=run_id,
                queue_prefix=queue.prefix,
                deadline=time.time() + timeout,
                no_worker_seconds=queue.no_worker_seconds,
                recheck_seconds=queue.status_recheck_seconds,
                timeout_seconds=timeout,
                profile=self.profile,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=timeout + _DEFER_TIMEOUT_MARGIN_SECONDS),
        )

    @staticmethod
    def _wait_inline(settings: Any, run_id: str) -> Any:
        """The finished status if the crawl ends within ``airflow.inline_wait_seconds``
        (polled here, in the task), None if it is still running then; a failure
        raises at once. Most slots crawl in a second, and resuming from a deferral
        costs a second task start."""

        deadline = time.monotonic() + settings.airflow.inline_wait_seconds
        while time.monotonic() < deadline:
            time.sleep(min(_INLINE_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
            try:
                status = pipeline.crawl_status(settings, run_id)
            except pipeline.CrawlFailedError as exc:
                raise AirflowFailException(str(exc)) from exc
            except _REDIS_UNREACHABLE as exc:
                _redis_unreachable(run_id, exc)
                return None
            if status is not None:
                return status
        return None

    def execute_complete(self, context: Any, event: dict[str, Any]) -> str:

        run_id = event["run_id"]
        state = event["state"]
        log.info(
            "crawl %s: %s after %.2f s in the triggerer%s",
            run_id,
            state,
            event.get("waited_seconds", 0.0),
            " (woken by its announcement)" if event.get("announced") else "",
        )
        if state == "finished":
            return self._finished(
                run_id,
                event.get("worker_id"),
                event.get("pages"),
                event.get("records"),
                event.get("bytes"),
                event.get("manifest_path"),
            )
        if state in ("failed", "dead"):
            raise AirflowFailException(
                str(CrawlFailedError(run_id, state, event.get("error"), event.get("attempts", 0)))
            )
        raise AirflowFailException(event.get("message") or f"crawl {run_id}: wait ended {state}")

    @staticmethod
    def _finished(run_id: str, worker: Any, pages: Any, records: Any, size: Any, manifest_path: Any) -> str:
        log.info("crawl %s finished by %s: %s pages, %s records, %s bytes", run_id, worker, pages, records, size)
        return str(manifest_path)


def _redis_unreachable(run_id: str, exc: Exception) -> None:
    log.warning(
        "crawl %s: Redis did not answer (%s); leaving the wait to the triggerer, which waits the outage out",
        run_id,
        exc,
    )
