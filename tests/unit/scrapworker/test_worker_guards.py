"""The worker's guards of issue 18 that need no services: only http(s) download
handlers, no Scrapy redirects, the origin guard on the URL Scrapy will send, the
callback catch-all and the stall watchdog."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
import scrapy
import yaml
from scrapy.settings import Settings as ScrapySettings

from lakehouse.config.worker import WorkerSettings, stall_limit
from lakehouse.endpoints import parse_endpoint
from scrapworker.errors import LandingAbandonedError, OffOriginRequestError
from scrapworker.origin_middleware import OriginGuardMiddleware
from scrapworker.run import RUN_META, JobRun, RunState
from scrapworker.settings import _fixed
from scrapworker.spider import QueueSpider

API = "http://api.test/v1/x"


def _config(**retry: Any) -> Any:
    doc = {
        "name": "demo",
        "request": {"url": API, "timeout_seconds": 5},
        "rate_limit": {"requests_per_second": 5},
        "retry": retry,
        "schedule": "*/15 * * * *",
    }
    return parse_endpoint(yaml.safe_dump(doc), "demo.yaml")


def test_only_http_and_https_download_handlers_and_no_scrapy_redirects() -> None:
    settings = ScrapySettings(_fixed())
    handlers = {scheme for scheme, cls in settings.getwithbase("DOWNLOAD_HANDLERS").items() if cls is not None}
    assert handlers == {"http", "https"}
    middlewares = settings.getwithbase("DOWNLOADER_MIDDLEWARES")
    assert middlewares["scrapy.downloadermiddlewares.redirect.RedirectMiddleware"] is None
    assert middlewares["scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware"] is None
    # Before the OAuth2 token (985) and the rate-limit grant (990): a refused URL costs neither.
    assert middlewares["scrapworker.origin_middleware.OriginGuardMiddleware"] < 985
    assert not settings.getbool("REDIRECT_ENABLED") and not settings.getbool("METAREFRESH_ENABLED")


def _run(config: Any) -> SimpleNamespace:
    failed: list[str] = []
    return SimpleNamespace(
        config=config, policy=config.request.url_policy(), pages=[], active=True, failed=failed, fail=failed.append
    )


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        (API + "?page=2", False),
        ("http://api.test:81/v1/x", True),
        ("https://evil.example/x?token=abc", True),
        ("http://evil.example\\@api.test/v1/x", True),  # Scrapy sends it to evil.example
    ],
)
def test_the_origin_guard_checks_the_url_as_scrapy_sends_it(url: str, refused: bool) -> None:
    run = _run(_config())
    request = scrapy.Request(url, meta={RUN_META: run})
    if not refused:
        assert asyncio.run(OriginGuardMiddleware().process_request(request)) is None
        return
    with pytest.raises(OffOriginRequestError) as info:
        asyncio.run(OriginGuardMiddleware().process_request(request))
    assert "page 1's request points to" in info.value.reason and "abc" not in info.value.reason


def test_the_watchdog_fails_a_run_past_its_stall_limit_and_spares_a_legitimate_pause() -> None:
    quick = _run(_config(max_retry_after_seconds=1, max_backoff_seconds=1))
    patient = _run(_config(max_retry_after_seconds=600))
    for run, idle in ((quick, 31.0), (patient, 31.0)):
        run.stalled_for = lambda now, idle=idle: idle
    spider = SimpleNamespace(runs={"a": quick, "b": patient}, stall_seconds=30.0)
    QueueSpider._watch(spider)  # type: ignore[arg-type]
    assert len(quick.failed) == 1 and "no progress for 31.0 s after 0 page(s)" in quick.failed[0]
    assert "worker.stall_seconds" in quick.failed[0]
    # 600 s Retry-After + 5 s timeout: a pause the endpoint allows is no stall.
    assert patient.failed == []
    assert stall_limit(30, 5, 600) == 605 and stall_limit(300, 5, 60) == 300
    assert WorkerSettings().stall_seconds == 300


def test_a_callback_that_raises_fails_its_run_with_the_exception_named() -> None:
    run = _run(_config())

    def boom(response: Any) -> None:
        raise OverflowError("cannot convert float infinity to integer")

    run.on_response = boom
    response = scrapy.http.TextResponse(API, body=b"[]", request=scrapy.Request(API, meta={RUN_META: run}))
    assert list(QueueSpider.parse(SimpleNamespace(), response)) == []  # type: ignore[arg-type]
    assert run.failed == [
        "page 1: handling the response raised OverflowError: cannot convert float infinity to integer. "
        "The response is one this worker cannot process; check the API's answer for this slot."
    ]


def test_a_run_the_watchdog_failed_writes_no_manifest_after_its_held_uploads() -> None:
    # _confirm_lease runs in the landing thread right before the manifest's write.
    beats: list[object] = []
    queue = SimpleNamespace(heartbeat=lambda lease, progress: beats.append(lease))
    landing = SimpleNamespace(state=RunState.LANDING, run_id="r", queue=queue, lease="L", progress=lambda: None)
    JobRun._confirm_lease(landing)  # type: ignore[arg-type]
    assert beats == ["L"]
    failed = SimpleNamespace(state=RunState.FAILED, run_id="r", queue=queue, lease="L", progress=lambda: None)
    with pytest.raises(LandingAbandonedError, match="ended as failed before its manifest"):
        JobRun._confirm_lease(failed)  # type: ignore[arg-type]
    assert beats == ["L"]
