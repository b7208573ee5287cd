"""Three workers share one endpoint's limit, and a job survives its worker's kill -9."""

from __future__ import annotations

import hashlib
import signal
from typing import Any
from urllib.request import Request, urlopen

from worker_harness import TOKEN, landed_records, make_job, read_manifest, wait_until

from lakehouse.queue.jobs import JobState

R = 10  # the sandbox admits at most R requests in any sliding second
PAGES_PER_JOB = 20


def test_three_workers_stay_within_the_limit_and_a_killed_job_finishes(
    settings: Any, make_sandbox: Any, endpoints: Any, queue: Any, s3: Any, start_worker: Any
) -> None:
    sandbox = make_sandbox(records_per_slot=PAGES_PER_JOB * 100, rate_limit=R)
    config = endpoints.write("sbx_shared", sandbox.url, "offset", rate=R)
    jobs = [make_job(settings, config, n) for n in range(3)]
    for job in jobs:
        queue.enqueue(job, force=True)
    # A short lease so the killed worker's job comes back within seconds.
    workers = {f"w{i}": start_worker("--concurrency", "2", "--lease-seconds", "3", worker_id=f"w{i}") for i in range(3)}

    def victim() -> tuple[str, str] | None:
        for job in jobs:
            st = queue.get_status(job.run_id)
            if st and st.state == JobState.RUNNING and st.pages >= 4 and st.worker_id in workers:
                return job.run_id, st.worker_id
        return None

    killed_run, killed_worker = wait_until(victim, 60, "a job with 4+ pages in progress")
    workers[killed_worker].proc.send_signal(signal.SIGKILL)
    workers[killed_worker].proc.wait()

    def all_done() -> bool:
        return all((st := queue.get_status(j.run_id)) is not None and st.state.terminal for j in jobs)

    wait_until(all_done, 90, "all three jobs to end", interval=0.25)
    for wid, worker in workers.items():
        if wid != killed_worker:
            worker.proc.send_signal(signal.SIGTERM)
            assert worker.wait(30) == 0, worker.text()[-3000:]

    stats = sandbox.server.stats()
    assert stats.rate_limited == 0, stats.per_second
    assert stats.max_requests_in_any_second <= R, stats.per_second

    for job in jobs:
        st = queue.get_status(job.run_id)
        assert st is not None and st.state == JobState.FINISHED, st
        manifest = read_manifest(s3, settings, job)
        assert manifest.total_records == len(sandbox.expected(jobs.index(job))) == st.records
    killed = queue.get_status(killed_run)
    assert killed.attempts == 2 and killed.worker_id != killed_worker, killed

    # The re-crawled landing is byte for byte what a clean crawl gets from the API.
    job = next(j for j in jobs if j.run_id == killed_run)
    manifest = read_manifest(s3, settings, job)
    clean = make_sandbox(records_per_slot=PAGES_PER_JOB * 100)
    for page in manifest.pages:
        url = page.url.replace(sandbox.url, clean.url)
        with urlopen(Request(url, headers={"Authorization": f"Bearer {TOKEN}"}), timeout=10) as reply:
            assert hashlib.sha256(reply.read()).hexdigest() == page.sha256
        body = s3.get_object(Bucket=settings.s3.bucket, Key=page.key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == page.sha256
    assert [r["id"] for r in landed_records(s3, settings, manifest, "data.items")] == [
        r["id"] for r in sandbox.expected(jobs.index(job))
    ]
    # One finished status for the run: nothing queued or leased is left behind.
    assert queue.queue_stats().ready == 0 and queue.queue_stats().leased == 0
