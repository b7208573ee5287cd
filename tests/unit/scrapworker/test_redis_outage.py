"""An ack during a Redis outage is retried, not dropped; a retry whose first attempt
had landed counts as done; a lease really lost still raises."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import redis

from lakehouse.errors import LeaseLostError
from lakehouse.queue.jobs import JobResult, JobState
from scrapworker.redis_outage import ack_through_outage

RESULT = JobResult(state=JobState.FINISHED, pages=1, records=2, bytes=3, manifest_path="raw/x/_manifest.json")
LEASE: Any = SimpleNamespace(run_id="sbx__20240102T0300Z", lease_id=7, worker_id="w1")


class FlakyQueue:
    def __init__(self, *replies: Exception | None) -> None:
        self.replies = list(replies)
        self.calls = 0

    def ack(self, lease: Any, result: JobResult) -> None:
        self.calls += 1
        reply = self.replies.pop(0) if self.replies else None
        if reply is not None:
            raise reply


def test_an_ack_is_retried_through_connection_errors() -> None:
    queue: Any = FlakyQueue(redis.ConnectionError("refused"), redis.TimeoutError("slow"), None)
    ack_through_outage(queue, LEASE, RESULT)
    assert queue.calls == 3


def test_a_retry_that_finds_its_own_ack_landed_is_done() -> None:
    landed = LeaseLostError(LEASE.run_id, LEASE.lease_id, "finished", "w1")
    queue: Any = FlakyQueue(redis.ConnectionError("reply lost"), landed)
    ack_through_outage(queue, LEASE, RESULT)
    assert queue.calls == 2


@pytest.mark.parametrize(
    ("first", "lost"),
    [
        (None, LeaseLostError(LEASE.run_id, 7, "running", "w2")),  # reaped and re-leased
        (redis.ConnectionError("x"), LeaseLostError(LEASE.run_id, 7, "finished", "w2")),  # another worker's
    ],
)
def test_a_lease_really_lost_still_raises(first: Exception | None, lost: LeaseLostError) -> None:
    queue: Any = FlakyQueue(*([first] if first else []), lost)
    with pytest.raises(LeaseLostError):
        ack_through_outage(queue, LEASE, RESULT)
