"""Scrapy settings of the worker, the way a Scrapy project's settings module reads.

Every worker component is plugged in here; ``__main__`` adds the command-line options
as ``SCRAPWORKER_*`` settings on top.
"""

from __future__ import annotations

from typing import Any

BOT_NAME = "scrapworker"

SPIDER_MODULES: list[str] = []

DOWNLOADER_MIDDLEWARES: dict[str, int | None] = {
    # Replaced: it re-sends at once and ignores Retry-After.
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "scrapworker.retry_middleware.BackoffRetryMiddleware": 550,
    # Last before the downloader, so a granted token turns into a sent request at once.
    "scrapworker.ratelimit_middleware.SharedRateLimitMiddleware": 990,
    # robots.txt is for crawling sites; these are APIs we are allowed to call.
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    # An API that answers with a cookie must not leak it into the next slot's crawl.
    "scrapy.downloadermiddlewares.cookies.CookiesMiddleware": None,
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
LOG_LEVEL = "INFO"
LOG_FORMAT = "%(asctime)s [%(name)s] %(levelname)s: %(message)s"

ROBOTSTXT_OBEY = False
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

SCRAPWORKER_CONCURRENCY = 4
SCRAPWORKER_SHUTDOWN_GRACE = 30.0
SCRAPWORKER_RATE_HEADROOM = 0.05
SCRAPWORKER_RATE_SLACK = 0.010
SCRAPWORKER_PROGRESS_EVERY = 50
SCRAPWORKER_POLL_SECONDS = 0.5
SCRAPWORKER_REAP_SECONDS = 5.0


def as_dict() -> dict[str, Any]:
    return {name: value for name, value in globals().items() if name.isupper()}
