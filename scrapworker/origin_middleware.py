"""Downloader middleware: no page request leaves for a URL its endpoint does not allow.

The paginators and ``JobRun`` check every URL they derive from a response against
the endpoint's URL policy (``lakehouse.endpoints.url_policy``) before building a
request, with a reason that names the page. This is the second check, on the URL as
Scrapy will send it (``Request`` normalises URLs the WHATWG way, which is where a URL
two parsers read differently would slip through): any page request of a run whose
URL the policy refuses fails the run, before a token is fetched or a rate-limit
grant taken, and is not sent.
"""

from __future__ import annotations

import scrapy

from lakehouse.endpoints.url_policy import OffOriginLinkError, describe
from scrapworker.errors import OffOriginRequestError
from scrapworker.run import RUN_META, JobRun


class OriginGuardMiddleware:
    async def process_request(self, request: scrapy.Request) -> None:
        run: JobRun | None = request.meta.get(RUN_META)
        if run is None or run.policy.allows(request.url):
            return None
        error = OffOriginLinkError(f"page {len(run.pages) + 1}'s request", describe(request.url), run.policy.describe())
        raise OffOriginRequestError(str(error))
