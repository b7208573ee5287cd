"""Keep credentials out of the worker's logs.

Two layers, because either alone leaves a gap:

- ``RedactingLogFormatter`` (Scrapy's LOG_FORMATTER) prints request URLs without
  credential query parameters in Scrapy's own "Crawled"/"Error downloading" lines;
- ``SecretScrubFilter`` sits on the root log handlers and replaces the *values* of
  every credential the worker may send (the environment variables its endpoint
  configs name) in any log line from any library: a Twisted error that quotes a
  URL, a traceback, a redirect message. Header values are never logged by Scrapy;
  this catches them anyway if some library does.
"""

from __future__ import annotations

import base64
import logging
import os
import re
from collections.abc import Iterable, Mapping

from scrapy import Request, Spider
from scrapy.http import Response
from scrapy.logformatter import LogFormatter, LogFormatterResult
from twisted.python.failure import Failure

from lakehouse.endpoints import EndpointConfig
from lakehouse.endpoints.auth import redact_url

MASK = "***"
_URL_RE = re.compile(r"https?://[^\s<>\"']+")
# Shorter values would mask ordinary words in log lines.
_MIN_SECRET_LEN = 4


def secret_env_names(configs: Iterable[EndpointConfig]) -> set[str]:
    # The auth types say which variables they read (lakehouse.endpoints.auth), so a new auth
    # type is masked here as soon as configs can use it.
    return set().union(*(config.request.auth.env_names() for config in configs))


def secret_values(env_names: Iterable[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """The credential values (and their Basic-auth encodings) to mask, longest first."""
    env = os.environ if environ is None else environ
    plain = [env[n] for n in env_names if len(env.get(n, "")) >= _MIN_SECRET_LEN]
    values = set(plain)
    for user in plain:
        for password in plain:
            values.add(base64.b64encode(f"{user}:{password}".encode()).decode())
    return sorted(values, key=len, reverse=True)


def scrub(text: str, values: Iterable[str]) -> str:
    for value in values:
        text = text.replace(value, MASK)
    return _URL_RE.sub(lambda m: redact_url(m.group(0)), text)


class SecretScrubFilter(logging.Filter):
    """Rewrites each record's message with secrets masked. Install on handlers (a
    filter on a logger does not see records propagated from child loggers)."""

    def __init__(self, env_names: Iterable[str]) -> None:
        super().__init__()
        self.env_names = set(env_names)
        self.values: set[str] = set()

    def add(self, env_names: Iterable[str]) -> None:
        self.env_names.update(env_names)

    def add_values(self, values: Iterable[str]) -> None:
        """Mask these values too: the worker's own secrets (S3 keys, Redis password),
        which may come from secret files rather than the environment."""
        self.values.update(v for v in values if len(v) >= _MIN_SECRET_LEN)

    def filter(self, record: logging.LogRecord) -> bool:
        values = sorted({*secret_values(self.env_names), *self.values}, key=len, reverse=True)
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        clean = scrub(message, values)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, values)
        return True


_installed: SecretScrubFilter | None = None


def install_filter(env_names: Iterable[str] = ()) -> SecretScrubFilter:
    """Put the one filter on every root handler that lacks it. Call it again after
    Scrapy swaps its root handler: every Crawler replaces it (in its constructor and
    again in crawl()), which dropped the filter, so lines logged once the crawl
    began went out unmasked (found by the canary test, botocore's debug lines)."""
    global _installed
    flt = _installed or SecretScrubFilter(())
    flt.add(env_names)
    for handler in logging.getLogger().handlers:
        if flt not in handler.filters:
            handler.addFilter(flt)
    _installed = flt
    return flt


def mask_env_names(env_names: Iterable[str]) -> None:
    """Add variables whose values the installed filter must mask (a job's auth)."""
    if _installed is not None:
        _installed.add(env_names)


def masked_values() -> set[str]:
    """The values the installed filter masks besides the environment's (worker secrets, tokens)."""
    return set(_installed.values) if _installed is not None else set()


def mask_values(values: Iterable[str]) -> None:
    """Mask these values in every later log line (an OAuth2 access token)."""
    if _installed is not None:
        _installed.add_values(values)


# Set by the job's run on each request: the query parameters its auth sends, which
# the log formatter strips besides the default ones.
SECRET_PARAMS_META = "crawl_secret_params"


class _RedactedRequest:
    """Formats like a Request (``<GET url>``) but with a credential-free URL."""

    def __init__(self, request: Request) -> None:
        self.text = f"<{request.method} {redact_url(request.url, request.meta.get(SECRET_PARAMS_META, ()))}>"

    def __str__(self) -> str:
        return self.text


class RedactingLogFormatter(LogFormatter):
    def _redact(self, result: LogFormatterResult) -> LogFormatterResult:
        args = dict(result.get("args") or {})
        if isinstance(args.get("request"), Request):
            args["request"] = _RedactedRequest(args["request"])
        if isinstance(args.get("referer"), str):
            args["referer"] = redact_url(args["referer"])
        result["args"] = args
        return result

    def crawled(self, request: Request, response: Response, spider: Spider) -> LogFormatterResult:
        return self._redact(super().crawled(request, response, spider))

    def spider_error(
        self, failure: Failure, request: Request, response: Response | Failure, spider: Spider
    ) -> LogFormatterResult:
        return self._redact(super().spider_error(failure, request, response, spider))

    def download_error(
        self, failure: Failure, request: Request, spider: Spider, errmsg: str | None = None
    ) -> LogFormatterResult:
        return self._redact(super().download_error(failure, request, spider, errmsg))
