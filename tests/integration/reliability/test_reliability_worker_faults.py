"""Worker faults (issue 12): kill -9 of a worker at chosen moments of a 3-worker crawl.

Moments are hit on purpose, not by luck:

- ``request``: a job of an endpoint whose sandbox holds every request open for
  ``HOLD`` seconds; the worker holding it (its status names it) is killed while the
  sandbox holds its n-th request (the sandbox has recorded the request's arrival);
- ``page_upload``, ``manifest``, ``ack``: a worker started with the test hook
  ``worker.pause_at`` (scrapworker.fault_points) holds at that point, logs it, and is
  killed there after a seeded random delay.

After every kill a fresh worker takes the victim's place, so three workers serve the
queue throughout. Afterwards every job has finished exactly once (one "finished"
line across all worker logs), its manifest lists pages 1..n whose objects are exactly
the run prefix's objects with matching checksums, and its records are the slot's
records, each once; each killed run's signal, published twice, is one row with its
manifest's records. Right after a kill before the manifest, the run's prefix must read
incomplete (no manifest).

Short form (default suite): one kill of each kind. ``LAKEHOUSE_RELIABILITY_LONG=1``:
20 kills, 5 of each kind, in seeded random order.
"""

from __future__ import annotations

import os
import random
import re
import signal
import time
from pathlib import Path
from typing import Any

from worker_harness import (
    check_landing,
    finished_lines,
    list_keys,
    make_job,
    stop_workers,
    wait_all_ended,
    wait_until,
    worker_id_of,
)

from lakehouse.pipeline.steps import publish_signal
from lakehouse.queue.jobs import CrawlJob, JobState
from lakehouse.tables.signals import rows_for
from sandbox import FaultRates

LONG = os.environ.get("LAKEHOUSE_RELIABILITY_LONG") == "1"
KINDS = ("request", "page_upload", "manifest", "ack")
KILLS = 20 if LONG else len(KINDS)
SEED = 12
HOLD = 1.5  # seconds the held sandbox keeps every request open
LEASE = "3"  # seconds: a killed worker's jobs go back quickly
REACHED = re.compile(r"fault point (\w+) reached \((.*?)\)")


def _plan(rng: random.Random) -> list[str]:
    kinds = [KINDS[i % len(KINDS)] for i in range(KILLS)]
    if LONG:
        rng.shuffle(kinds)
    return kinds


def _run_id_in(detail: str, jobs: dict[str, CrawlJob]) -> str:
    return next(run_id for run_id in jobs if run_id in detail)


