"""Scrapy settings of the worker, generated in this one place from the typed
lakehouse settings (``lakehouse.config.settings.Settings``, its ``worker`` section).

The module-level names read like a Scrapy project's settings module: the fixed
choices that plug in every worker component. ``scrapy_settings(settings)`` adds the
values that come from the typed settings, and carries the ``Settings`` object itself
so that the spider, middlewares and extensions read typed values
(``lakehouse_settings(crawler.settings).worker.rate_headroom``), never a
``SCRAPWORKER_*`` string with a fallback default of its own.
"""

from __future__ import annotations

from typing import Any

from scrapy.settings import BaseSettings

from lakehouse.config.settings import Settings
from lakehouse.errors import LakehouseError

# The key under which the Scrapy settings carry the typed settings.
LAKEHOUSE_SETTINGS = "LAKEHOUSE_SETTINGS"


class WorkerSettingsMissingError(LakehouseError):
    """A worker component was built from Scrapy settings not made by scrapy_settings()."""


BOT_NAME = "scrapworker"

SPIDER_MODULES: list[str] = []

DOWNLOADER_MIDDLEWARES: dict[str, int | None] = {
    # Replaced: it re-sends at once and ignores Retry-After.
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "scrapworker.retry_middleware.BackoffRetryMiddleware": 550,
    # Last before the downloader, so a granted token turns into a sent request at once.
    # Before the rate limiter, which must stay the last step before the downloader.
    "scrapworker.oauth2.OAuth2Middleware": 985,
    "scrapworker.ratelimit_middleware.SharedRateLimitMiddleware": 990,
    # robots.txt is for crawling sites; these are APIs we are allowed to call.
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    # An API that answers with a cookie must not leak it into the next slot's crawl.
    "scrapy.downloadermiddlewares.cookies.CookiesMiddleware": None,
    # Redirects are followed by JobRun only where the endpoint's URL policy allows
    # (lakehouse.endpoints.url_policy); Scrapy's own would carry an X-API-Key header
    # to any host, and its meta-refresh one follows an HTML page's refresh tag.
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    # Before the OAuth2 token and the rate-limit grant: a page request whose URL (as
    # Scrapy normalised it) the endpoint's URL policy refuses is never sent.
    "scrapworker.origin_middleware.OriginGuardMiddleware": 980,
}

SPIDER_MIDDLEWARES: dict[str, int | None] = {
    # A Referer would send the previous URL (with a query-string API key) back out.
    "scrapy.spidermiddlewares.referer.RefererMiddleware": None,
}

EXTENSIONS: dict[str, int | None] = {
    "scrapworker.shutdown.GracefulShutdown": 100,
    # The worker runs for days; Scrapy's per-minute "Crawled N pages" line would be noise
    # next to the per-job progress lines.
    "scrapy.extensions.logstats.LogStats": None,
    "scrapy.extensions.telnet.TelnetConsole": None,
    # An HTTP control port per worker is an open door nobody asked for.
    "scrapy.extensions.remote_control.RemoteControl": None,
}

LOG_FORMATTER = "scrapworker.redaction.RedactingLogFormatter"
LOG_FORMAT = "%(asctime)s [%(name)s] %(levelname)s: %(message)s"

ROBOTSTXT_OBEY = False
REDIRECT_ENABLED = False
METAREFRESH_ENABLED = False
# Only http(s): the defaults also read file://, ftp://, s3:// and data: URLs, so a next
# link to file:///.../identities.json would land the stack's keys in the raw bucket.
DOWNLOAD_HANDLERS: dict[str, str | None] = {"file": None, "ftp": None, "s3": None, "data": None}
# One page is held in memory (and parsed) whole: a larger one fails the job with a
# named reason (scrapworker.errors.PageTooLargeError) instead of exhausting memory.
# Scrapy's default is 1 GiB.
DOWNLOAD_MAXSIZE = 64 * 1024 * 1024
COOKIES_ENABLED = False
# Pacing is the shared bucket's job; Scrapy's per-domain delay and AutoThrottle would
# only slow the crawl below the limit the endpoint is allowed to use.
DOWNLOAD_DELAY = 0
AUTOTHROTTLE_ENABLED = False
CONCURRENT_REQUESTS = 64
CONCURRENT_REQUESTS_PER_DOMAIN = 64
# Threads for boto3 uploads and Redis calls (lease, heartbeat, token bucket).
REACTOR_THREADPOOL_MAXSIZE = 20
USER_AGENT = "lakehouse-scrapworker/0.1 (+https://github.com/)"
TELNETCONSOLE_ENABLED = False
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"


def _fixed() -> dict[str, Any]:
    return {name: value for name, value in globals().items() if name.isupper() and name != "LAKEHOUSE_SETTINGS"}


def scrapy_settings(settings: Settings) -> dict[str, Any]:
    """The Scrapy settings of a worker run with ``settings``: the one place they are made."""
    return _fixed() | {
        "LOG_LEVEL": settings.worker.log_level.upper(),
        LAKEHOUSE_SETTINGS: settings,
    }


def lakehouse_settings(crawler_settings: BaseSettings) -> Settings:
    """The typed settings a worker component reads (Scrapy hands components a copy)."""
    settings = crawler_settings.get(LAKEHOUSE_SETTINGS)
    if not isinstance(settings, Settings):
        raise WorkerSettingsMissingError(
            f"the Scrapy settings carry no {LAKEHOUSE_SETTINGS}; build them with "
            "scrapworker.settings.scrapy_settings(load_settings(...))"
        )
    return settings
