"""The one long-running spider: leases jobs from the queue and crawls them side by side.

Twisted's reactor cannot be restarted in a process, so the worker never starts a
crawl per job. The spider stays open (``spider_idle`` -> ``DontCloseSpider``) and a
LoopingCall leases jobs whenever it holds fewer than ``worker.concurrency``,
feeding each job's first request into the running engine (``engine.crawl``); each
response yields that job's next page.

Blocking calls (Redis, reading an endpoint's YAML) run in the reactor's thread pool.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Response
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from lakehouse.config import paths
from lakehouse.config.worker import stall_limit
from lakehouse.endpoints import EndpointConfig, endpoint_path, load_endpoint
from lakehouse.errors import EndpointConfigError
from lakehouse.queue.crawl_queue import JobQueue, Lease
from lakehouse.queue.crawl_request import JobConfigMismatchError
from lakehouse.raw import layout as raw_layout
from scrapworker import context
from scrapworker.errors import PageCallbackError, RunStalledError
from scrapworker.landing import RawLanding
from scrapworker.leases import heartbeat_interval
from scrapworker.redaction import install_filter, mask_env_names
from scrapworker.run import RUN_META, JobRun
from scrapworker.settings import lakehouse_settings

logger = logging.getLogger(__name__)


class UnknownEndpointError(EndpointConfigError):
    """A job names an endpoint this worker has no (valid) config for."""


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def endpoint_config(directory: Path, name: str) -> EndpointConfig:
    path = endpoint_path(name, directory)
    if not path.is_file():
        raise UnknownEndpointError(
            str(directory),
            [
                (
                    "",
                    f"no endpoint config {name}.yaml on worker; deploy the config to the workers' "
                    "endpoints directory (LAKEHOUSE_ENDPOINTS_DIR / --endpoints-dir), then "
                    f"`lakehouse queue retry <run_id>`",
                )
            ],
        )
    return load_endpoint(path)


class QueueSpider(scrapy.Spider):
    name = "scrapworker"

    # Set in from_crawler, from the typed settings.
    concurrency: int
    worker_id: str
    max_jobs: int
    poll_seconds: float
    reap_seconds: float
    progress_every: int
    queue: JobQueue
    lease_seconds: float
    heartbeat_seconds: float
    landing: RawLanding
    raw_base: str
    stall_seconds: float

    def __init__(self, *args: Any, endpoints_dir: Path | str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A spider argument (`--endpoints-dir`), like the project's LAKEHOUSE_ENDPOINTS_DIR.
        self.endpoints_dir = Path(endpoints_dir) if endpoints_dir else paths.endpoints_dir()
        self.runs: dict[str, JobRun] = {}
        self.taken = 0
        self.draining = False
        self._leasing = False
        self._closing = False

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> QueueSpider:
        spider: QueueSpider = super().from_crawler(crawler, *args, **kwargs)
        settings = lakehouse_settings(crawler.settings)
        worker = settings.worker
        spider.concurrency = worker.concurrency
        spider.worker_id = worker.worker_id or default_worker_id()
        spider.max_jobs = worker.max_jobs
        spider.poll_seconds = worker.poll_seconds
        spider.reap_seconds = worker.reap_seconds
        spider.progress_every = worker.progress_every
        spider.queue = context.queue(settings)
        spider.lease_seconds = settings.queue.lease_seconds
        spider.heartbeat_seconds = heartbeat_interval(settings.queue.lease_seconds, settings.queue.heartbeat_seconds)
        spider.landing = context.landing(settings)
        spider.raw_base = settings.s3.raw_prefix
        spider.stall_seconds = worker.stall_seconds
        crawler.signals.connect(spider._spider_error, signal=signals.spider_error)
        crawler.signals.connect(spider._opened, signal=signals.spider_opened)
        crawler.signals.connect(spider._idle, signal=signals.spider_idle)
        crawler.signals.connect(spider._closed, signal=signals.spider_closed)
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        # Jobs arrive from the queue (see _poll), not from start requests.
        return
        yield  # pragma: no cover - makes this an async generator

    # -- lifecycle ------------------------------------------------------------------------

    def _opened(self, spider: scrapy.Spider) -> None:
        # The crawler replaced the root log handler since __main__ installed the
        # secret filter: put it on the new one before any job logs.
        install_filter()
        logger.info(
            "worker %s: serving queue %s (concurrency %d, lease %.0f s, heartbeat %.1f s, endpoints %s%s)",
            self.worker_id,
            self.queue.keys.jobs,
            self.concurrency,
            self.lease_seconds,
            self.heartbeat_seconds,
            self.endpoints_dir,
            f", exit after {self.max_jobs} job(s)" if self.max_jobs else "",
        )
        self._poller = LoopingCall(self._poll)
        self._poller.start(self.poll_seconds, now=True).addErrback(self._loop_failed, "lease poller")
        # lease() reaps too, but a worker at full capacity does not lease: reap anyway,
        # so the leases of dead workers go back even when every live worker is busy.
        self._reaper = LoopingCall(self._reap)
        self._reaper.start(self.reap_seconds, now=False).addErrback(self._loop_failed, "reaper")
        # A run with no page landed for its stall limit is failed: whatever wedged it,
        # its lease must not be heart-beaten forever.
        self._watchdog = LoopingCall(self._watch)
        self._watchdog.start(min(5.0, self.stall_seconds / 4), now=False).addErrback(self._loop_failed, "watchdog")

    def _idle(self, spider: scrapy.Spider) -> None:
        if not self._closing:
            raise DontCloseSpider

    def _closed(self, spider: scrapy.Spider, reason: str) -> None:
        loops = (getattr(self, "_poller", None), getattr(self, "_reaper", None), getattr(self, "_watchdog", None))
        for loop in loops:
            if loop is not None and loop.running:
                loop.stop()
        logger.info("worker %s: stopped (%s) after %d job(s)", self.worker_id, reason, self.taken)

    def _loop_failed(self, failure: Failure, what: str) -> None:
        logger.error("worker %s: %s stopped: %s", self.worker_id, what, failure.getErrorMessage())

    def _wants_more(self) -> bool:
        return (
            not self.draining
            and len(self.runs) < self.concurrency
            and (not self.max_jobs or self.taken < self.max_jobs)
        )

    # -- leasing ----------------------------------------------------------------------------

    def _poll(self) -> None:
        if self._leasing or self._closing or not self._wants_more():
            return
        self._leasing = True
        # Blocks in a pool thread until a job arrives or poll_seconds pass, so a job
        # starts as soon as it is queued, not at the next tick.
        d = deferToThread(
            self.queue.lease,
            self.worker_id,
            self.lease_seconds,
            wait_seconds=self.poll_seconds,
            poll_interval=self.poll_seconds,
        )
        d.addCallback(self._leased)
        d.addErrback(self._lease_failed)

    def _lease_failed(self, failure: Failure) -> None:
        self._leasing = False
        logger.warning("worker %s: leasing failed (will retry): %s", self.worker_id, failure.getErrorMessage())
        # A shutdown that began while this lease call was out waits for it to return.
        self._maybe_close()

    def _reap(self) -> Deferred[Any]:
        d = deferToThread(self.queue.reap)
        d.addCallbacks(
            self._reaped, lambda f: logger.warning("worker %s: reaping failed: %s", self.worker_id, f.getErrorMessage())
        )
        return d

    def _reaped(self, result: Any) -> None:
        if result.requeued or result.dead:
            logger.info(
                "worker %s: reaped expired leases: requeued %s, dead-lettered %s",
                self.worker_id,
                result.requeued or "-",
                result.dead or "-",
            )

    def _leased(self, lease: Lease | None) -> Deferred[Any] | None:
        self._leasing = False
        if lease is None:
            self._maybe_close()
            # Wait again straight away; the looping call is the fallback after errors.
            self._poll()
            return None
        self.taken += 1
        # The job says where it lands; land only where this worker's own layout puts
        # that run (a payload naming another base could overwrite any prefix).
        job = lease.job
        expected = raw_layout.run_prefix(self.raw_base, job.endpoint, job.slot_start, job.run_id)
        if job.raw_prefix != expected:
            reason = (
                f"raw_prefix {job.raw_prefix[:300]!r} is not this run's prefix under the worker's raw base "
                f"{self.raw_base!r} ({expected!r}); producer and worker must share s3.raw_prefix"
            )
            refused = self._refuse(lease, reason)
            refused.addBoth(lambda _: self._poll())
            return refused
        d = deferToThread(endpoint_config, self.endpoints_dir, lease.job.endpoint)
        d.addCallbacks(self._begin, self._unknown_endpoint, callbackArgs=(lease,), errbackArgs=(lease,))
        # More capacity? Lease again at once rather than waiting for the next tick.
        d.addBoth(lambda _: self._poll())
        return d

    def _unknown_endpoint(self, failure: Failure, lease: Lease) -> Deferred[None]:
        return self._refuse(lease, f"endpoint {lease.job.endpoint!r}: {failure.getErrorMessage()}")

    def _refuse(self, lease: Lease, reason: str) -> Deferred[None]:
        """Dead-letter a job this worker must never crawl as sent."""
        logger.error("run %s: dead-lettered: %s", lease.run_id, reason)
        d = deferToThread(self.queue.dead_letter, lease, reason)
        d.addErrback(lambda f: logger.warning("run %s: dead-letter failed: %s", lease.run_id, f.getErrorMessage()))
        d.addBoth(lambda _: self._maybe_close())
        return d

    def _begin(self, config: EndpointConfig, lease: Lease) -> Deferred[Any]:
        # The job names the endpoint; URL, params, headers and the credential come from
        # this worker's copy of its config, and only when the job was made from it.
        mask_env_names(config.request.auth.env_names())
        try:
            run = JobRun(
                lease=lease,
                config=config,
                queue=self.queue,
                landing=self.landing,
                bucket=self.landing.bucket,
                worker_id=self.worker_id,
                heartbeat_seconds=self.heartbeat_seconds,
                progress_every=self.progress_every,
                on_end=self._ended,
                stats=self.crawler.stats,
                endpoints_dir=self.endpoints_dir,
            )
        except (JobConfigMismatchError, EndpointConfigError) as exc:
            return self._refuse(lease, str(exc))
        self.runs[run.run_id] = run
        d = run.start()
        d.addCallback(self._crawl_first)
        return d

    def _crawl_first(self, request: scrapy.Request | None) -> None:
        if request is not None:
            assert self.crawler.engine is not None
            request.callback, request.errback = self.parse, self.errback
            self.crawler.engine.crawl(request)

    # -- responses ----------------------------------------------------------------------

    def parse(self, response: Response, **kwargs: Any) -> Iterator[scrapy.Request]:
        run: JobRun = response.meta[RUN_META]
        try:
            nxt = run.on_response(response)
        except Exception as exc:  # Scrapy would log it and leave the run `running` forever
            run.fail(str(PageCallbackError(len(run.pages) + 1, exc)))
            return
        if nxt is not None:
            nxt.callback, nxt.errback = self.parse, self.errback
            yield nxt

    def errback(self, failure: Failure) -> None:
        run: JobRun | None = getattr(failure, "request", None) and failure.request.meta.get(RUN_META)  # type: ignore[attr-defined]
        if run is not None:
            run.on_error(failure)

    def _spider_error(self, failure: Failure, response: Response, spider: scrapy.Spider) -> None:
        """A callback error that escaped ``parse`` (Scrapy does not send it to the errback)."""
        run: JobRun | None = response.meta.get(RUN_META) if response is not None else None
        if run is not None and run.active:
            run.fail(str(PageCallbackError(len(run.pages) + 1, failure.value)))

    def _watch(self) -> None:
        now = time.monotonic()
        for run in list(self.runs.values()):
            retry = run.config.retry
            limit = stall_limit(
                self.stall_seconds,
                run.config.request.timeout_seconds,
                max(retry.max_backoff_seconds, retry.max_retry_after_seconds),
            )
            if run.active and run.stalled_for(now) > limit:
                run.fail(str(RunStalledError(run.stalled_for(now), len(run.pages))))

    # -- endings ---------------------------------------------------------------------------

    def _ended(self, run: JobRun) -> None:
        self.runs.pop(run.run_id, None)
        self._maybe_close()
        self._poll()

    def _maybe_close(self) -> None:
        done_max = self.max_jobs and self.taken >= self.max_jobs
        if (self.draining or done_max) and not self.runs and not self._leasing:
            self._close("shutdown" if self.draining else "max_jobs")

    def _close(self, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        assert self.crawler.engine is not None
        deferred_from_coro(self.crawler.engine.close_spider_async(reason=reason))

    def drain(self) -> None:
        """Stop leasing; close once the jobs in hand end."""
        self.draining = True
        self._maybe_close()

    def release_all(self) -> Deferred[Any]:
        self.draining = True
        d = DeferredList([run.release() for run in list(self.runs.values())])
        d.addBoth(lambda _: self._close("shutdown"))
        return d
