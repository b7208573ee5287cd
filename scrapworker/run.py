"""One leased job while this worker crawls it: requests, pages, counters, and its end.

A ``JobRun`` is the only place that knows a job's state; the spider routes responses
to it (``request.meta["crawl_run"]``) and the middlewares read its endpoint config
and count requests, retries and 429s in its stats (``scrapworker.stats``: Scrapy's
stats collector). It ends exactly once, one of four ways:

- finished: every page landed, manifest committed (fenced: ``scrapworker.landing``),
  older attempts' pages removed, acked;
- failed: a ``JobFailedError`` (pagination loop, max_pages, retries exhausted, an
  unexpected status, records not a list, missing secret) - acked as failed;
- lost: the lease was taken away, or a newer attempt landed the run - stop, never
  ack (another worker owns the run);
- released: shutdown grace ran out - handed back to the queue untouched.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import redis
import scrapy
from scrapy.exceptions import DownloadCancelledError
from scrapy.statscollectors import StatsCollector
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from lakehouse.endpoints import EndpointConfig, endpoint_path, extract, load_endpoint
from lakehouse.errors import LakehouseError, LeaseLostError
from lakehouse.pipeline.dependents import parent_manifest_key, read_parent_keys
from lakehouse.queue.crawl_queue import JobQueue, Lease
from lakehouse.queue.crawl_request import ResolvedRequest, resolve_request
from lakehouse.queue.cursor import MarkTracker, asked
from lakehouse.queue.jobs import JobResult, JobState, Progress
from lakehouse.raw.layout import Manifest, ManifestPage, redact_url, s3_uri, sha256_hex
from scrapworker.children import ChildRequests
from scrapworker.errors import (
    JobFailedError,
    LandingAbandonedError,
    LandingSupersededError,
    OffOriginRequestError,
    PageRetriesExhaustedError,
    PageTooLargeError,
    RecordsNotFoundError,
    RunCancelledError,
    TokenRequestError,
    TooManyRedirectsError,
    UnexpectedStatusError,
)
from scrapworker.landing import RawLanding
from scrapworker.leases import LeaseKeeper
from scrapworker.pagination import Page, Paginator, paginator_for, with_params, without_params
from scrapworker.redaction import SECRET_PARAMS_META, masked_values, scrub, secret_values
from scrapworker.redis_outage import ack_through_outage
from scrapworker.settings import DOWNLOAD_MAXSIZE
from scrapworker.stats import RunStats

logger = logging.getLogger(__name__)

RUN_META = "crawl_run"
CLEAN_URL_META = "crawl_clean_url"
# The retry middleware parses each body to decide whether to retry a truncated one;
# it leaves the parsed document here so the spider does not parse it twice.
PARSED_META = "crawl_parsed_json"
# How many redirects led to this request (same page); more than MAX_REDIRECTS fail the job.
REDIRECTS_META = "crawl_redirects"
MAX_REDIRECTS = 5
_MAX_ERROR = 4000


class RunState(Enum):
    CRAWLING = "crawling"
    LANDING = "landing"
    FINISHED = "finished"
    FAILED = "failed"
    LOST = "lost"
    RELEASED = "released"


class JobRun:
    def __init__(
        self,
        *,
        lease: Lease,
        config: EndpointConfig,
        queue: JobQueue,
        landing: RawLanding,
        bucket: str,
        worker_id: str,
        heartbeat_seconds: float,
        progress_every: int,
        on_end: Callable[[JobRun], None],
        stats: StatsCollector,
        endpoints_dir: Path | None = None,
    ) -> None:
        self.lease = lease
        self.job = lease.job
        self.config = config
        # From this worker's own config, never from the payload; raises
        # JobConfigMismatchError for a job not made from this config (the spider
        # dead-letters it before anything is sent).
        self.request: ResolvedRequest = resolve_request(config, self.job)
        self.queue = queue
        self.landing = landing
        self.bucket = bucket
        self.worker_id = worker_id
        self.progress_every = progress_every
        self._on_end = on_end
        self.state = RunState.CRAWLING
        self.secret_params = self.request.auth.secret_params()
        # Where this run may send requests: the worker's own endpoint config decides.
        self.policy = config.request.url_policy()
        self.paginator: Paginator | ChildRequests = paginator_for(
            config.pagination, self.request.url, self.request.params, self.secret_params, self.policy
        )
        self.endpoints_dir = endpoints_dir
        # An incremental job's range: what it asked from, and the newest value landed.
        self.marks: MarkTracker | None = None
        self.pages: list[ManifestPage] = []
        self.stats = RunStats(stats, self.job.run_id)
        self.started_at = datetime.now(UTC)
        self._t0 = time.monotonic()
        # When a page last landed (or the run began): the stall watchdog's clock.
        self.last_progress = self._t0
        self._writes: list[Deferred[None]] = []
        self.keeper = LeaseKeeper(queue, lease, heartbeat_seconds, self.progress, self._lease_lost)

    # -- identity and helpers ----------------------------------------------------------

    @property
    def run_id(self) -> str:
        return self.job.run_id

    @property
    def active(self) -> bool:
        return self.state in (RunState.CRAWLING, RunState.LANDING)

    def redact(self, url: str) -> str:
        return redact_url(url, self.secret_params)

    def scrub(self, text: str) -> str:
        """``text`` with this job's credential values masked and URLs redacted: error
        texts from Twisted or boto can quote a URL that carried a query-string key."""
        return scrub(text, [*secret_values(self.request.auth.env_names()), *masked_values()])

    @property
    def records(self) -> int:
        """Records of the landed pages: the job's status and manifest count."""
        return sum(page.records for page in self.pages)

    @property
    def bytes(self) -> int:
        return sum(page.bytes for page in self.pages)

    def progress(self) -> Progress:
        return Progress(pages=len(self.pages), records=self.records, bytes=self.bytes)

    # -- starting ---------------------------------------------------------------------

    def start(self) -> Deferred[scrapy.Request | None]:
        """Start heartbeats, begin the landing, and fire with the first request
        (None when the job failed before sending one)."""
        self.keeper.start()
        logger.info(
            "run %s: leased (attempt %d of %d), endpoint %s, pagination %s, into s3://%s/%s",
            self.run_id,
            self.lease.attempt,
            self.job.max_attempts,
            self.config.name,
            self.config.pagination.type,
            self.bucket,
            self.job.raw_prefix,
        )
        # A dependent job first reads its parent's landing (S3: in a thread).
        planned: Deferred[list[str] | None] = (
            deferToThread(self._parent_keys) if self.config.parent is not None else succeed(None)
        )
        return planned.addCallbacks(self._begin_landing, self._planning_failed)

    def _parent_keys(self) -> list[str]:
        parent = self.config.parent
        assert parent is not None
        parent_config = load_endpoint(endpoint_path(parent.endpoint, self.endpoints_dir))
        key = parent_manifest_key(self.job.raw_prefix, self.job.endpoint, parent.endpoint, self.job.slot_start)
        return read_parent_keys(
            self.landing.client,
            self.bucket,
            key,
            parent_config.response_map.records_path,
            parent.field,
            child=self.job.endpoint,
            parent=parent.endpoint,
        )

    def _planning_failed(self, failure: Failure) -> None:
        self.fail(f"reading the parent's landing failed: {failure.getErrorMessage()}")

    def _begin_landing(self, parent_keys: list[str] | None) -> Deferred[scrapy.Request | None] | None:
        if not self.active:
            return None
        spec = self.request
        try:
            if self.config.incremental is not None:
                self.marks = asked(self.config, self.job.cursor)
            if parent_keys == []:  # the parent landed no records: an empty landing
                self.landing.begin(self.job.raw_prefix).addCallbacks(lambda _: self._land(), self._landing_failed)
                return None
            if parent_keys is not None:
                assert self.config.parent is not None
                self.paginator = ChildRequests(
                    self.config.pagination,
                    spec.url,
                    self.config.parent.placeholder,
                    spec.params,
                    parent_keys,
                    self.secret_params,
                    self.policy,
                )
            first = self.request_for(self.paginator.first_url())
        except (JobFailedError, LakehouseError) as exc:  # e.g. the worker lacks the token variable
            self.fail(str(exc))
            return None

        def first_if_active(_: object) -> scrapy.Request | None:
            return first if self.active else None

        d: Deferred[scrapy.Request | None] = self.landing.begin(self.job.raw_prefix).addCallback(first_if_active)
        d.addErrback(self._landing_failed)
        return d

    def request_for(self, clean_url: str) -> scrapy.Request:
        """A request for a credential-free URL; the credential is added here, at send
        time, from this worker's environment and config (it never travels in the job)."""
        return build_request(self, clean_url)

    # -- pages --------------------------------------------------------------------------

    def on_response(self, response: scrapy.http.Response) -> scrapy.Request | None:
        """Land the page and return the next request (None: no more pages, or ended)."""
        if not self.active:
            return None
        clean_url: str = response.meta[CLEAN_URL_META]
        index = len(self.pages) + 1
        try:
            if 300 <= response.status < 400 and b"Location" in response.headers:
                return self._redirect(response, clean_url, index)
            if response.status != 200:
                raise UnexpectedStatusError(response.status, self.redact(clean_url), index)
            data = response.meta.pop(PARSED_META, None)
            if data is None:
                data = json.loads(response.body)
            records = self._records(data, index)
            body = bytes(response.body)
            page = ManifestPage(
                index=index,
                key=self.job.page_key(index, self.lease.lease_id),
                url=self.redact(clean_url),
                status_code=response.status,
                records=len(records),
                bytes=len(body),
                sha256=sha256_hex(body),
                fetched_at=datetime.now(UTC),
                elapsed_seconds=float(response.meta.get("download_latency", 0.0)),
                parent_key=self.paginator.current_key if isinstance(self.paginator, ChildRequests) else None,
            )
            if self.marks is not None:
                self.marks.see(records)
            self.pages.append(page)
            self.last_progress = time.monotonic()
            self.stats.inc("pages")
            self.stats.inc("records", page.records)
            self.stats.inc("bytes", page.bytes)
            write = self.landing.put_page(page.key, body)
            write.addErrback(self._landing_failed)
            self._writes.append(write)
            if self.progress_every and index % self.progress_every == 0:
                logger.info("run %s: %d pages, %d records, %.1f req/s", self.run_id, index, self.records, self._rate())
            headers = {k.decode("latin-1"): b", ".join(v).decode("latin-1") for k, v in response.headers.items()}
            nxt = self.paginator.next_url(Page(clean_url, data, len(records), headers))
        except (JobFailedError, LakehouseError) as exc:  # LakehouseError: e.g. OffOriginLinkError
            self.fail(str(exc))
            return None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:  # a 200 the retry middleware let through
            self.fail(f"page {index}: the body is not JSON ({exc}); the retry middleware should have retried it")
            return None
        if nxt is None:
            self._land()
            return None
        return self.request_for(nxt)

    def _redirect(self, response: scrapy.http.Response, clean_url: str, index: int) -> scrapy.Request:
        """Follow a redirect the endpoint's URL policy allows, with the credential added
        again for the new URL; one elsewhere raises OffOriginLinkError (caught by the
        caller: the job fails and nothing is sent). Scrapy's RedirectMiddleware is off
        (scrapworker.settings): it would carry a custom credential header to any host."""
        hops = int(response.meta.get(REDIRECTS_META, 0)) + 1
        location = (response.headers.get(b"Location") or b"").decode("latin-1")
        target = urljoin(clean_url, location)
        self.policy.check(target, f"page {index}'s redirect (HTTP {response.status})")
        if hops > MAX_REDIRECTS:
            raise TooManyRedirectsError(index, MAX_REDIRECTS)
        logger.info(
            "run %s: page %d redirected (HTTP %d) to %s", self.run_id, index, response.status, self.redact(target)
        )
        request = self.request_for(without_params(target, self.secret_params) if self.secret_params else target)
        request.meta[REDIRECTS_META] = hops
        return request

    def stalled_for(self, now: float) -> float:
        """Seconds since a page last landed (or the run began)."""
        return now - self.last_progress

    def _records(self, data: Any, index: int) -> list[Any]:
        found = extract(data, self.config.response_map.records_path)
        if found is None:
            return []  # an API that omits the key on an empty page
        if not isinstance(found, list):
            raise RecordsNotFoundError(self.config.response_map.records_path, type(found).__name__, index)
        return found

    def on_error(self, failure: Failure) -> None:
        """The request's errback: retries were exhausted, or a non-retryable error."""
        if failure.check(RunCancelledError) or not self.active:
            return
        if failure.check(PageRetriesExhaustedError, TokenRequestError, OffOriginRequestError):
            self.fail(failure.value.reason)  # type: ignore[union-attr]
            return
        if failure.check(DownloadCancelledError):  # over DOWNLOAD_MAXSIZE (scrapworker.settings)
            self.fail(str(PageTooLargeError(len(self.pages) + 1, DOWNLOAD_MAXSIZE)))
            return
        kind = failure.type.__name__ if failure.type is not None else "error"
        self.fail(f"page {len(self.pages) + 1}: {kind}: {failure.getErrorMessage()}")

    # -- endings ------------------------------------------------------------------------

    def _rate(self) -> float:
        return self.stats.get("requests") / max(1e-9, time.monotonic() - self._t0)

    def _land(self) -> None:
        self.state = RunState.LANDING
        d: Deferred[Any] = DeferredList(self._writes, fireOnOneErrback=True, consumeErrors=True)
        d.addCallback(lambda _: self._complete())
        d.addErrback(self._landing_failed)

    def _complete(self) -> Deferred[Any] | None:
        if self.state is not RunState.LANDING:
            return None
        manifest = Manifest.build(
            run_id=self.run_id,
            endpoint=self.job.endpoint,
            slot_start=self.job.slot_start,
            slot_end=self.job.slot_end,
            prefix=self.job.raw_prefix,
            pages=self.pages,
            started_at=self.started_at,
            finished_at=datetime.now(UTC),
            worker_id=self.worker_id,
            # Written with the manifest, last: a crash before it advances no mark.
            incremental=self.marks.range() if self.marks is not None else None,
            config_hash=self.job.config_hash,  # checked against this worker's config at lease
            attempt=self.lease.lease_id,
        )
        d = self.landing.complete(manifest, self._confirm_lease)
        d.addCallback(self._landed, manifest)
        return d

    def _confirm_lease(self) -> None:
        """Right before the manifest (in the landing's thread): a stale worker stops
        here with LeaseLostError. Redis being unreachable does not stop the landing:
        the manifest's conditional write is the fence, this is the fast path."""
        # The stall watchdog may have failed the run while its pages uploaded: the
        # queue says failed, so no manifest may say the landing is complete.
        if self.state is not RunState.LANDING:
            raise LandingAbandonedError(self.run_id, self.state.value)
        try:
            self.queue.heartbeat(self.lease, self.progress())
        except redis.RedisError as exc:
            logger.warning("run %s: could not confirm the lease before the manifest (%s); landing on", self.run_id, exc)

    def _landed(self, stale: int, manifest: Manifest) -> Deferred[None]:
        if stale:
            logger.info("run %s: removed %d page object(s) of earlier attempts", self.run_id, stale)
        result = JobResult(
            state=JobState.FINISHED,
            pages=len(self.pages),
            records=self.records,
            bytes=self.bytes,
            manifest_path=manifest.key,
        )
        return self._ack(RunState.FINISHED, result, f"manifest {s3_uri(self.bucket, manifest.key)}")

    def _landing_failed(self, failure: Failure) -> None:
        if failure.check(LeaseLostError, LandingSupersededError):
            # Another attempt owns the run: acking anything would be a lie about it.
            logger.warning("run %s: not landed, stopping without ack: %s", self.run_id, failure.getErrorMessage())
            self._stand_down()  # a no-op when the heartbeat noticed first and ended the run
            return
        if not self.active:
            return
        error: Failure = getattr(failure.value, "subFailure", failure)  # DeferredList's FirstError
        self.fail(
            f"writing the raw landing to s3://{self.bucket}/{self.job.raw_prefix} failed: "
            f"{error.getErrorMessage()}. Check the S3 endpoint and credentials; the job can be retried."
        )

    def fail(self, reason: str) -> None:
        if not self.active:
            return
        reason = self.scrub(reason)[:_MAX_ERROR]
        result = JobResult(
            state=JobState.FAILED,
            pages=len(self.pages),
            records=self.records,
            bytes=self.bytes,
            error=reason,
        )
        self._ack(RunState.FAILED, result, f"error: {reason}")

    def _ack(self, state: RunState, result: JobResult, detail: str) -> Deferred[None]:
        self.state = state
        self.keeper.stop()
        d = deferToThread(self._send_ack, result)

        def acked(_: object) -> None:
            self._summary(state.value, detail)

        def not_acked(failure: Failure) -> None:
            if failure.check(LeaseLostError):
                logger.warning(
                    "run %s: %s; result discarded (another worker owns the run)", self.run_id, failure.getErrorMessage()
                )
            else:
                # The lease will expire and the reaper will hand the job out again.
                logger.error(
                    "run %s: could not record %s in the queue: %s", self.run_id, state.value, failure.getErrorMessage()
                )

        d.addCallbacks(acked, not_acked)
        d.addBoth(lambda _: self._end())
        return d

    def _send_ack(self, result: JobResult) -> None:
        self.landing.points.reach("ack", f"run {self.run_id} {result.state.value}")
        ack_through_outage(self.queue, self.lease, result)

    def _lease_lost(self, error: LeaseLostError) -> None:
        if self.active:
            logger.warning("run %s: lease lost, stopping without ack: %s", self.run_id, error)
        self._stand_down()

    def _stand_down(self) -> None:
        """End a run another attempt owns, without acking anything."""
        if not self.active:
            return
        self.state = RunState.LOST
        self.keeper.stop()
        self._end()

    def release(self) -> Deferred[None]:
        """Hand the job back untouched (shutdown): queued again, attempt not counted."""
        if not self.active:
            return succeed(None)
        self.state = RunState.RELEASED
        self.keeper.stop()
        d = deferToThread(self.queue.release, self.lease)
        d.addCallbacks(
            lambda _: logger.info(
                "run %s: released back to the queue after %d pages (shutting down)", self.run_id, len(self.pages)
            ),
            lambda f: logger.warning(
                "run %s: release failed (%s); its lease will expire and be reaped", self.run_id, f.getErrorMessage()
            ),
        )
        d.addBoth(lambda _: self._end())
        return d

    def _end(self) -> None:
        self.stats.close()  # a lost or released run's per-job keys leave the collector too
        self._on_end(self)

    def _summary(self, outcome: str, detail: str) -> None:
        """The job's one summary line, from its stats (which then leave the collector)."""
        seconds = time.monotonic() - self._t0
        counts = self.stats.close()
        logger.info(
            "run %s %s: %d pages, %d records, %d bytes in %.2f s (%.1f req/s), %d retries, %d 429s; %s",
            self.run_id,
            outcome,
            len(self.pages),
            self.records,
            self.bytes,
            seconds,
            counts["requests"] / max(seconds, 1e-9),
            counts["retries"],
            counts["throttled"],
            detail,
        )


def build_request(run: Any, clean_url: str) -> scrapy.Request:
    """The request ``run.request_for`` sends (a crawl's ``JobRun`` or a preview run):
    ``run`` holds the job, its resolved request, the config and the secret params."""
    spec = run.request
    # A token-based auth is applied per send by its middleware (scrapworker.oauth2).
    auth_headers, auth_query = ({}, {}) if spec.auth.needs_token else spec.auth.apply()
    url = with_params(clean_url, auth_query) if auth_query else clean_url
    headers = {"Accept": "application/json", **spec.headers, **auth_headers}
    body = run.config.render_body(run.job.slot_start, run.job.slot_end)
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
    return scrapy.Request(
        url,
        method=spec.method,
        headers=headers,
        body=json.dumps(body).encode() if body is not None else None,
        # Pagination owns loop detection; retries must re-send the same URL.
        dont_filter=True,
        meta={
            RUN_META: run,
            CLEAN_URL_META: clean_url,
            SECRET_PARAMS_META: run.secret_params,
            "handle_httpstatus_all": True,
            "download_timeout": run.config.request.timeout_seconds,
        },
    )
