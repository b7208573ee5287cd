"""Why a crawl job ended without a landing. Each message names the run and says what to do.

A ``JobFailedError`` becomes the job's ``failed`` status (its text is the ``error``
field operators read in ``lakehouse queue status``), so messages never carry a URL
that was not passed through ``raw_layout.redact_url`` first.
"""

from __future__ import annotations

from scrapy.exceptions import IgnoreRequest

from lakehouse.errors import LakehouseError


class JobFailedError(LakehouseError):
    """The job cannot finish; ack it as failed with this message."""


class PaginationLoopError(JobFailedError):
    def __init__(self, what: str, value: str, page: int) -> None:
        super().__init__(
            f"pagination loop: page {page} would request the {what} {value!r} again. The API "
            "keeps returning a cursor or next link it already gave; check the endpoint's "
            "pagination settings (cursor_param / next_*_path) against a real response."
        )


class MaxPagesExceededError(JobFailedError):
    def __init__(self, max_pages: int) -> None:
        super().__init__(
            f"the crawl reached max_pages={max_pages} and the API still offers a next page. "
            "Raise pagination.max_pages if the slot really holds that much, or check that the "
            "stop condition (total_path, total_pages_path, short page) matches the API."
        )


class InvalidCountError(JobFailedError):
    """A total or page count in a response that is no count: not a whole number, not
    finite, negative, a bool, or more than any crawl could fetch."""

    def __init__(self, field: str, path: str, value: object, page: int, limit: int) -> None:
        shown = repr(value) if not isinstance(value, str) else repr(value[:40] + ("..." if len(value) > 40 else ""))
        super().__init__(
            f"page {page}: pagination.{field} {path!r} is {shown} ({type(value).__name__}), not a whole number "
            f"between 0 and {limit}. The API sent a count no crawl can use; check {field} against a real "
            "response, or remove it to stop on a short page instead."
        )


class TooManyRedirectsError(JobFailedError):
    def __init__(self, page: int, limit: int) -> None:
        super().__init__(
            f"page {page}: more than {limit} redirects in a row; the API redirects in a loop. "
            "Point request.url at the final location."
        )


class PageCallbackError(JobFailedError):
    """Anything a page's handling raised that has no name of its own: the job fails
    with it instead of hanging (Scrapy does not route callback errors to the errback)."""

    def __init__(self, page: int, error: BaseException | None) -> None:
        text = str(error)[:500] if error is not None else ""
        super().__init__(
            f"page {page}: handling the response raised {type(error).__name__}"
            + (f": {text}" if text else "")
            + ". The response is one this worker cannot process; check the API's answer for this slot."
        )


class RunStalledError(JobFailedError):
    def __init__(self, seconds: float, pages: int) -> None:
        super().__init__(
            f"no progress for {seconds:.1f} s after {pages} page(s): the crawl or its landing is stuck, so the "
            "worker gave it up (worker.stall_seconds). Check the API, S3 and the worker log; the job can be retried."
        )


class RecordsNotFoundError(JobFailedError):
    def __init__(self, records_path: str, found: str, page: int) -> None:
        where = repr(records_path) if records_path else "the body itself (records_path is empty)"
        super().__init__(
            f"page {page}: response_map.records_path {where} points at {found}, not a list of "
            "records. Fix records_path in the endpoint config to match the response."
        )


class UnexpectedStatusError(JobFailedError):
    def __init__(self, status: int, url: str, page: int) -> None:
        super().__init__(
            f"page {page}: HTTP {status} from {url}. A 4xx other than 429 is not retried: check "
            "the endpoint's URL, params and auth (is the worker's token variable set and valid?)."
        )


class PageRetriesExhaustedError(IgnoreRequest):
    """Raised from the retry middleware so the request's errback fails the job.

    An IgnoreRequest subclass: Scrapy hands it to the errback without logging a
    traceback (whose request line would show an unredacted URL)."""

    def __init__(self, url: str, attempts: int, last_problem: str) -> None:
        self.reason = (
            f"gave up on {url} after {attempts} attempt(s); last problem: {last_problem}. "
            "Raise the endpoint's retry.max_attempts if the API is flaky, or check it is up."
        )
        super().__init__(self.reason)


class RetryAfterTooLongError(PageRetriesExhaustedError):
    """A 429 asked for a longer pause than the endpoint's retry.max_retry_after_seconds."""

    def __init__(self, url: str, seconds: float, limit: float) -> None:
        self.reason = (
            f"the API answered 429 with Retry-After {seconds:g} s for {url}, more than "
            f"retry.max_retry_after_seconds={limit:g}; failing now instead of sleeping that long. "
            "Run the slot again later, or raise the setting if the API really asks for such pauses."
        )
        IgnoreRequest.__init__(self, self.reason)


class TokenRequestError(IgnoreRequest):
    """OAuth2 (scrapworker.oauth2): the token endpoint refused or failed, or the API
    refused a fresh token. The job fails with ``reason``, which names the token URL.
    An IgnoreRequest, so Scrapy hands it to the errback without a traceback."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class OffOriginRequestError(IgnoreRequest):
    """A page request whose URL the endpoint's URL policy refuses (scrapworker.origin_middleware).
    An IgnoreRequest, so Scrapy hands it to the errback without a traceback."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class PageTooLargeError(JobFailedError):
    def __init__(self, page: int, limit: int) -> None:
        super().__init__(
            f"page {page}: the response is larger than the worker's download limit of "
            f"{limit // (1024 * 1024)} MiB, so it was not read. Lower the endpoint's page_size "
            "(or the API's page size parameter) so each page stays below it."
        )


class RunCancelledError(IgnoreRequest):
    """The request's job ended (failed, lost its lease, released): drop it quietly."""


class LandingSupersededError(LakehouseError):
    """This attempt may not commit its landing: a newer attempt of the run owns it.

    Not a job failure: the run belongs to the newer attempt, so this worker acks
    nothing and stops (as on a lost lease)."""

    def __init__(self, run_id: str, attempt: int, newer: int, pages_removed: bool) -> None:
        self.run_id = run_id
        self.attempt = attempt
        self.newer = newer
        left = "were removed" if pages_removed else "were left for clean-up by the run's next landing"
        super().__init__(
            f"a newer attempt (lease {newer}) landed run {run_id}; this attempt (lease {attempt}) wrote no "
            f"manifest and its pages {left}. Nothing to do: the newer landing stands. If this repeats, the "
            "worker stalls past its lease (heartbeat more often, or raise queue.lease_seconds)."
        )


class ManifestContendedError(LakehouseError):
    def __init__(self, key: str, tries: int) -> None:
        super().__init__(
            f"the manifest {key} changed under {tries} conditional writes in a row: another writer keeps "
            "replacing it. Check that only scrapworkers of one queue write this raw prefix; the job can be retried."
        )


class LandingAbandonedError(LakehouseError):
    """The run ended (failed by the stall watchdog, say) while its landing was still
    writing: its manifest must not appear after the queue was told it failed."""

    def __init__(self, run_id: str, state: str) -> None:
        super().__init__(
            f"run {run_id}: the run ended as {state} before its manifest was written; the manifest was "
            "not written (a rerun lands the slot)"
        )
