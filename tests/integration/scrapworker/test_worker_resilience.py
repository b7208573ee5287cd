"""Faults, bad jobs and shutdown: the worker retries pages, dead-letters what can
never run, keeps serving, and hands jobs back on SIGTERM."""

from __future__ import annotations

import signal
from typing import Any

from worker_harness import landed_records, make_job, read_manifest, wait_until

from lakehouse.queue.jobs import JobState
from sandbox import FaultRates


def test_5xx_and_truncated_bodies_are_retried_until_every_record_lands(
    settings: Any, make_sandbox: Any, endpoints: Any, queue: Any, s3: Any, start_worker: Any
) -> None:
    sandbox = make_sandbox(records_per_slot=6000, faults=FaultRates(fail_rate=0.05, truncate_rate=0.02))
    config = endpoints.write("sbx_faulty", sandbox.url, "offset", rate=100)
    job = make_job(settings, config)
    queue.enqueue(job, force=True)
    worker = start_worker("--once")
    assert worker.wait(90) == 0, worker.text()[-3000:]

    status = queue.get_status(job.run_id)
    assert status is not None and status.state == JobState.FINISHED, (status, worker.text()[-3000:])
    stats = sandbox.server.stats()
    assert stats.server_errors > 0 and stats.truncated > 0, "the fault injection did not fire; raise the rates"
    manifest = read_manifest(s3, settings, job)
    assert [r["id"] for r in landed_records(s3, settings, manifest, "data.items")] == [
        r["id"] for r in sandbox.expected()
    ]
    assert manifest.total_pages == 60 == stats.ok
    assert "retries" in worker.text() and f"{stats.server_errors + stats.truncated} retries" in worker.text()


def test_malformed_payload_and_unknown_endpoint_are_dead_lettered_while_serving(
    settings: Any, make_sandbox: Any, endpoints: Any, queue: Any, s3: Any, start_worker: Any
) -> None:
    sandbox = make_sandbox(records_per_slot=300)
    ghost = endpoints.write("sbx_ghost", sandbox.url, "offset")
    (endpoints.directory / "sbx_ghost.yaml").unlink()  # the worker has no config for it
    good = endpoints.write("sbx_good", sandbox.url, "page")
    queue.client.rpush(queue.keys.jobs, '{"run_id": "sbx_good__20240102T0300Z", "endpoint": ')
    ghost_job, good_job = make_job(settings, ghost), make_job(settings, good, 1)
    queue.enqueue(ghost_job, force=True)
    queue.enqueue(good_job, force=True)
    worker = start_worker("--max-jobs", "2")
    assert worker.wait(60) == 0, worker.text()[-3000:]

    letters = {d.run_id: d for d in queue.dead_letters()}
    assert set(letters) == {None, ghost_job.run_id}
    assert "not valid JSON" in letters[None].reason
    assert "no endpoint config sbx_ghost.yaml" in letters[ghost_job.run_id].reason
    assert queue.get_status(ghost_job.run_id).state == JobState.DEAD
    status = queue.get_status(good_job.run_id)
    assert status.state == JobState.FINISHED and status.records == 300


def test_sigterm_finishes_short_jobs_releases_long_ones_and_exits_0(
    settings: Any, make_sandbox: Any, endpoints: Any, queue: Any, s3: Any, start_worker: Any
) -> None:
    sandbox = make_sandbox(records_per_slot=10_000)
    slow = endpoints.write("sbx_slow", sandbox.url, "offset", rate=5)  # 100 pages: ~20 s
    quick = endpoints.write(
        "sbx_quick", sandbox.url, "offset", rate=2, pagination={"page_size": 1000}
    )  # 10 pages: ~5 s, inside the grace
    slow_job, quick_job = make_job(settings, slow), make_job(settings, quick)
    queue.enqueue(slow_job, force=True)
    queue.enqueue(quick_job, force=True)
    worker = start_worker("--concurrency", "2", "--shutdown-grace", "7")

    def both_running() -> bool:
        return all((st := queue.get_status(j.run_id)) and st.state == JobState.RUNNING for j in (slow_job, quick_job))

    wait_until(both_running, 30, "both jobs to start")
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.text()[-3000:]

    assert queue.get_status(quick_job.run_id).state == JobState.FINISHED
    released = queue.get_status(slow_job.run_id)
    assert released.state == JobState.QUEUED and released.attempts == 0, released
    assert "released" in (released.error or "")
    assert queue.queue_stats().ready == 1 and queue.queue_stats().leased == 0
    assert "SIGTERM" in worker.text()
