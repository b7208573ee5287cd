"""The deferred crawl wait's trigger against the test stack's real Redis, run as the
triggerer runs it (its async generator in an event loop), with the worker's side
played by the queue API a worker uses."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowFailException

from lakehouse.config.settings import Settings
from lakehouse.pipeline.steps import CrawlFailedError
from lakehouse.queue.config import QueueSettings
from lakehouse.queue.crawl_queue import JobQueue
from lakehouse.queue.jobs import CrawlJob, JobResult, JobState
from lakehouse_airflow.operators import CrawlWaitOperator
from lakehouse_airflow.triggers import CrawlStatusTrigger

pytestmark = pytest.mark.integration

REASON = "page 3: HTTP 500 from http://127.0.0.1:9/v1/offset?symbol=BTCUSDT after 2 attempts"


@pytest.fixture()
def queue(settings: Settings) -> Iterator[JobQueue]:
    client = settings.redis.client()
    yield JobQueue(client, QueueSettings(prefix=f"trig{uuid.uuid4().hex[:10]}"))
    client.close()


def _job(minute: int = 0) -> CrawlJob:
    start = datetime(2025, 3, 1, 12, 0, tzinfo=UTC) + timedelta(minutes=minute)
    return CrawlJob.for_slot(
        endpoint="sandbox_trades",
        slot_start=start,
        slot_end=start + timedelta(minutes=15),
        config_hash="0" * 64,  # never crawled: no worker reads its config
        raw_base="raw",
    )


def _trigger(
    queue: JobQueue, run_id: str, *, timeout: float = 60, no_worker: float = 60, recheck: float = 30
) -> CrawlStatusTrigger:
    # A long recheck by default: a wake-up within it can only be the announcement.
    return CrawlStatusTrigger(
        run_id=run_id,
        queue_prefix=queue.options.prefix,
        deadline=time.time() + timeout,
        no_worker_seconds=no_worker,
        recheck_seconds=recheck,
        timeout_seconds=timeout,
    )


def _run(
    trigger: CrawlStatusTrigger, meanwhile: Callable[[], None] | None = None, after: float = 0.5
) -> tuple[dict, float]:
    """The trigger's first event and the monotonic time it arrived; ``meanwhile`` runs
    in a thread ``after`` seconds in (once the trigger is subscribed and waiting)."""

    async def first() -> tuple[dict, float]:
        event = await anext(trigger.run())
        return event.payload, time.monotonic()

    thread = None
    if meanwhile is not None:
        thread = threading.Thread(target=lambda: (time.sleep(after), meanwhile()))
        thread.start()
    try:
        return asyncio.run(asyncio.wait_for(first(), timeout=120))
    finally:
        if thread is not None:
            thread.join()


def _resume(event: dict) -> str:
    return CrawlWaitOperator(task_id="wait_for_crawl", crawl_run_id=event["run_id"]).execute_complete({}, event)


def test_it_resumes_within_a_second_of_the_ack(queue: JobQueue) -> None:
    job = _job()
    queue.enqueue(job)
    lease = queue.lease("w-ok")
    assert lease is not None
    acked: list[float] = []

    def ack() -> None:
        acked.append(time.monotonic())  # from the moment the worker sends its ack
        queue.ack(
            lease,
            JobResult(state=JobState.FINISHED, pages=9, records=900, bytes=9000, manifest_path="raw/x/_manifest.json"),
        )

    event, arrived = _run(_trigger(queue, job.run_id), ack, after=1.0)
    latency = arrived - acked[0]
    print(f"\ntrigger resumed {latency * 1000:.1f} ms after the ack")
    assert event["state"] == "finished" and event["announced"] is True
    assert latency < 3.0  # measured in milliseconds; generous for a loaded 2-core machine
    assert _resume(event) == "raw/x/_manifest.json"


def test_a_failed_crawl_fails_at_once_with_the_workers_reason(queue: JobQueue) -> None:
    job = _job()
    queue.enqueue(job)
    lease = queue.lease("w-fail")
    assert lease is not None
    acked: list[float] = []

    def fail() -> None:
        acked.append(time.monotonic())
        queue.ack(lease, JobResult(state=JobState.FAILED, pages=2, error=REASON))

    event, arrived = _run(_trigger(queue, job.run_id), fail)
    assert event["state"] == "failed" and event["error"] == REASON
    assert arrived - acked[0] < 3.0
    with pytest.raises(AirflowFailException) as info:
        _resume(event)
    assert str(info.value) == str(CrawlFailedError(job.run_id, "failed", REASON, 1))


def test_a_dead_lettered_crawl_fails_with_its_reason(queue: JobQueue) -> None:
    job = _job()
    queue.enqueue(job)
    lease = queue.lease("w-dead")
    assert lease is not None
    event, _ = _run(_trigger(queue, job.run_id), lambda: queue.dead_letter(lease, "no config for endpoint x"))
    assert event["state"] == "dead" and event["announced"] is True
    with pytest.raises(AirflowFailException, match="no config for endpoint x"):
        _resume(event)


def test_a_missed_announcement_still_finishes_the_wait(queue: JobQueue) -> None:
    job = _job()
    queue.enqueue(job)
    assert queue.lease("w-quiet") is not None

    def finish_without_publish() -> None:
        # What a lost pub/sub message looks like to the waiter: the hash says finished.
        queue.client.hset(
            queue.keys.job(job.run_id),
            mapping={"state": "finished", "manifest_path": "raw/y/_manifest.json", "finished_at": f"{time.time():.6f}"},
        )

    started = time.monotonic()
    event, arrived = _run(_trigger(queue, job.run_id, recheck=1.0), finish_without_publish)
    assert event["state"] == "finished" and event["announced"] is False
    assert event["manifest_path"] == "raw/y/_manifest.json"
    assert arrived - started < 10
    assert _resume(event) == "raw/y/_manifest.json"


def test_no_worker_fails_with_a_message_that_says_how_to_start_one(queue: JobQueue) -> None:
    job = _job()
    queue.enqueue(job)  # and nobody leases it
    started = time.monotonic()
    event, arrived = _run(_trigger(queue, job.run_id, no_worker=1.0, recheck=0.5))
    assert event["state"] == "no_worker"
    assert 0.5 < arrived - started < 15
    message = event["message"]
    assert queue.keys.jobs in message and "python -m scrapworker" in message
    assert "lakehouse local up --with worker" in message and "none was ever seen" in message
    with pytest.raises(AirflowFailException, match="python -m scrapworker"):
        _resume(event)


def test_a_worker_that_died_holding_the_job_counts_as_no_worker(queue: JobQueue) -> None:
    job = _job()
    queue.enqueue(job)
    assert queue.lease("w-gone", lease_seconds=600) is not None  # then it stops heartbeating
    event, _ = _run(_trigger(queue, job.run_id, no_worker=1.0, recheck=0.5))
    assert event["state"] == "no_worker"
    assert "still running" in event["message"] and "w-gone" in event["message"]


def test_a_live_worker_is_not_mistaken_for_none_and_the_deadline_holds(queue: JobQueue) -> None:
    job = _job()
    queue.enqueue(job)
    lease = queue.lease("w-slow")
    assert lease is not None
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(0.3):
            queue.heartbeat(lease)

    beater = threading.Thread(target=beat)
    beater.start()
    try:
        started = time.monotonic()
        event, arrived = _run(_trigger(queue, job.run_id, timeout=2.5, no_worker=1.0, recheck=0.5))
    finally:
        stop.set()
        beater.join()
    assert event["state"] == "timeout"
    assert 2.0 < arrived - started < 15
    assert "still running" in event["message"]
