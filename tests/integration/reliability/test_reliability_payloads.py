"""Bad input, job payloads: 50 malformed or hostile payloads pushed straight onto the
ready list. A running worker dead-letters each with a reason naming the problem,
keeps serving (a valid job enqueued after them finishes), and writes nothing outside
that job's run prefix. ``LAKEHOUSE_RELIABILITY_LONG=1``: 500 payloads."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile_payloads import hostile_payloads
from worker_harness import list_keys, make_job, read_manifest, wait_until

from lakehouse.queue.jobs import JobState

N = 500 if os.environ.get("LAKEHOUSE_RELIABILITY_LONG") == "1" else 50


def test_hostile_payloads_are_dead_lettered_and_the_worker_keeps_serving(
    settings, make_sandbox, endpoints, queue, s3, start_worker, prefix
) -> None:
    sandbox = make_sandbox(records_per_slot=200)
    config = endpoints.write("sandbox_trades", sandbox.url, "offset", rate=200)
    cases = hostile_payloads(lambda i: make_job(settings, config, i), N, seed=12)
    before = set(list_keys(s3, settings, ""))
    started = time.monotonic()
    queue.client.rpush(queue.keys.jobs, *[c.payload for c in cases])
    worker = start_worker("--concurrency", "2")
    good = make_job(settings, config, 0)
    queue.enqueue(good)
    status = wait_until(
        lambda: (s := queue.get_status(good.run_id)) and s.state.terminal and s, 120, "the valid job to end", 0.2
    )
    elapsed = time.monotonic() - started
    log = worker.text()
    assert status.state == JobState.FINISHED, f"{status.error}\n{log[-3000:]}"
    assert read_manifest(s3, settings, good).total_records == len(sandbox.expected(0))

    deadline = time.monotonic() + 20
    while len(letters := queue.dead_letters(N + 10)) < N and time.monotonic() < deadline:
        time.sleep(0.2)
    by_payload: dict[str, list[str]] = {}
    for letter in letters:
        by_payload.setdefault(letter.payload, []).append(letter.reason)
    unmatched = []
    for case in cases:
        reasons = by_payload.get(case.stored, [])
        if not any(case.says.lower() in r.lower() for r in reasons):
            unmatched.append((case.kind, case.says, reasons))
    assert not unmatched, unmatched
    assert len(letters) == N, [d.reason for d in letters]
    assert all(len(letter.reason) <= 4000 for letter in letters)

    assert worker.proc.poll() is None, "the worker stopped serving"
    assert "Traceback" not in log, log[-3000:]
    new = set(list_keys(s3, settings, "")) - before
    assert new, "the valid job landed nothing"
    outside = sorted(k for k in new if not k.startswith(good.raw_prefix))
    assert not outside, f"written outside the valid run's prefix: {outside[:10]}"
    print(
        f"{N} hostile payloads dead-lettered and the valid job finished in {elapsed:.1f} s; "
        f"{len(new)} new objects, all under {good.raw_prefix}"
    )


LAKEHOUSE = str(Path(sys.executable).with_name("lakehouse"))


@pytest.mark.parametrize(
    "run_id",
    [
        "../../etc/passwd",
        "/abs/run",
        "sandbox_tr\u0430des__20240102T0300Z",
        "s" * 5000,
        "x__20240102T0300Z\n",
    ],
    ids=["traversal", "absolute", "lookalike", "overlong", "newline"],
)
def test_queue_retry_refuses_hostile_run_ids(settings, run_id: str, prefix: str) -> None:
    client = settings.redis.client()
    before = {k: client.type(k) for k in client.scan_iter(match=f"{settings.queue.prefix}:*")}
    proc = subprocess.run([LAKEHOUSE, "queue", "retry", run_id], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "error" in proc.stderr.lower() and ("dead-letter" in proc.stderr or "run id" in proc.stderr.lower()), (
        proc.stderr
    )
    assert len(proc.stderr) < 2000, "the error must stay readable (not echo a 5000-character argument whole)"
    after = {k: client.type(k) for k in client.scan_iter(match=f"{settings.queue.prefix}:*")}
    assert after == before, "a refused retry changed the queue"
