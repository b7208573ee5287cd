from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from lakehouse.endpoints import parse_endpoint
from lakehouse.pipeline.steps import job_for_slot
from lakehouse.queue.crawl_request import resolve_request
from lakehouse.queue.jobs import CrawlJob
from scrapworker.redaction import SecretScrubFilter, scrub, secret_values
from scrapworker.retry_middleware import backoff_seconds, retry_after_seconds

CONFIG = """
name: demo
request:
  url: http://api.test/v1/trades
  params: {symbol: X, start: "{slot_start_ms}"}
  auth: {type: api_key, in: query, name: apikey, key_env: DEMO_KEY}
pagination: {type: offset, offset_param: offset, limit_param: limit, page_size: 10}
rate_limit: {requests_per_second: 5}
schedule: "*/15 * * * *"
"""


def test_backoff_doubles_and_caps() -> None:
    assert [backoff_seconds(n, 0.5, 3.0) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_retry_after_seconds_and_http_date() -> None:
    assert retry_after_seconds(b"3") == 3.0
    assert retry_after_seconds(None) == 1.0
    assert retry_after_seconds(b"soon") == 1.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True).encode()
    assert 25 < retry_after_seconds(later) <= 30


def test_scrub_masks_values_and_secret_query_params() -> None:
    values = secret_values(["K"], {"K": "topsecret"})
    text = "GET http://h/x?a=1&token=abc failed with topsecret in it"
    assert scrub(text, values) == "GET http://h/x?a=1 failed with *** in it"


def test_log_filter_masks_args_and_tracebacks(monkeypatch: object) -> None:
    import os

    os.environ["SCRAPWORKER_TEST_KEY"] = "hunter2hunter2"
    try:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "sent %s", ("hunter2hunter2",), None)
        SecretScrubFilter(["SCRAPWORKER_TEST_KEY"]).filter(record)
        assert record.getMessage() == "sent ***"
    finally:
        del os.environ["SCRAPWORKER_TEST_KEY"]


def test_job_for_slot_carries_the_config_hash_and_the_worker_builds_the_request_from_config() -> None:
    config = parse_endpoint(CONFIG, "demo.yaml")
    start = datetime(2024, 1, 2, 3, 0, tzinfo=UTC)
    job = job_for_slot(config, start, start + timedelta(minutes=15), "raw")
    assert job.config_hash == config.content_hash
    assert "DEMO_KEY" not in job.to_payload() and "api.test" not in job.to_payload()
    request = resolve_request(config, CrawlJob.from_payload(job.to_payload()))
    assert request.url == "http://api.test/v1/trades" and request.auth == config.request.auth
    assert request.auth.secret_params() == {"apikey"} and request.auth.env_names() == {"DEMO_KEY"}
    assert request.params == {"symbol": "X", "start": "1704164400000"}
    assert job.raw_prefix == "raw/demo/ds=2024-01-02/hr=03/min=00/demo__20240102T0300Z/"
