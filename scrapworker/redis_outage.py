"""Riding out a Redis outage (a restart, a failover): the queue's Redis going away for
some seconds is no fault of the job in hand, so it must neither fail the job nor
drop its result.

redis-py (8.1) retries a command 3 times, backed off (a few seconds in all; the figure
is in docs/benchmarks.md); a restart that takes longer reaches the worker as
``ConnectionError``. Left to itself, the rate limiter's error would fail the page
(the job ending "failed" though the API was fine), and an ack that failed would be
logged and dropped, so the run's lease would expire and the finished crawl be crawled
again (tests/integration/reliability/test_reliability_worker_outages.py).

- the rate limiter's token request waits and asks again (``OUTAGE_RETRY_SECONDS``)
  for as long as the run is active; the heartbeat says when the lease did not
  survive the outage, and the run then stops;
- an ack is retried with backoff for up to ``ACK_RETRY_SECONDS``. Retrying is safe:
  the ack script is fenced by the lease id, and a retry whose first attempt had in
  fact landed (the reply was lost) finds the run already in this result's state,
  acked by this worker, which counts as done.
"""

from __future__ import annotations

import logging

import redis
from tenacity import before_sleep_log, retry, retry_if_exception_type, stop_after_delay, wait_exponential

from lakehouse.errors import LeaseLostError
from lakehouse.queue.crawl_queue import JobQueue, Lease
from lakehouse.queue.jobs import JobResult

logger = logging.getLogger(__name__)

OUTAGE_ERRORS = (redis.ConnectionError, redis.TimeoutError)
OUTAGE_RETRY_SECONDS = 1.0
# Past this the lease has long expired and the reaper will hand the job out again.
ACK_RETRY_SECONDS = 300.0


def ack_through_outage(queue: JobQueue, lease: Lease, result: JobResult) -> None:
    """``queue.ack``, retried while Redis is unreachable (blocking: call in a thread)."""
    attempts = 0

    @retry(
        retry=retry_if_exception_type(OUTAGE_ERRORS),
        wait=wait_exponential(multiplier=0.2, max=5),
        stop=stop_after_delay(ACK_RETRY_SECONDS),
        before_sleep=before_sleep_log(logger, logging.WARNING),
        reraise=True,
    )
    def once() -> None:
        nonlocal attempts
        attempts += 1
        try:
            queue.ack(lease, result)
        except LeaseLostError as exc:
            if attempts > 1 and exc.state == result.state.value and exc.holder == lease.worker_id:
                return  # an earlier attempt landed; only its reply was lost
            raise

    once()
