"""Downloader middleware: OAuth2 client credentials (``auth.type: oauth2_client_credentials``).

For a job whose auth needs a token (``lakehouse.endpoints.auth.OAuth2ClientCredentials``):

- the token is fetched by the worker, with the client id and secret from its own
  environment; the job carries only the variable names;
- one token per client (token URL, variables, scopes) is kept in this process's
  memory and reused across pages and jobs; it is fetched again shortly before it
  expires (``refresh_margin``), and once when the API answers 401 to a page sent
  with it (a token revoked or expired early). A second 401 with a fresh token
  fails the job, as does a token endpoint that refuses, with the endpoint's URL in
  the reason;
- the token never leaves memory: not logged (the log filter masks its value), not
  in the manifest (URLs only), not in Redis or S3.

The token request is a Scrapy request sent with ``engine.download_async`` rather
than a requests/httpx call in a thread: it runs on the reactor like every page,
with Scrapy's timeouts, size limit and connection pool, and passes the same
downloader middlewares. It takes a token from the endpoint's rate-limit bucket only
when the auth says ``rate_limited: true``. Authlib would add a dependency for what
is one form POST and a JSON answer.

It sits just before the rate limiter (order 985 < 990), which stays the last step
before the downloader (its grant-to-send gap is what an upstream sees as jitter). A
token that expires while a page waits for the bucket is what the early refresh
margin is for, and the 401 refresh catches the rest.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Self

import scrapy
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from lakehouse.endpoints.auth import OAuth2ClientCredentials, redact_url
from lakehouse.errors import MissingSecretError
from scrapworker.errors import TokenRequestError
from scrapworker.ratelimit_middleware import LIMITED_AS_META
from scrapworker.redaction import mask_values
from scrapworker.run import CLEAN_URL_META, RUN_META, JobRun

logger = logging.getLogger(__name__)

TOKEN_META = "crawl_oauth2_token"  # the AccessToken a request was sent with
REFRESHED_META = "crawl_oauth2_refreshed"  # this page was already re-sent after a 401
# Refresh this share of a token's lifetime before it ends (at most MAX_MARGIN s), so
# a page never leaves with a token about to expire on the way.
MARGIN_SHARE = 0.1
MAX_MARGIN = 60.0
STATS_KEY = "scrapworker/oauth2/token_requests"
# A failed early refresh is tried again after this long, not on every page.
RETRY_REFRESH_SECONDS = 5.0


def refresh_margin(lifetime: float) -> float:
    return min(MAX_MARGIN, lifetime * MARGIN_SHARE)


@dataclass(frozen=True)
class AccessToken:
    value: str
    fetched_at: float  # monotonic
    expires_at: float | None  # monotonic; None: the server gave no expires_in

    def due(self, now: float) -> bool:
        """Time to fetch a new one (within the refresh margin of its expiry)."""
        if self.expires_at is None:
            return False
        return now >= self.expires_at - refresh_margin(self.expires_at - self.fetched_at)

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


def _refused(auth: OAuth2ClientCredentials, what: str) -> TokenRequestError:
    return TokenRequestError(
        f"OAuth2 token endpoint {redact_url(auth.token_url)} {what}. Check the worker's "
        f"{auth.client_id_env} and {auth.client_secret_env}, the scopes "
        f"{auth.scopes or '(none)'} and client_auth {auth.client_auth!r} against the provider."
    )


def parse_token_response(auth: OAuth2ClientCredentials, status: int, body: bytes, sent_at: float) -> AccessToken:
    """The access token from a token endpoint's answer (RFC 6749 5.1), or the
    TokenRequestError that names the endpoint and its error code (5.2)."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if status != 200:
        detail = ""
        if isinstance(doc, dict) and isinstance(doc.get("error"), str):
            detail = f": {doc['error'][:80]}"
            if isinstance(doc.get("error_description"), str):
                detail += f" ({doc['error_description'][:200]})"
        raise _refused(auth, f"refused the token request: HTTP {status}{detail}")
    if not isinstance(doc, dict) or not isinstance(doc.get("access_token"), str) or not doc["access_token"]:
        raise _refused(auth, "answered HTTP 200 without an access_token in a JSON object")
    kind = doc.get("token_type", "bearer")
    if not isinstance(kind, str) or kind.lower() != "bearer":
        raise _refused(auth, f"issued a token of type {str(kind)[:40]!r}; only bearer tokens are supported")
    expires_in = doc.get("expires_in")
    try:
        lifetime = float(expires_in) if expires_in is not None else None
    except (TypeError, ValueError):
        raise _refused(auth, f"sent expires_in {str(expires_in)[:40]!r}, not a number of seconds") from None
    if lifetime is not None and lifetime <= 0:
        raise _refused(auth, f"issued a token that expires in {lifetime:g} s")
    return AccessToken(doc["access_token"], sent_at, sent_at + lifetime if lifetime is not None else None)


