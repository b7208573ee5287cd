"""The worker's counters live in Scrapy's stats collector (``crawler.stats``): after a
crawl they hold the pages, records, bytes, retries and 429s of what was crawled, and
Scrapy's stats dump (logged when the worker stops) shows them."""

from __future__ import annotations

import re
from typing import Any

from worker_harness import make_job, read_manifest

from lakehouse.queue.jobs import JobState
from sandbox import FaultRates


def dumped_stats(log: str) -> dict[str, int]:
    """The integer stats of Scrapy's "Dumping Scrapy stats:" block in a worker log."""
    _, _, dump = log.partition("Dumping Scrapy stats:")
    assert dump, "the worker logged no stats dump"
    return {key: int(value) for key, value in re.findall(r"'([^']+)': (\d+)[,}]", dump[: dump.index("}") + 1])}


def test_after_a_crawl_the_crawler_stats_hold_the_counts(
    settings: Any, make_sandbox: Any, endpoints: Any, queue: Any, s3: Any, start_worker: Any
) -> None:
    # The endpoint asks for more than the sandbox allows, so some pages are answered 429.
    sandbox = make_sandbox(records_per_slot=6000, rate_limit=20, faults=FaultRates(fail_rate=0.05, truncate_rate=0.02))
    config = endpoints.write("sbx_counted", sandbox.url, "offset", rate=60)
    job = make_job(settings, config)
    queue.enqueue(job, force=True)
    worker = start_worker("--once")
    assert worker.wait(90) == 0, worker.text()[-3000:]
    status = queue.get_status(job.run_id)
    assert status is not None and status.state == JobState.FINISHED, (status, worker.text()[-3000:])

    served = sandbox.server.stats()
    manifest = read_manifest(s3, settings, job)
    stats = dumped_stats(worker.text())
    assert stats["scrapworker/pages"] == manifest.total_pages == status.pages == 60
    assert stats["scrapworker/records"] == manifest.total_records == status.records == 6000
    assert stats["scrapworker/bytes"] == status.bytes == sum(page.bytes for page in manifest.pages)
    assert stats["scrapworker/retries"] == served.server_errors + served.truncated > 0
    assert stats["scrapworker/throttled"] == served.rate_limited > 0
    assert stats["scrapworker/requests"] == served.ok + served.server_errors + served.truncated + served.rate_limited
    # Scrapy's own retry keys, as its RetryMiddleware would have kept them (429 re-sends included).
    assert stats["retry/count"] == served.server_errors + served.truncated + served.rate_limited
    # The job's own keys left the collector when it ended; its summary line has the counts.
    assert not [key for key in stats if key.startswith("scrapworker/run/")]
    assert f"{stats['scrapworker/retries']} retries, {served.rate_limited} 429s" in worker.text()
