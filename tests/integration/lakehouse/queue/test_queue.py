"""The reliable queue against a real redis-server: idempotency, leases, fencing,
the reaper, dead letters, and concurrent workers."""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.synchronize
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
import redis

from lakehouse.config.settings import load_settings
from lakehouse.errors import JobNotFoundError, LeaseLostError, RetryRefusedError, WaitTimeoutError
from lakehouse.queue.config import QueueSettings
from lakehouse.queue.crawl_queue import EnqueueOutcome, JobQueue, Lease
from lakehouse.queue.jobs import SCHEMA_VERSION, CrawlJob, JobResult, JobState, Progress

pytestmark = pytest.mark.integration

MakeJob = Callable[..., CrawlJob]


def _finished(pages: int = 2) -> JobResult:
    return JobResult(
        state=JobState.FINISHED,
        pages=pages,
        records=pages * 10,
        bytes=pages * 100,
        manifest_path="raw/x/_manifest.json",
    )


def _expire(queue: JobQueue, lease: Lease) -> list[str]:
    """What a kill -9 amounts to: the holder stops heartbeating and the lease runs out."""
    return queue.reap(now=lease.expires_at + timedelta(milliseconds=1)).requeued


def _ready_payloads(queue: JobQueue) -> list[str]:
    return queue.client.lrange(queue.keys.jobs, 0, -1)


# -- enqueue ----------------------------------------------------------------------


def test_enqueue_is_idempotent_in_every_state(queue: JobQueue, make_job: MakeJob) -> None:
    job = make_job()
    assert queue.enqueue(job).outcome is EnqueueOutcome.QUEUED
    assert queue.enqueue(job).outcome is EnqueueOutcome.ALREADY_QUEUED
    assert queue.enqueue(job, force=True).outcome is EnqueueOutcome.ALREADY_QUEUED
    assert len(_ready_payloads(queue)) == 1

    lease = queue.lease("w1")
    assert lease is not None
    assert queue.enqueue(job).outcome is EnqueueOutcome.ALREADY_RUNNING
    assert queue.enqueue(job, force=True).outcome is EnqueueOutcome.ALREADY_RUNNING
    assert _ready_payloads(queue) == []

    queue.ack(lease, _finished())
    assert queue.enqueue(job).outcome is EnqueueOutcome.ALREADY_FINISHED
    assert _ready_payloads(queue) == []
    assert queue.enqueue(job, force=True).outcome is EnqueueOutcome.REQUEUED
    status = queue.get_status(job.run_id)
    assert status is not None and status.state is JobState.QUEUED and status.attempts == 0
    assert status.manifest_path is None and status.pages == 0
    # The key of a queued run must not expire, or the run would be enqueued twice.
    assert queue.client.ttl(queue.keys.job(job.run_id)) == -1

    lease = queue.lease("w1")
    assert lease is not None
    queue.ack(lease, JobResult(state=JobState.FAILED, error="pagination loop at page 3"))
    assert queue.enqueue(job).outcome is EnqueueOutcome.REQUEUED  # failed: a plain enqueue retries

    lease = queue.lease("w1")
    assert lease is not None
    queue.dead_letter(lease, "no endpoint config named sandbox_trades on this worker")
    assert [d.run_id for d in queue.dead_letters()] == [job.run_id]
    assert queue.enqueue(job).outcome is EnqueueOutcome.REQUEUED
    assert queue.dead_letters() == []  # requeued runs leave the dead-letter list
    assert len(_ready_payloads(queue)) == 1


def test_job_flag_force_also_forces(queue: JobQueue, make_job: MakeJob) -> None:
    job = make_job()
    queue.enqueue(job)
    lease = queue.lease("w1")
    assert lease is not None
    queue.ack(lease, _finished())
    assert queue.enqueue(make_job(force=True)).outcome is EnqueueOutcome.REQUEUED


# -- lease / heartbeat / ack -------------------------------------------------------


