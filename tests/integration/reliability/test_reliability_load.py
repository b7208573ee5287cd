"""Load (issue 12): many jobs across 4 workers on one shared rate limit.

Three endpoints (offset, page and cursor paging) share one rate-limit bucket and one
sandbox that enforces the same limit. Among the jobs are some built to fail: jobs of
an endpoint the workers have no config for and hand-pushed unparseable payloads
(both must be dead-lettered), and jobs of an endpoint that answers 404 (they must
fail, not be dead-lettered). Checked: every job ends, none is lost, none finishes
twice (one "finished" line across all worker logs, attempts 1), the dead letters are
exactly the ones built for it, every manifest holds its slot's records, the shared
limit held (no 429, never more admitted in any second than the limit). Reported:
jobs/s, pages/s, and each worker's RSS (peak).

Short form (default suite): 100 jobs. ``LAKEHOUSE_RELIABILITY_LONG=1``: 1,000 jobs.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from worker_harness import check_landing, finished_lines, make_job, read_manifest, wait_until

from lakehouse.queue.jobs import JobState

LONG = os.environ.get("LAKEHOUSE_RELIABILITY_LONG") == "1"
N_JOBS = 1000 if LONG else 100
WORKERS = 4
RATE = 150  # requests per second, shared by every endpoint (and enforced by the sandbox)
RECORDS = 200  # per slot: 2 pages of 100
STYLES = {"offset": "data.items", "page": "data", "cursor": "data"}


def _sample_rss(pids: list[int], stop: threading.Event, peaks: dict[int, int]) -> None:
    procs = {pid: psutil.Process(pid) for pid in pids}
    while not stop.is_set():
        for pid, proc in procs.items():
            try:
                peaks[pid] = max(peaks.get(pid, 0), proc.memory_info().rss)
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.2)


def test_many_jobs_across_4_workers_on_a_shared_limit(
    settings: Any, make_sandbox: Any, endpoints: Any, queue: Any, s3: Any, start_worker: Any
) -> None:
    rng = random.Random(12)
    sandbox = make_sandbox(records_per_slot=RECORDS, rate_limit=RATE)
    configs = {
        style: endpoints.write(f"load_{style}", sandbox.url, style, rate=RATE, bucket_key="load_shared")
        for style in STYLES
    }
    missing = endpoints.write("load_missing", sandbox.url + "/gone", "none", rate=RATE, bucket_key="load_shared")  # 404
    ghost = endpoints.write("load_ghost", sandbox.url, "offset", rate=RATE, bucket_key="load_shared")
    (endpoints.directory / "load_ghost.yaml").unlink()  # the workers have no config for it

    workers = [start_worker("--concurrency", "4") for _ in range(WORKERS)]
    for worker in workers:
        wait_until(lambda w=worker: "serving queue" in w.text(), 90, "the workers to start")
    peaks: dict[int, int] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_rss, args=([w.proc.pid for w in workers], stop, peaks), daemon=True)
    sampler.start()

    good: dict[str, tuple[Any, str, int]] = {}  # run id -> (job, records path, slot)
    to_fail, to_dead = set(), set()
    bad_payloads = 0
    t0 = time.monotonic()
    for n in range(N_JOBS):
        roll = rng.random()
        if roll < 0.02:
            job = make_job(settings, ghost, n)
            to_dead.add(job.run_id)
        elif roll < 0.04:
            job = make_job(settings, missing, n)
            to_fail.add(job.run_id)
        elif roll < 0.05:
            queue.client.rpush(queue.keys.jobs, '{"run_id": "load_x__20240102T0300Z", "endpoint": ')
            bad_payloads += 1
            continue
        else:
            style = list(STYLES)[n % len(STYLES)]
            job = make_job(settings, configs[style], n)
            good[job.run_id] = (job, STYLES[style], n)
        queue.enqueue(job, force=True)
    runs = [*good, *to_fail, *to_dead]
    enqueued_in = time.monotonic() - t0

    def all_done() -> bool:
        pipe = queue.client.pipeline(transaction=False)
        for run_id in runs:
            pipe.hget(queue.keys.job(run_id), "state")
        return all(state in ("finished", "failed", "dead") for state in pipe.execute()) and (
            queue.queue_stats().ready == 0
        )

    wait_until(all_done, 900 if LONG else 180, "every job to end", 0.25)
    seconds = time.monotonic() - t0
    stop.set()
    sampler.join()
    for worker in workers:
        worker.proc.send_signal(signal.SIGTERM)
    for worker in workers:
        assert worker.wait(60) == 0, worker.text()[-3000:]

    statuses = {r: queue.get_status(r) for r in runs}
    states = {r: s.state for r, s in statuses.items()}
    assert {r for r, s in states.items() if s == JobState.FINISHED} == set(good), "a good job did not finish"
    assert {r for r, s in states.items() if s == JobState.FAILED} == to_fail
    assert {r for r, s in states.items() if s == JobState.DEAD} == to_dead
    letters = queue.dead_letters(limit=10_000)
    assert sorted(d.run_id or "" for d in letters) == sorted([*to_dead, *[""] * bad_payloads])
    assert all(statuses[r].attempts == 1 for r in good), "a job was leased twice"
    logs = sorted(Path(workers[0].log).parent.glob("worker-*.log"))
    text = "\n".join(log.read_text(errors="replace") for log in logs)
    twice = [r for r in good if text.count(f"run {r} finished:") != 1]
    assert not twice, twice[:10]
    for run_id, (job, _, _slot) in good.items():
        manifest = read_manifest(s3, settings, job)
        assert manifest.total_records == RECORDS and statuses[run_id].records == RECORDS, run_id
    for run_id in rng.sample(sorted(good), min(25, len(good))):
        job, records_path, n = good[run_id]
        assert finished_lines(logs, run_id) == 1
        check_landing(s3, settings, job, [r["id"] for r in sandbox.expected(n)], records_path)
    stats = sandbox.server.stats()
    assert stats.rate_limited == 0, f"{stats.rate_limited} 429s: the shared limit was exceeded"
    assert stats.max_admitted_in_any_second <= RATE
    pages = sum(s.pages for s in statuses.values())
    rss = sorted(round(v / 2**20) for v in peaks.values())
    print(
        f"\nload: {len(runs) + bad_payloads} jobs ({len(good)} good, {len(to_fail)} built to fail, "
        f"{len(to_dead) + bad_payloads} built to be dead-lettered) across {WORKERS} workers on one "
        f"{RATE} req/s limit: all ended in {seconds:.1f} s (enqueue {enqueued_in:.1f} s): "
        f"{len(runs) / seconds:.1f} jobs/s, {pages / seconds:.1f} pages/s; peak {stats.max_requests_in_any_second} "
        f"req in any second, 0 429s; none lost or finished twice; worker peak RSS {rss} MiB"
    )
