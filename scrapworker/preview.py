"""``python -m scrapworker.preview``: fetch an endpoint's first pages through the
worker's own request path and print them as JSON; nothing lands.

    python -m scrapworker.preview --config FILE.yaml --pages 2 [--profile P] < job.json

``lakehouse preview`` runs this as a subprocess (the core never imports an adapter)
and does the reading and the inference itself. The job on stdin is the slot's crawl
job as a producer makes it (``lakehouse.pipeline.steps.slot_job``); it is checked against
the config exactly as a worker checks a leased job (``crawl_request.resolve_request``).

The same path as a crawl, minus the queue and the landing: the same Scrapy settings
and downloader middlewares (the URL policy guard, OAuth2 tokens, the shared Redis
rate-limit bucket under the endpoint's key, retries with backoff and Retry-After),
the same paginator, the same credential handling (added at send time, never in a
printed URL). It stops after ``--pages`` pages: the next URL is computed, not fetched.

Output (stdout, one JSON document): ``{"pages": [{"url", "status", "records",
"next", "data"}], "error": str | null}``; URLs are credential-free.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any

import scrapy
import typer
from scrapy.crawler import Crawler
from scrapy.http import Response
from twisted.python.failure import Failure

from lakehouse.cli._errors import exit_code
from lakehouse.endpoints import EndpointConfig, extract, load_endpoint
from lakehouse.errors import LakehouseError
from lakehouse.queue.crawl_request import ResolvedRequest, resolve_request
from lakehouse.queue.jobs import CrawlJob
from lakehouse.raw.layout import redact_url
from scrapworker.errors import JobFailedError, OffOriginRequestError, PageRetriesExhaustedError, TokenRequestError
from scrapworker.pagination import Page, Paginator, paginator_for
from scrapworker.redaction import install_filter, scrub, secret_values
from scrapworker.run import CLEAN_URL_META, PARSED_META, build_request
from scrapworker.stats import RunStats

logger = logging.getLogger(__name__)


class PreviewRun:
    """What the worker's middlewares read from a run (``scrapworker.run.JobRun``:
    config, active, run_id, stats, redact, policy, pages), for a run that lands nothing."""

    def __init__(self, config: EndpointConfig, job: CrawlJob, pages: int, stats: Any) -> None:
        self.config = config
        self.job = job
        self.run_id = f"preview:{job.run_id}"
        # From the config alone, after checking the job was made from it (as a worker does).
        self.request: ResolvedRequest = resolve_request(config, job)
        self.secret_params = self.request.auth.secret_params()
        self.policy = config.request.url_policy()
        self.paginator: Paginator = paginator_for(
            config.pagination, self.request.url, self.request.params, self.secret_params, self.policy
        )
        self.stats = RunStats(stats, self.run_id)
        self.limit = pages
        self.pages: list[dict[str, Any]] = []
        self.error: str | None = None
        self.active = True

    def redact(self, url: str) -> str:
        return redact_url(url, self.secret_params)

    def request_for(self, clean_url: str) -> scrapy.Request:
        return build_request(self, clean_url)

    def on_response(self, response: Response) -> scrapy.Request | None:
        clean_url: str = response.meta[CLEAN_URL_META]
        entry: dict[str, Any] = {
            "url": self.redact(clean_url),
            "status": response.status,
            "records": None,
            "next": None,
            "data": None,
        }
        self.pages.append(entry)
        if response.status != 200:
            self.end(f"page {len(self.pages)}: HTTP {response.status} from {entry['url']}")
            return None
        data = response.meta.pop(PARSED_META, None)
        if data is None:
            try:
                data = json.loads(response.body)
            except ValueError as exc:
                self.end(f"page {len(self.pages)}: the body is not JSON ({exc})")
                return None
        entry["data"] = data
        found = extract(data, self.config.response_map.records_path)
        records = len(found) if isinstance(found, list) else 0
        entry["records"] = records if isinstance(found, list) or found is None else None
        headers = {k.decode("latin-1"): b", ".join(v).decode("latin-1") for k, v in response.headers.items()}
        try:
            nxt = self.paginator.next_url(Page(clean_url, data, records, headers))
        except (JobFailedError, LakehouseError) as exc:
            self.end(str(exc))
            return None
        entry["next"] = self.redact(nxt) if nxt is not None else None
        if nxt is None or len(self.pages) >= self.limit:
            self.end(None)
            return None
        return self.request_for(nxt)

    def on_error(self, failure: Failure) -> None:
        if failure.check(PageRetriesExhaustedError, TokenRequestError, OffOriginRequestError):
            self.end(failure.value.reason)  # type: ignore[union-attr]
        else:
            kind = failure.type.__name__ if failure.type is not None else "error"
            self.end(f"page {len(self.pages) + 1}: {kind}: {failure.getErrorMessage()}")

    def end(self, error: str | None) -> None:
        self.active = False
        if error is not None:
            self.error = scrub(error, secret_values(self.request.auth.env_names()))

    def report(self) -> dict[str, Any]:
        return {"pages": self.pages, "error": self.error}


class PreviewSpider(scrapy.Spider):
    name = "scrapworker-preview"
    run: PreviewRun

    def __init__(self, *args: Any, config: EndpointConfig, job: CrawlJob, pages: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config, self.job, self.limit = config, job, pages

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> PreviewSpider:
        spider: PreviewSpider = super().from_crawler(crawler, *args, **kwargs)
        # The crawler replaces the root log handler: the secret filter goes on the new one.
        crawler.signals.connect(lambda spider: install_filter(), signal=scrapy.signals.spider_opened)
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        # The stats collector exists from the crawl's start, not when the spider is made.
        assert self.crawler.stats is not None
        self.run = PreviewRun(self.config, self.job, self.limit, self.crawler.stats)
        try:
            first = self.run.request_for(self.run.paginator.first_url())
        except (JobFailedError, LakehouseError) as exc:  # e.g. the token variable is not set
            self.run.end(str(exc))
            return
        first.callback, first.errback = self.parse, self.errback
        yield first

    def parse(self, response: Response, **kwargs: Any) -> Iterator[scrapy.Request]:
        nxt = self.run.on_response(response)
        if nxt is not None:
            nxt.callback, nxt.errback = self.parse, self.errback
            yield nxt

    def errback(self, failure: Failure) -> None:
        self.run.on_error(failure)


app = typer.Typer(
    add_completion=False,
    help=__doc__.split("\n\n")[0] if __doc__ else None,
    # `-h` as well: the argparse parser this replaced took it.
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


@app.command()
def _preview(
    config: Annotated[Path, typer.Option("--config", help="the endpoint's YAML file")],
    pages: Annotated[int, typer.Option(help="pages to fetch at most (default 2)", show_default=False)] = 2,
    profile: Annotated[str | None, typer.Option(help="settings profile (default $LAKEHOUSE_PROFILE)")] = None,
) -> int:
    return _run(config, pages, profile)


def _run(config_path: Path, pages: int, profile: str | None) -> int:
    from lakehouse.config.settings import load_settings

    try:
        settings = load_settings(profile)
        config = load_endpoint(config_path)
        job = CrawlJob.model_validate_json(sys.stdin.read())
        resolve_request(config, job)  # refuses a job not made from this config, as a worker does
    except LakehouseError as exc:
        print(json.dumps({"pages": [], "error": str(exc)}))
        return 2
    # Imported once the inputs are valid: importing Scrapy installs the reactor.
    from scrapy.crawler import CrawlerProcess

    from scrapworker.settings import EXTENSIONS, scrapy_settings

    install_filter(config.request.auth.env_names())
    overrides = {
        # Preview's output is the JSON document; the worker's log lines would be noise.
        "LOG_LEVEL": "WARNING",
        # The graceful-shutdown extension drives a queue spider's leases; there are none.
        "EXTENSIONS": {**EXTENSIONS, "scrapworker.shutdown.GracefulShutdown": None},
    }
    process = CrawlerProcess(scrapy_settings(settings) | overrides)
    crawler = process.create_crawler(PreviewSpider)
    process.crawl(crawler, config=config, job=job, pages=max(1, pages))
    process.start()
    spider = crawler.spider
    run = getattr(spider, "run", None)
    report = run.report() if isinstance(run, PreviewRun) else {"pages": [], "error": "the preview crawl did not start"}
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    return exit_code(app, argv, prog_name="python -m scrapworker.preview")


if __name__ == "__main__":
    sys.exit(main())
