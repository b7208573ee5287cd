"""The crawl worker's tunables as a settings section (``worker``), kept free of
Scrapy and Twisted imports so the worker can validate its flags before Scrapy
installs its reactor, and free of redis so the CLI starts fast.

Every knob has one name: the field here, set in a profile's ``worker:`` section, by
``LAKEHOUSE_WORKER__<FIELD>``, or by the ``python -m scrapworker`` flag of the same
name (``--rate-headroom`` -> ``worker.rate_headroom``). The lease term is the
queue's (``queue.lease_seconds``; the worker's ``--lease-seconds`` overrides it).
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Named the way a user meets them: the setting, its environment variable, its flag.
HEADROOM_NAMES = "worker.rate_headroom (LAKEHOUSE_WORKER__RATE_HEADROOM, --rate-headroom)"
SLACK_NAMES = "worker.rate_slack (LAKEHOUSE_WORKER__RATE_SLACK, --rate-slack)"


def rate_window_margin(headroom: float) -> float:
    """Seconds of every one-second window left unused by ``headroom``: R grants at
    ``(1 - h)·R`` per second span ``1/(1 - h)`` s, a margin of ``h/(1 - h)`` s."""
    return headroom / (1 - headroom)


def stall_limit(stall_seconds: float, timeout_seconds: float, longest_pause: float) -> float:
    """Seconds without a landed page after which a run is stalled: ``stall_seconds``,
    or the endpoint's longest allowed pause (a Retry-After or a backoff) plus one
    request's timeout when that is longer, so one pause the endpoint allows is no stall."""
    return max(stall_seconds, longest_pause + timeout_seconds)


class WorkerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Jobs held and crawled at once by one worker process.
    concurrency: int = Field(4, ge=1)
    # The name in job statuses; None: host:pid.
    worker_id: str | None = None
    # Exit after taking this many jobs (tests, benchmarks); 0: serve forever.
    max_jobs: int = Field(0, ge=0)
    # On SIGTERM, seconds to finish the jobs in hand before releasing them.
    shutdown_grace: float = Field(30.0, ge=0)
    # A job with no page landed for this long is failed (attempt counted) instead of
    # holding its lease forever; never below what one page may legitimately take
    # (stall_limit below), so a long Retry-After pause an endpoint allows is no stall.
    stall_seconds: float = Field(300.0, gt=0, le=86_400)
    # Share of each endpoint's rate left unused, to absorb arrival jitter at a strict
    # sliding-window upstream (scrapworker.ratelimit_middleware).
    rate_headroom: float = 0.05
    # Seconds a token grant may come early, so a late wake-up costs no rate; it spends
    # part of the headroom's margin, so it must stay below it.
    rate_slack: float = 0.010
    # A progress log line every this many pages of a job; 0: none.
    progress_every: int = Field(50, ge=0)
    # How long one lease call waits for a job, and the poller's fallback tick.
    poll_seconds: float = Field(0.5, gt=0)
    # How often a worker reaps expired leases even when it is too busy to lease.
    reap_seconds: float = Field(5.0, gt=0)
    log_level: str = Field("INFO", pattern=r"^(?i:debug|info|warning|error|critical)$")
    # A test hook, off by default (None): at the ``pause_hit``-th time this process
    # reaches the named point it logs "fault point <name> reached" and holds there for
    # ``pause_seconds``, so a fault-injection test can kill -9 it at that moment
    # (scrapworker.fault_points lists the points; docs/reliability.md uses them).
    pause_at: Literal["page_upload", "manifest", "ack"] | None = None
    pause_hit: int = Field(1, ge=1)
    pause_seconds: float = Field(10.0, ge=0, le=600)

    @model_validator(mode="after")
    def _rate_window(self) -> Self:
        headroom, slack = self.rate_headroom, self.rate_slack
        if not 0 <= headroom < 1:
            raise ValueError(f"{HEADROOM_NAMES} must be in [0, 1), got {headroom} (with rate_slack {slack})")
        margin = rate_window_margin(headroom)
        if not (slack == 0 or 0 < slack < margin):
            raise ValueError(
                f"{SLACK_NAMES} must be 0 or below the headroom's window margin "
                f"({margin * 1000:.1f} ms at headroom {headroom}), got {slack * 1000:.1f} ms"
            )
        return self