def test_kill_9_at_chosen_moments_loses_and_duplicates_nothing(
    settings: Any, make_sandbox: Any, endpoints: Any, queue: Any, s3: Any, start_worker: Any
) -> None:
    rng = random.Random(SEED)
    t0 = time.monotonic()
    plain = make_sandbox(records_per_slot=500)  # 5 pages of 100 per job
    held = make_sandbox(
        records_per_slot=300, faults=FaultRates(slow_rate=1.0, slow_seconds=HOLD, max_faults_per_request=10)
    )
    plain_cfg = endpoints.write("sbx_kill", plain.url, "offset", rate=40)
    held_cfg = endpoints.write("sbx_held", held.url, "offset", rate=40)
    jobs: dict[str, CrawlJob] = {}
    expected: dict[str, list[Any]] = {}
    slots = iter(range(10_000))

    def enqueue(config: Any, sandbox: Any) -> CrawlJob:
        n = next(slots)
        # Several kills can hit one job (a victim's other job in hand, a rerun killed
        # again): allow them, so every job can still finish.
        job = make_job(settings, config, n).model_copy(update={"max_attempts": 8})
        queue.enqueue(job, force=True)
        jobs[job.run_id] = job
        expected[job.run_id] = [r["id"] for r in sandbox.expected(n)]
        return job

    base = ("--lease-seconds", LEASE, "--shutdown-grace", "5")
    steady = [start_worker(*base, "--concurrency", "2", worker_id=f"steady-{i}") for i in range(2)]
    for worker in steady:
        wait_until(lambda w=worker: "serving queue" in w.text(), 90, "the steady workers to start")
    for _ in range(4):
        enqueue(plain_cfg, plain)
    kills: list[tuple[str, str, float]] = []  # (kind, run id, seconds into the crawl)

    for number, kind in enumerate(_plan(rng)):
        if kind == "request":
            # One held job at a time, so the held request counted is this job's.
            wait_until(
                lambda: all(queue.get_status(r).state.terminal for r in jobs if r.startswith("sbx_held")),
                90,
                "the earlier held job to end",
                0.1,
            )
            job = enqueue(held_cfg, held)
            before = held.server.stats().total_requests
            target = before + rng.randint(1, 3)  # its 1st..3rd request (page or a rerun's page)
            wait_until(lambda t=target: held.server.stats().total_requests >= t, 90, "the held request", 0.02)
            status = queue.get_status(job.run_id)
            holder = status.worker_id if status else None
            time.sleep(rng.uniform(0.05, HOLD * 0.5))  # still inside the sandbox's hold
            victims = [w for w in steady if w.proc.poll() is None and worker_id_of(w) == holder]
            assert victims, (holder, status)
            victim = victims[0]
            run_id = job.run_id
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait()
            steady[steady.index(victim)] = start_worker(*base, "--concurrency", "2", worker_id=f"steady-r{number}")
        else:
            hit = rng.randint(1, 4) if kind == "page_upload" else 1
            victim = start_worker(
                *base,
                "--concurrency",
                "1",
                worker_id=f"victim-{number}",
                env_extra={
                    "LAKEHOUSE_WORKER__PAUSE_AT": kind,
                    "LAKEHOUSE_WORKER__PAUSE_HIT": str(hit),
                    "LAKEHOUSE_WORKER__PAUSE_SECONDS": "120",
                },
            )
            wait_until(lambda v=victim: "serving queue" in v.text(), 60, "the victim worker to start")
            deadline = time.monotonic() + 60
            while not (found := REACHED.search(victim.text())):
                assert time.monotonic() < deadline, f"fault point {kind} never reached:\n{victim.text()[-3000:]}"
                if queue.queue_stats().ready == 0:
                    enqueue(plain_cfg, plain)  # the steady workers took them all: feed it
                time.sleep(0.1)
            time.sleep(rng.uniform(0.0, 0.3))
            run_id = _run_id_in(found.group(2), jobs)
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait()
            state = queue.get_status(run_id)
            assert state is not None and state.state == JobState.RUNNING, (kind, state)
            manifest_there = bool(list_keys(s3, settings, jobs[run_id].manifest_key))
            # Killed before the manifest: the prefix must not look complete.
            assert manifest_there == (kind == "ack"), (kind, run_id)
        kills.append((kind, run_id, round(time.monotonic() - t0, 1)))
        enqueue(plain_cfg, plain)

    statuses = wait_all_ended(queue, jobs, 180)
    crawl_seconds = time.monotonic() - t0
    stop_workers(steady)
    not_finished = {r: (s.state, s.error) for r, s in statuses.items() if s.state != JobState.FINISHED}
    assert not not_finished, not_finished
    logs = sorted(Path(steady[0].log).parent.glob("worker-*.log"))
    for run_id, job in jobs.items():
        assert finished_lines(logs, run_id) == 1, f"{run_id} finished {finished_lines(logs, run_id)} times"
        check_landing(s3, settings, job, expected[run_id], "data.items")
    killed = {run_id for _, run_id, _ in kills}
    assert all(statuses[r].attempts >= 2 for r in killed), {r: statuses[r].attempts for r in killed}
    assert queue.queue_stats().dead_letters == 0
    # The publish step downstream, run twice (as a retried Airflow task would) for the
    # runs killed after their manifest was written (every killed run, long form): one
    # signal row per run, carrying its manifest's records.
    published = time.monotonic()
    ours = settings.model_copy(update={"queue": settings.queue.model_copy(update={"prefix": queue.options.prefix})})
    to_publish = killed if LONG else {run_id for kind, run_id, _ in kills if kind == "ack"}
    for run_id in sorted(to_publish):
        publish_signal(ours, run_id)
        publish_signal(ours, run_id)
        rows = rows_for(ours, run_id)
        assert len(rows) == 1 and rows[0].records == len(expected[run_id]), (run_id, rows)
    published = time.monotonic() - published
    print(
        f"\nkill -9 x{len(kills)} ({', '.join(f'{k}@{t}s' for k, _, t in kills)}) across 3 workers: "
        f"{len(jobs)} jobs, all finished once, {sum(s.pages for s in statuses.values())} pages, "
        f"attempts max {max(s.attempts for s in statuses.values())}; crawl {crawl_seconds:.1f} s; "
        f"{len(to_publish)} killed runs published twice: one signal row each ({published:.1f} s)"
    )
