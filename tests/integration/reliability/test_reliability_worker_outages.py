"""Queue and storage outages under a running crawl (issue 12), on a stack of their own
(Redis + S3, like the canary test's), so killing a service disturbs no other test:

- Redis killed with kill -9 mid-crawl and started again by the stack (append-only
  file on): no job lost, none crawled twice, none finished twice;
- the S3 server stopped (kill -9) for 10 s (30 s long) mid-crawl, then started
  again: every upload is retried until it lands, every job finishes on its first
  attempt with a complete landing, no page is fetched twice;
- the worker's temp dir: the worker writes no file outside its endpoints and log
  (traced with strace), so "disk nearly full on the worker's temp dir" cannot occur.

Services are killed through the stack's own records (its pids, ``LocalStack.status``)
and brought back by ``LocalStack.up``, which restarts a recorded service that died.
``LAKEHOUSE_RELIABILITY_LONG=1``: more jobs, three Redis kills.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from worker_harness import (
    ROOT,
    TOKEN,
    check_landing,
    finished_lines,
    kill_service,
    list_keys,
    make_job,
    stop_workers,
    wait_all_ended,
    wait_until,
)

from lakehouse.config.settings import load_settings
from lakehouse.local.services.redis_server import RedisService
from lakehouse.local.services.s3_server import S3Service
from lakehouse.local.stack import LocalStack
from lakehouse.queue.jobs import CrawlJob, JobState
from tests.conftest import stack_env

LONG = os.environ.get("LAKEHOUSE_RELIABILITY_LONG") == "1"
REDIS_DOWN = 8.0  # seconds
# botocore's own retries span ~15 s (5 jittered attempts); the long form outlasts them.
S3_DOWN = 30.0 if LONG else 10.0


@pytest.fixture(scope="module")
def outage_stack(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Redis + S3 on free ports; the module's tests (and their workers) see only it.
    Depends on the shared stack so that one is started first, with its own settings."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in stack_env(tmp_path_factory.mktemp("outage-stack")).items():
            patch.setenv(key, value)
        own = LocalStack(load_settings(), services=(RedisService, S3Service))
        own.up()
        try:
            yield own
        finally:
            own.down()


def _logs(worker: Any) -> list[Path]:
    return sorted(Path(worker.log).parent.glob("worker-*.log"))


def _enqueue_all(settings: Any, queue: Any, config: Any, sandbox: Any, n: int) -> dict[str, tuple[CrawlJob, list]]:
    jobs = {}
    for i in range(n):
        job = make_job(settings, config, i)
        queue.enqueue(job, force=True)
        jobs[job.run_id] = (job, [r["id"] for r in sandbox.expected(i)])
    return jobs


def test_redis_killed_and_restarted_mid_crawl_loses_and_repeats_nothing(
    outage_stack: LocalStack, settings: Any, make_sandbox: Any, endpoints: Any, queue: Any, s3: Any, start_worker: Any
) -> None:
    assert settings.redis.port == outage_stack.settings.redis.port  # the private stack, not the shared one
    n_jobs, outages = (60, 3) if LONG else (20, 1)
    sandbox = make_sandbox(records_per_slot=500)  # 5 pages per job
    config = endpoints.write("sbx_redis", sandbox.url, "offset", rate=25)
    jobs = _enqueue_all(settings, queue, config, sandbox, n_jobs)
    pages = 5 * n_jobs
    workers = [start_worker("--concurrency", "2", "--lease-seconds", "15") for _ in range(2)]
    t0 = time.monotonic()
    downtimes = []
    for k in range(outages):
        at = pages * (k + 1) // (outages + 2)
        wait_until(lambda a=at: sandbox.server.stats().ok >= a, 120, f"{at} pages crawled", 0.05)
        killed_at = kill_service(outage_stack, "redis")
        # Longer than redis-py's own retries (3, backed off: 3.7 s in all, measured).
        time.sleep(REDIS_DOWN)
        result = outage_stack.up()
        assert result.restarted == ["redis"], result
        downtimes.append(time.monotonic() - killed_at)

    statuses = wait_all_ended(queue, jobs, 180)
    seconds = time.monotonic() - t0
    stop_workers(workers)
    bad = {r: (s.state, s.attempts, s.error) for r, s in statuses.items() if s.state != JobState.FINISHED}
    assert not bad, (bad, workers[0].text()[-3000:])
    for run_id, (job, ids) in jobs.items():
        assert finished_lines(_logs(workers[0]), run_id) == 1, run_id
        check_landing(s3, settings, job, ids, "data.items")
    stats = sandbox.server.stats()
    # No page was fetched twice: no job was crawled again after the outage.
    assert stats.ok == pages, f"{stats.ok} pages served for {pages} landed"
    assert queue.queue_stats().dead_letters == 0
    warned = sum(len(re.findall(r"\[scrapworker[.\w]*\] (?:WARNING|ERROR)", w.text())) for w in workers)
    print(
        f"\nRedis kill -9 x{outages} (down {', '.join(f'{d:.1f}' for d in downtimes)} s each): "
        f"{n_jobs} jobs finished once, {stats.ok} pages served for {pages} landed, attempts max "
        f"{max(s.attempts for s in statuses.values())}; {seconds:.1f} s; {warned} worker warnings"
    )


def test_s3_stopped_for_10_s_mid_crawl_lands_every_job_complete(
    outage_stack: LocalStack, settings: Any, make_sandbox: Any, endpoints: Any, queue: Any, s3: Any, start_worker: Any
) -> None:
    assert settings.s3.endpoint_url == outage_stack.settings.s3.endpoint_url
    n_jobs = 30 if LONG else 10
    sandbox = make_sandbox(records_per_slot=500)
    config = endpoints.write("sbx_s3out", sandbox.url, "offset", rate=20)
    jobs = _enqueue_all(settings, queue, config, sandbox, n_jobs)
    workers = [start_worker("--concurrency", "2", "--lease-seconds", "15") for _ in range(2)]
    t0 = time.monotonic()
    wait_until(lambda: sandbox.server.stats().ok >= 8, 120, "8 pages crawled", 0.05)
    killed_at = kill_service(outage_stack, "s3")
    time.sleep(S3_DOWN)
    outage_stack.up()
    down = time.monotonic() - killed_at
    # Right after the outage: every run that reads finished has a complete landing, and
    # every run still going has no manifest (nothing half-written reads complete).
    for run_id, (job, ids) in jobs.items():
        if queue.get_status(run_id).state == JobState.FINISHED:
            check_landing(s3, settings, job, ids, "data.items")
        else:
            assert not list_keys(s3, settings, job.manifest_key), run_id

    statuses = wait_all_ended(queue, jobs, 240)
    seconds = time.monotonic() - t0
    stop_workers(workers)
    # None failed: every page upload rode out the outage (scrapworker.landing).
    assert all(s.state == JobState.FINISHED and s.attempts == 1 for s in statuses.values()), {
        r: (s.state, s.attempts, s.error) for r, s in statuses.items()
    }
    for run_id, (job, ids) in jobs.items():
        assert finished_lines(_logs(workers[0]), run_id) == 1, run_id
        check_landing(s3, settings, job, ids, "data.items")
    served = sandbox.server.stats().ok
    assert served == 5 * n_jobs, f"{served} pages served for {5 * n_jobs} landed: a job was crawled again"
    retried = sum(w.text().count("Retrying scrapworker.landing") for w in workers)
    print(
        f"\nS3 down {down:.1f} s mid-crawl: {n_jobs} jobs all landed complete without a job retry, "
        f"{served} pages served for {5 * n_jobs} landed; {retried} landing calls retried; {seconds:.1f} s"
    )


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to trace the worker's file writes")
def test_worker_writes_no_temp_files(
    outage_stack: LocalStack,
    settings: Any,
    make_sandbox: Any,
    endpoints: Any,
    queue: Any,
    s3: Any,
    prefix: str,
    tmp_path: Path,
) -> None:
    """Every file the worker opens for writing during a crawl, traced: none is a temp
    file (pages are held in memory and PUT from bytes), so a full temp dir cannot
    fail a crawl; the worker even runs with TMPDIR on a directory it may not write."""
    sandbox = make_sandbox(records_per_slot=2000)
    config = endpoints.write("sbx_tmp", sandbox.url, "offset", rate=100)
    jobs = _enqueue_all(settings, queue, config, sandbox, 3)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir(mode=0o500)
    trace = tmp_path / "strace.txt"
    argv = [
        "strace", "-f", "-qq", "-e", "trace=open,openat,creat,mkdir,rename,unlink", "-o", str(trace),
        sys.executable, "-m", "scrapworker", "--queue-prefix", prefix, "--endpoints-dir", str(endpoints.directory),
        "--max-jobs", "3",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SANDBOX_TOKEN": TOKEN, "TMPDIR": str(tmpdir)}
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for run_id, (job, ids) in jobs.items():
        assert queue.get_status(run_id).state == JobState.FINISHED
        check_landing(s3, settings, job, ids, "data.items")
    writes = [
        line
        for line in trace.read_text().splitlines()
        if re.search(r"O_WRONLY|O_RDWR|O_CREAT|creat\(|mkdir\(|rename\(|unlink\(", line) and "= -1" not in line
    ]
    # What it may write: /dev/null-like devices and Python's bytecode cache (none
    # with a compiled tree). Anything else is a file the worker needs disk for.
    unexpected = [w for w in writes if not re.search(r'"/dev/(null|tty|urandom)"|__pycache__', w)]
    assert not unexpected, unexpected[:20]
    assert not list(tmpdir.iterdir())
    print(f"\nworker temp files: {len(writes)} write opens traced, none outside /dev and __pycache__")