def test_lease_heartbeat_ack(queue: JobQueue, make_job: MakeJob) -> None:
    job = make_job()
    queue.enqueue(job)
    lease = queue.lease("worker-a", lease_seconds=30)
    assert lease is not None
    assert lease.job == job and lease.attempt == 1 and lease.worker_id == "worker-a"
    assert queue.lease("worker-b") is None  # nothing else to hand out

    status = queue.get_status(job.run_id)
    assert status is not None
    assert (status.state, status.worker_id, status.attempts, status.endpoint) == (
        JobState.RUNNING,
        "worker-a",
        1,
        "sandbox_trades",
    )
    assert queue.queue_stats().leased == 1

    time.sleep(0.05)
    new_expiry = queue.heartbeat(lease, Progress(pages=3, records=30, bytes=3000))
    assert new_expiry > lease.expires_at
    status = queue.get_status(job.run_id)
    assert status is not None and (status.pages, status.records, status.bytes) == (3, 30, 3000)

    queue.ack(lease, _finished(pages=4))
    status = queue.get_status(job.run_id)
    assert status is not None
    assert status.state is JobState.FINISHED
    assert (status.pages, status.records, status.bytes, status.manifest_path) == (4, 40, 400, "raw/x/_manifest.json")
    assert status.finished_at is not None and status.started_at is not None
    ttl = queue.client.ttl(queue.keys.job(job.run_id))
    assert 0 < ttl <= queue.options.status_ttl_seconds
    stats = queue.queue_stats()
    assert (stats.ready, stats.leased, stats.by_state[JobState.FINISHED]) == (0, 0, 1)
    # A second ack from the same holder is refused: the lease ended with the first.
    with pytest.raises(LeaseLostError):
        queue.ack(lease, _finished())


def test_terminal_status_ttl_is_configurable(redis_client: redis.Redis, prefix: str, make_job: MakeJob) -> None:
    queue = JobQueue(redis_client, QueueSettings(prefix=prefix, status_ttl_seconds=120))
    queue.enqueue(make_job())
    lease = queue.lease("w")
    assert lease is not None
    queue.ack(lease, _finished())
    assert 0 < redis_client.ttl(queue.keys.job(lease.run_id)) <= 120