class TokenCache:
    """One token per client (``auth.cache_key()``) for every job of this worker; at
    most one fetch per client at a time (concurrent pages wait for the same one)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tokens: dict[tuple[str, ...], AccessToken] = {}
        self._waiters: dict[tuple[str, ...], list[Deferred[AccessToken]]] = {}
        # After a failed early refresh: no new attempt before this time (the old token works).
        self._quiet_until: dict[tuple[str, ...], float] = {}

    async def get(self, auth: OAuth2ClientCredentials, fetch: Callable[[], Awaitable[AccessToken]]) -> AccessToken:
        key = auth.cache_key()
        cached = self._tokens.get(key)
        now = self.clock()
        if cached is not None and not cached.expired(now):
            if not cached.due(now) or now < self._quiet_until.get(key, 0.0):
                return cached
        waiters = self._waiters.get(key)
        if waiters is not None:
            waiter: Deferred[AccessToken] = Deferred()
            waiters.append(waiter)
            return await maybe_deferred_to_future(waiter)
        self._waiters[key] = waiters = []
        try:
            token = await fetch()
        except Exception as exc:
            if isinstance(exc, TokenRequestError) and cached is not None and not cached.expired(self.clock()):
                # An early refresh failed; the old token still works for a while.
                logger.warning("%s Using the current token until it expires.", exc.reason)
                token = cached
                self._quiet_until[key] = self.clock() + RETRY_REFRESH_SECONDS
            else:
                for w in waiters:
                    w.errback(Failure(exc))
                raise
        finally:
            # Even when cancelled: a later page must not wait on a fetch nobody finishes.
            self._waiters.pop(key, None)
        self._tokens[key] = token
        for w in waiters:
            w.callback(token)
        return token

    def invalidate(self, auth: OAuth2ClientCredentials, token: AccessToken) -> None:
        """Drop ``token`` (an API refused it), unless a newer one replaced it already."""
        key = auth.cache_key()
        if self._tokens.get(key) is token:
            del self._tokens[key]


def _oauth2(request: scrapy.Request) -> tuple[JobRun, OAuth2ClientCredentials] | None:
    run: JobRun | None = request.meta.get(RUN_META)
    if run is None:
        return None
    # The worker's own endpoint config names the token URL and the variables, not the job.
    auth = run.config.request.auth
    return (run, auth) if isinstance(auth, OAuth2ClientCredentials) else None


class OAuth2Middleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.cache = TokenCache()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_request(self, request: scrapy.Request) -> None:
        found = _oauth2(request)
        if found is None:
            return None
        run, auth = found
        token = await self.cache.get(auth, lambda: self._fetch(run, auth))
        request.meta[TOKEN_META] = token
        for name, value in auth.apply(token=token.value).headers.items():
            request.headers[name] = value
        return None

    async def process_response(self, request: scrapy.Request, response: Response) -> scrapy.Request | Response:
        found = _oauth2(request)
        if found is None or response.status != 401 or not found[0].active:
            return response
        run, auth = found
        url = run.redact(request.meta[CLEAN_URL_META])
        if request.meta.get(REFRESHED_META):
            raise TokenRequestError(
                f"HTTP 401 from {url} again with a new token from the OAuth2 token endpoint "
                f"{redact_url(auth.token_url)}: the API refuses this client's tokens (check the scopes "
                f"{auth.scopes or '(none)'} and that the client may use this API)"
            )
        used: AccessToken | None = request.meta.get(TOKEN_META)
        if used is not None:
            self.cache.invalidate(auth, used)
        logger.info(
            "run %s: HTTP 401 from %s; fetching a new OAuth2 token and sending the page once more", run.run_id, url
        )
        again = request.copy()
        again.meta[REFRESHED_META] = True
        again.meta.pop(TOKEN_META, None)
        again.dont_filter = True
        return again

    async def _fetch(self, run: JobRun, auth: OAuth2ClientCredentials) -> AccessToken:
        try:
            spec = auth.token_request()
        except MissingSecretError as exc:
            raise TokenRequestError(f"OAuth2 token for {redact_url(auth.token_url)}: {exc}") from None
        meta: dict[str, object] = {
            "download_timeout": run.config.request.timeout_seconds,
            # A redirect would turn the POST into a GET (and could send the form elsewhere).
            "dont_redirect": True,
            "handle_httpstatus_all": True,
        }
        if auth.rate_limited:
            meta[LIMITED_AS_META] = run
        request = scrapy.Request(
            spec.url, method="POST", headers=spec.headers, body=spec.body, dont_filter=True, meta=meta
        )
        assert self.crawler.engine is not None and self.crawler.stats is not None
        self.crawler.stats.inc_value(STATS_KEY)
        sent_at = time.monotonic()
        try:
            response = await self.crawler.engine.download_async(request)
        except Exception as exc:  # timeouts, refused connections: the job's failure reason
            raise _refused(auth, f"could not be reached ({type(exc).__name__}: {exc})") from None
        token = parse_token_response(auth, response.status, response.body, sent_at)
        mask_values([token.value])
        lifetime = f"expires in {token.expires_at - sent_at:.0f} s" if token.expires_at else "no expiry given"
        logger.info("run %s: new OAuth2 token from %s (%s)", run.run_id, redact_url(auth.token_url), lifetime)
        return token
