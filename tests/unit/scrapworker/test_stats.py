from __future__ import annotations

import pytest
from scrapy.utils.test import get_crawler

from scrapworker.stats import RunStats

pytestmark = pytest.mark.unit


def test_counts_go_to_the_crawler_stats_as_totals_and_per_job() -> None:
    crawler = get_crawler()
    stats = crawler.stats
    assert stats is not None
    a, b = RunStats(stats, "ep__20240102T0300Z"), RunStats(stats, "ep__20240102T0315Z")
    a.inc("pages")
    a.inc("bytes", 100)
    b.inc("pages")
    b.inc("retries", 2)
    assert stats.get_value("scrapworker/pages") == 2
    assert stats.get_value("scrapworker/bytes") == 100
    assert (a.get("pages"), a.get("retries"), b.get("retries")) == (1, 0, 2)

    assert a.close() == {"requests": 0, "pages": 1, "records": 0, "bytes": 100, "retries": 0, "throttled": 0}
    # The job's keys leave the collector; the worker's totals stay.
    assert not [k for k in stats.get_stats() if k.startswith("scrapworker/run/ep__20240102T0300Z/")]
    assert stats.get_value("scrapworker/pages") == 2
    with pytest.raises(KeyError, match="unknown worker stat"):
        a.inc("pagez")