def test_status_and_stored_values_hold_no_secret(
    queue: JobQueue, make_job: MakeJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDBOX_TOKEN", "tok-never-stored-9f2")
    queue.enqueue(make_job())
    lease = queue.lease("w")
    assert lease is not None
    queue.ack(lease, _finished())
    for key in queue.client.scan_iter(f"{queue.keys.prefix}:*"):
        dump = queue.client.dump(key)
        assert dump is not None and b"tok-never-stored-9f2" not in dump


# -- kill -9, reaping and fencing --------------------------------------------------


def test_killed_worker_lease_is_reaped_and_its_holder_is_fenced_off(queue: JobQueue, make_job: MakeJob) -> None:
    job = make_job()
    queue.enqueue(job)
    old = queue.lease("worker-killed", lease_seconds=5)
    assert old is not None

    assert _expire(queue, old) == [job.run_id]
    status = queue.get_status(job.run_id)
    assert status is not None and status.state is JobState.QUEUED
    assert status.error and "lease expired" in status.error and "worker-killed" in status.error

    with pytest.raises(LeaseLostError, match="no longer held"):
        queue.heartbeat(old)

    new = queue.lease("worker-b", lease_seconds=30)
    assert new is not None and new.run_id == job.run_id
    assert new.attempt == 2 and new.lease_id != old.lease_id

    # The old holder wakes up: every holder-side call is refused, and none of them
    # disturbs the new holder.
    with pytest.raises(LeaseLostError) as lost:
        queue.heartbeat(old, Progress(pages=99))
    assert lost.value.state == "running"
    with pytest.raises(LeaseLostError):
        queue.ack(old, _finished(pages=99))
    with pytest.raises(LeaseLostError):
        queue.release(old)
    with pytest.raises(LeaseLostError):
        queue.dead_letter(old, "x")
    status = queue.get_status(job.run_id)
    assert status is not None and (status.state, status.worker_id, status.pages) == (JobState.RUNNING, "worker-b", 0)

    queue.heartbeat(new)
    queue.ack(new, _finished())
    status = queue.get_status(job.run_id)
    assert status is not None and (status.state, status.worker_id, status.attempts) == (
        JobState.FINISHED,
        "worker-b",
        2,
    )


def test_expiry_on_the_server_clock_without_an_explicit_reap(queue: JobQueue, make_job: MakeJob) -> None:
    queue.enqueue(make_job())
    old = queue.lease("worker-killed", lease_seconds=0.2)
    assert old is not None
    assert queue.lease("worker-b", lease_seconds=30) is None  # still held
    time.sleep(0.6)
    new = queue.lease("worker-b", lease_seconds=30)  # lease() reaps first
    assert new is not None and new.run_id == old.run_id and new.attempt == 2
    with pytest.raises(LeaseLostError):
        queue.heartbeat(old)


def test_heartbeats_keep_a_long_job_leased(queue: JobQueue, make_job: MakeJob) -> None:
    queue.enqueue(make_job())
    lease = queue.lease("slow-worker", lease_seconds=0.5)
    assert lease is not None
    for _ in range(4):
        time.sleep(0.2)
        queue.heartbeat(lease)
        assert queue.reap().requeued == []
    assert queue.lease("other") is None
    queue.ack(lease, _finished())


def test_job_dies_after_max_attempts_with_its_reason(queue: JobQueue, make_job: MakeJob) -> None:
    job = make_job(max_attempts=2)
    queue.enqueue(job)
    first = queue.lease("w1")
    assert first is not None
    assert _expire(queue, first) == [job.run_id]
    second = queue.lease("w2")
    assert second is not None and second.attempt == 2
    result = queue.reap(now=second.expires_at + timedelta(milliseconds=1))
    assert (result.requeued, result.dead) == ([], [job.run_id])

    assert queue.lease("w3") is None
    status = queue.get_status(job.run_id)
    assert status is not None and status.state is JobState.DEAD and status.attempts == 2
    [letter] = queue.dead_letters()
    assert letter.run_id == job.run_id and letter.attempts == 2 and letter.worker_id == "w2"
    assert "max_attempts 2" in letter.reason and "lease expired" in letter.reason
    assert CrawlJob.from_payload(letter.payload) == job
    assert queue.queue_stats().dead_letters == 1


def test_release_hands_the_job_back_without_spending_an_attempt(queue: JobQueue, make_job: MakeJob) -> None:
    queue.enqueue(make_job(minute=0))
    queue.enqueue(make_job(minute=15))
    lease = queue.lease("stopping-worker")
    assert lease is not None
    queue.release(lease)
    status = queue.get_status(lease.run_id)
    assert status is not None and status.state is JobState.QUEUED and status.attempts == 0
    again = queue.lease("w2")  # released jobs go to the head of the queue
    assert again is not None and again.run_id == lease.run_id and again.attempt == 1
    with pytest.raises(LeaseLostError):
        queue.heartbeat(lease)


# -- bad payloads and dead letters --------------------------------------------------


def test_malformed_payloads_are_dead_lettered_and_the_next_job_is_leased(queue: JobQueue, make_job: MakeJob) -> None:
    wrong_version = json.loads(make_job(minute=45).to_payload()) | {"schema_version": 99}
    # A job of the previous schema (the request in the payload): from a producer not yet upgraded.
    old = json.loads(make_job(minute=15).to_payload()) | {"schema_version": 2}
    del old["config_hash"]
    old["request"] = {"url": "http://127.0.0.1:18080/v1/offset", "auth": {"type": "bearer", "token_env": "T"}}
    incomplete = {
        "schema_version": SCHEMA_VERSION,
        "run_id": "sandbox_trades__20250301T1230Z",
        "endpoint": "sandbox_trades",
    }
    for raw in (
        "not json {",
        "[1, 2]",
        json.dumps({"run_id": "../../etc"}),
        json.dumps(wrong_version),
        json.dumps(old),
        json.dumps(incomplete),
    ):
        queue.client.rpush(queue.keys.jobs, raw)
    good = make_job(minute=0)
    queue.enqueue(good)

    lease = queue.lease("w1")
    assert lease is not None and lease.job == good
    letters = {d.payload: d for d in queue.dead_letters()}
    assert len(letters) == 6
    assert "not valid JSON" in letters["not json {"].reason and letters["not json {"].run_id is None
    assert "not a JSON object" in letters["[1, 2]"].reason
    assert "no valid run_id" in letters[json.dumps({"run_id": "../../etc"})].reason
    version_letter = letters[json.dumps(wrong_version)]
    assert version_letter.run_id == "sandbox_trades__20250301T1245Z" and "schema_version" in version_letter.reason
    assert "schema version 99, this worker reads version 3" in version_letter.reason
    old_letter = letters[json.dumps(old)]
    assert old_letter.run_id == "sandbox_trades__20250301T1215Z"
    assert "schema version 2, this worker reads version 3" in old_letter.reason
    assert "config_hash: Field required" in letters[json.dumps(incomplete)].reason
    status = queue.get_status("sandbox_trades__20250301T1230Z")
    assert status is not None and status.state is JobState.DEAD and "invalid payload" in (status.error or "")
    assert queue.queue_stats().ready == 0


def test_undecodable_bytes_are_dead_lettered_readably(queue: JobQueue, make_job: MakeJob) -> None:
    good = make_job()
    raw = json.loads(good.to_payload()) | {"endpoint": "x"}
    bad = json.dumps(raw).encode().replace(b'"x"', b'"\xff\xfe"')
    queue.client.rpush(queue.keys.jobs, b"\xed\xa0\x80 surrogate", bad, "caf\u00e9 is fine but not JSON")
    queue.enqueue(good)
    lease = queue.lease("w1")
    assert lease is not None and lease.job == good
    reasons = [d.reason for d in queue.dead_letters()]
    assert sum("not valid UTF-8" in r for r in reasons) == 2
    assert sum("not valid JSON" in r for r in reasons) == 1


def test_hand_pushed_duplicate_of_a_running_job_never_runs_twice(queue: JobQueue, make_job: MakeJob) -> None:
    job = make_job()
    queue.enqueue(job)
    lease = queue.lease("w1")
    assert lease is not None
    queue.client.rpush(queue.keys.jobs, job.to_payload())  # bypassing enqueue()
    assert queue.lease("w2") is None
    [letter] = queue.dead_letters()
    assert "duplicate payload" in letter.reason and "running" in letter.reason
    queue.heartbeat(lease)  # the real holder is untouched
    with pytest.raises(RetryRefusedError, match="running"):
        queue.retry_dead(job.run_id)


def test_payload_pushed_without_enqueue_is_adopted(queue: JobQueue, make_job: MakeJob) -> None:
    job = make_job(max_attempts=4)
    queue.client.rpush(queue.keys.jobs, job.to_payload())  # e.g. an older producer
    lease = queue.lease("w1")
    assert lease is not None and lease.job == job
    status = queue.get_status(job.run_id)
    assert status is not None and status.max_attempts == 4 and status.state is JobState.RUNNING


def test_retry_from_dead_letters(queue: JobQueue, make_job: MakeJob) -> None:
    job = make_job(max_attempts=1)
    queue.enqueue(job)
    lease = queue.lease("w1")
    assert lease is not None
    queue.reap(now=lease.expires_at + timedelta(seconds=1))
    assert [d.run_id for d in queue.dead_letters()] == [job.run_id]

    assert queue.retry_dead(job.run_id).outcome is EnqueueOutcome.REQUEUED
    assert queue.dead_letters() == []
    status = queue.get_status(job.run_id)
    assert status is not None and status.state is JobState.QUEUED and status.attempts == 0
    again = queue.lease("w2")
    assert again is not None and again.job == job and again.attempt == 1

    with pytest.raises(RetryRefusedError, match="not in the dead-letter list"):
        queue.retry_dead(job.run_id)
    with pytest.raises(RetryRefusedError, match="not in the dead-letter list"):
        queue.retry_dead("sandbox_trades__19990101T0000Z")


def test_retry_refuses_an_invalid_payload(queue: JobQueue, make_job: MakeJob) -> None:
    bad = json.loads(make_job().to_payload()) | {"schema_version": 99}
    queue.client.rpush(queue.keys.jobs, json.dumps(bad))
    assert queue.lease("w") is None
    with pytest.raises(RetryRefusedError, match="payload is invalid"):
        queue.retry_dead(bad["run_id"])


# -- waiting and listing -----------------------------------------------------------


def test_wait_for_follows_a_run_to_its_end(queue: JobQueue, make_job: MakeJob) -> None:
    job = make_job()
    with pytest.raises(JobNotFoundError):
        queue.wait_for(job.run_id, timeout=1)
    queue.enqueue(job)
    with pytest.raises(WaitTimeoutError, match="still queued"):
        queue.wait_for(job.run_id, timeout=0.3, poll_interval=0.05)

    def work() -> None:
        lease = queue.lease("w1")
        assert lease is not None
        time.sleep(0.3)
        queue.ack(lease, _finished())

    worker = threading.Thread(target=work)
    worker.start()
    status = queue.wait_for(job.run_id, timeout=30, poll_interval=0.05)
    worker.join()
    assert status.state is JobState.FINISHED


def test_stats_and_recent_statuses(queue: JobQueue, make_job: MakeJob) -> None:
    for minute in (0, 15, 30):
        queue.enqueue(make_job(minute=minute))
    lease = queue.lease("w1")
    assert lease is not None
    queue.client.rpush(queue.keys.jobs, "garbage")
    stats = queue.queue_stats()
    assert (stats.ready, stats.leased, stats.dead_letters) == (3, 1, 0)
    assert stats.by_state[JobState.QUEUED] == 2 and stats.by_state[JobState.RUNNING] == 1
    recent = queue.recent_statuses(10)
    assert {s.run_id for s in recent} == {make_job(minute=m).run_id for m in (0, 15, 30)}
    assert recent[0].run_id == lease.run_id  # the most recently changed first
    queue.client.delete(queue.keys.job(make_job(minute=30).run_id))  # as if its status expired
    assert len(queue.recent_statuses(10)) == 2


# -- concurrency -------------------------------------------------------------------


def _lease_all(
    port: int,
    prefix: str,
    worker_id: str,
    out: multiprocessing.Queue[list[tuple[str, int]]],
    ready: multiprocessing.synchronize.Barrier,
) -> None:
    # The stack's Redis needs its password: the settings (secrets file) carry it.
    client = load_settings().redis.model_copy(update={"port": port}).client()
    client.ping()
    queue = JobQueue(client, QueueSettings(prefix=prefix))
    got: list[tuple[str, int]] = []
    # Every process is connected before any leases: on a loaded machine the first one
    # to start could otherwise drain the queue before the others exist.
    ready.wait(60)
    while (lease := queue.lease(worker_id, lease_seconds=60)) is not None:
        got.append((lease.run_id, lease.lease_id))
        queue.ack(lease, _finished())
    out.put(got)


def test_concurrent_workers_never_get_the_same_job(
    queue: JobQueue, make_job: MakeJob, redis_settings, prefix: str
) -> None:
    jobs = [make_job(hour=h, minute=m) for h in range(10) for m in (0, 15, 30, 45, 5, 10, 20, 25)]
    for job in jobs:
        queue.enqueue(job)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    ready = ctx.Barrier(5)  # the four processes and this one
    procs = [
        ctx.Process(target=_lease_all, args=(redis_settings.redis.port, prefix, f"p{i}", out, ready)) for i in range(4)
    ]
    for p in procs:
        p.start()
    ready.wait(60)
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0

    # Threads in this process too, racing on the same (now empty) queue and on a refill.
    for job in jobs[:40]:
        queue.enqueue(job, force=True)
    thread_results: list[list[tuple[str, int]]] = []

    def lease_in_thread(i: int) -> None:
        got: list[tuple[str, int]] = []
        while (lease := queue.lease(f"t{i}")) is not None:
            got.append((lease.run_id, lease.lease_id))
            queue.ack(lease, _finished())
        thread_results.append(got)

    threads = [threading.Thread(target=lease_in_thread, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    process_runs = [run for got in results for run, _ in got]
    assert sorted(process_runs) == sorted(j.run_id for j in jobs)  # each exactly once
    assert sum(1 for got in results if got) >= 2  # the work really was shared
    thread_runs = [run for got in thread_results for run, _ in got]
    assert sorted(thread_runs) == sorted(j.run_id for j in jobs[:40])
    lease_ids = [lid for got in results + thread_results for _, lid in got]
    assert len(lease_ids) == len(set(lease_ids))
    assert queue.queue_stats().by_state[JobState.FINISHED] == len(jobs)


def test_a_waiting_lease_wakes_as_soon_as_a_job_arrives_in_order(queue: JobQueue, make_job: MakeJob) -> None:
    """Waiting blocks on Redis rather than sleeping a poll interval, and the wait
    (LMOVE of the list's head onto itself) leaves the queue's order untouched."""
    jobs = [make_job(hour=1, minute=m) for m in (0, 15, 30)]
    got: list[tuple[float, Lease | None]] = []

    def waiter() -> None:
        lease = queue.lease("waiter", wait_seconds=30, poll_interval=20)
        got.append((time.monotonic(), lease))

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.5)  # the waiter is blocked now
    assert not got
    pushed = time.monotonic()
    for job in jobs:
        queue.enqueue(job)
    thread.join(timeout=30)
    ((woke, lease),) = got
    assert lease is not None and lease.run_id == jobs[0].run_id
    # A sleeping poll would take up to 20 s; the bound is loose for a loaded machine.
    assert woke - pushed < 5
    order = [leased.run_id for leased in iter(lambda: queue.lease("after"), None)]
    assert order == [j.run_id for j in jobs[1:]]


def test_a_waiting_lease_gives_up_after_wait_seconds(queue: JobQueue) -> None:
    started = time.monotonic()
    assert queue.lease("idle", wait_seconds=0.6, poll_interval=0.25) is None
    assert 0.5 <= time.monotonic() - started < 10


# -- announcements and worker presence (what the deferred Airflow wait relies on) ----


def test_every_terminal_state_is_announced_with_only_run_id_and_state(queue: JobQueue, make_job: MakeJob) -> None:
    pubsub = queue.client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(queue.keys.status_channel)
    jobs = [make_job(minute=m, max_attempts=1) for m in (0, 15, 30, 45)]
    for job in jobs:
        queue.enqueue(job)
    finished, failed, dead, reaped = (queue.lease("w1") for _ in jobs)
    queue.heartbeat(finished)  # not terminal: not announced
    queue.ack(finished, _finished())
    queue.ack(failed, JobResult(state=JobState.FAILED, error="HTTP 500, Bearer abc"))
    queue.dead_letter(dead, "no config")
    assert _expire(queue, reaped) == []  # its only attempt: dead, not requeued
    got = []
    deadline = time.monotonic() + 10
    while len(got) < 4 and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=1)
        if message:
            got.append(json.loads(message["data"]))
    pubsub.close()
    assert got == [
        {"run_id": finished.run_id, "state": "finished"},
        {"run_id": failed.run_id, "state": "failed"},
        {"run_id": dead.run_id, "state": "dead"},
        {"run_id": reaped.run_id, "state": "dead"},
    ]


def test_leases_heartbeats_and_acks_record_the_worker_as_seen(queue: JobQueue, make_job: MakeJob) -> None:
    assert queue.workers_seen() == {}
    assert queue.lease("idle-worker") is None  # an idle worker's lease call counts too
    queue.enqueue(make_job())
    lease = queue.lease("busy-worker")
    first = queue.workers_seen()["busy-worker"]
    time.sleep(0.05)
    queue.heartbeat(lease)
    assert queue.workers_seen()["busy-worker"] > first
    assert set(queue.workers_seen()) == {"idle-worker", "busy-worker"}


def test_lease_ids_keep_growing_after_redis_loses_its_counter(queue: JobQueue, make_job: MakeJob) -> None:
    # Lease ids name and order attempts' landings in S3 (lakehouse.raw.layout), which
    # outlive Redis: a counter starting again at 1 would make every rerun of an old
    # slot "older" than its landing, and the landing would refuse it forever.
    seconds, micros = queue.client.time()
    before_ms = seconds * 1000 + micros // 1000
    queue.enqueue(make_job(minute=0))
    first = queue.lease("w-ids", lease_seconds=30)
    assert first is not None and first.lease_id >= before_ms
    queue.client.delete(queue.keys.lease_seq)  # Redis lost its data; the landings did not
    queue.enqueue(make_job(minute=15))
    second = queue.lease("w-ids", lease_seconds=30)
    assert second is not None and second.lease_id > first.lease_id
