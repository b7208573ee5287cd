"""A job's counters in Scrapy's stats collector (``crawler.stats``).

Every count goes to two keys: the worker's running total ``scrapworker/<name>`` (what
a Scrapy user reads in ``crawler.stats`` and in the stats dump when the worker
stops), and the job's own ``scrapworker/run/<run_id>/<name>``, which the job's
summary line reads when it ends and then removes, so a worker that serves jobs for
days does not collect keys without end.

The names: ``requests`` (sent, after the rate limiter's grant), ``pages`` (landed),
``records``, ``bytes`` (of landed page bodies), ``retries`` (re-sends after a 5xx,
a timeout or a truncated body) and ``throttled`` (429 answers). The retry middleware
also counts Scrapy's own ``retry/count``, ``retry/reason_count/<reason>`` and
``retry/max_reached``, as Scrapy's RetryMiddleware it replaces did.

The job's status in Redis and its manifest count pages, records and bytes from the
landed pages themselves (``JobRun``), not from these counters.
"""

from __future__ import annotations

from typing import Final

from scrapy.statscollectors import StatsCollector

PREFIX: Final = "scrapworker"
NAMES: Final = ("requests", "pages", "records", "bytes", "retries", "throttled")


def total_key(name: str) -> str:
    return f"{PREFIX}/{name}"


def run_key(run_id: str, name: str) -> str:
    return f"{PREFIX}/run/{run_id}/{name}"


class RunStats:
    def __init__(self, stats: StatsCollector, run_id: str) -> None:
        self.stats = stats
        self.run_id = run_id

    def inc(self, name: str, count: int = 1) -> None:
        if name not in NAMES:
            raise KeyError(f"unknown worker stat {name!r}; one of {', '.join(NAMES)}")
        self.stats.inc_value(total_key(name), count)
        self.stats.inc_value(run_key(self.run_id, name), count)

    def get(self, name: str) -> int:
        value = self.stats.get_value(run_key(self.run_id, name), 0)
        return int(value)

    def close(self) -> dict[str, int]:
        """The job's counts; its per-job keys leave the collector (the totals stay)."""
        counts = {name: self.get(name) for name in NAMES}
        # get_stats() is the collector's own dict (Scrapy's StatsCollector has no
        # delete); MemoryStatsCollector keeps it until the spider closes.
        live = self.stats.get_stats()
        for name in NAMES:
            live.pop(run_key(self.run_id, name), None)
        return counts
