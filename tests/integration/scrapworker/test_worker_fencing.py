"""Fenced landings (issue 18, item 4): a worker whose lease was taken while it was
paused deletes and overwrites nothing of the newer attempt's landing.

Real Redis, real SeaweedFS, real workers. Two workers serve one queue with a 2 s
lease; the one holding a job is stopped with SIGSTOP (no heartbeat, no thread runs)
at a chosen moment, the other re-leases the job after the lease expires and lands
it, then the first is resumed (SIGCONT) and carries on from where it stopped:

- ``manifest``: the stopped worker had confirmed its lease and read "no manifest"
  (the fault point ``manifest``: the conditional write is next). Resumed, its write
  gets 412, it reads the newer attempt's manifest and stands down;
- ``mid-crawl``: the stopped worker had landed some pages, more still to come.
  Resumed, it notices the lost lease and stops; pages it uploaded in flight stay in
  its own attempt folder, and the run's next landing removes them.

Either way the newer landing is intact: its manifest (byte for byte), every page and
checksum, the records, and the queue's ``finished`` with one "finished" line.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from worker_harness import Worker, check_landing, finished_lines, list_keys, make_job, wait_until, worker_id_of

from lakehouse.queue.jobs import CrawlJob, JobState
from lakehouse.raw.layout import Manifest, attempt_of, sha256_hex

LEASE = "2"  # seconds: a stopped worker's lease expires quickly
HOLD = "1"  # seconds each worker holds at its first manifest write (time to SIGSTOP it)


def _conditional_put(s3: Any, bucket: str, key: str, body: bytes, **condition: str) -> int:
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, **condition)
    except ClientError as exc:
        return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    return 200


def test_the_s3_server_honours_conditional_writes(settings: Any, s3: Any, prefix: str) -> None:
    """The fence relies on If-None-Match / If-Match on PutObject: SeaweedFS must answer 412."""
    bucket, key = settings.s3.bucket, f"fence-probe/{prefix}/_manifest.json"
    assert _conditional_put(s3, bucket, key, b"first", IfNoneMatch="*") == 200
    assert _conditional_put(s3, bucket, key, b"second", IfNoneMatch="*") == 412
    etag = s3.head_object(Bucket=bucket, Key=key)["ETag"]
    assert _conditional_put(s3, bucket, key, b"third", IfMatch='"0123456789abcdef0123456789abcdef"') == 412
    assert _conditional_put(s3, bucket, key, b"third", IfMatch=etag) == 200
    assert _conditional_put(s3, bucket, key, b"fourth", IfMatch=etag) == 412  # the ETag moved on
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"third"
    s3.delete_object(Bucket=bucket, Key=key)


def _attempts(keys: list[str], run_prefix: str) -> set[int]:
    return {a for k in keys if (a := attempt_of(run_prefix, k))}


@dataclass
class Paused:
    """One job crawled by two workers: the first stopped at ``moment`` past its lease."""

    job: CrawlJob
    expected: list[Any]
    stale: Worker
    other: Worker
    stale_attempt: int
    manifest: Manifest
    strays: list[str]
    stood_down: float


def _pause_past_lease(
    moment: str, workers: list[Worker], sandbox: Any, endpoints: Any, settings: Any, queue: Any, s3: Any
) -> Paused:
    config = endpoints.write(f"sbx_fence_{moment.replace('-', '_')}", sandbox.url, "offset", rate=8)
    expected = [r["id"] for r in sandbox.expected()]
    job = make_job(settings, config)
    queue.enqueue(job, force=True)
    wait_until(lambda: (st := queue.get_status(job.run_id)) and st.worker_id, 30, "a worker to lease the job", 0.02)
    holder = queue.get_status(job.run_id).worker_id  # type: ignore[union-attr]
    stale = next(w for w in workers if worker_id_of(w) == holder)
    other = next(w for w in workers if w is not stale)
    if moment == "manifest":
        wait_until(lambda: "fault point manifest reached" in stale.text(), 30, "the manifest point", 0.01)
    else:
        wait_until(lambda: len(list_keys(s3, settings, job.raw_prefix)) >= 2, 30, "two pages to land", 0.01)
    stale.proc.send_signal(signal.SIGSTOP)
    try:
        assert job.manifest_key not in list_keys(s3, settings, job.raw_prefix), "stopped too late"
        (stale_attempt,) = _attempts(list_keys(s3, settings, job.raw_prefix), job.raw_prefix)
        # The other worker reaps the expired lease, crawls again and lands.
        wait_until(lambda: queue.get_status(job.run_id).state.terminal, 60, "the newer attempt to land", 0.05)  # type: ignore[union-attr]
        landed = queue.get_status(job.run_id)
        manifest = check_landing(s3, settings, job, expected, "data.items")
        body = s3.get_object(Bucket=settings.s3.bucket, Key=job.manifest_key)["Body"].read()
    finally:
        stale.proc.send_signal(signal.SIGCONT)
    resumed = time.monotonic()
    assert landed is not None and landed.state == JobState.FINISHED and landed.worker_id == worker_id_of(other)
    assert landed.attempts == 2 and manifest.worker_id == worker_id_of(other)
    assert manifest.attempt is not None and manifest.attempt > stale_attempt

    # The stale worker carries on, finds out and stands down without acking. At the
    # manifest it must be the landing's own refusal (the heartbeat may notice too).
    said = "pages were removed" if moment == "manifest" else "stopping without ack"

    def stood_down_on_this_run() -> bool:
        return any(f"run {job.run_id}: " in line and said in line for line in stale.text().splitlines())

    wait_until(stood_down_on_this_run, 30, "the resumed worker to stand down", 0.02)
    stood_down = time.monotonic() - resumed
    log = stale.text()
    if moment == "manifest":
        # Its If-None-Match write got 412; it read the newer manifest and refused.
        assert "the manifest changed while committing; reading it again" in log, log[-3000:]
        assert f"a newer attempt (lease {manifest.attempt}) landed run {job.run_id}" in log, log[-3000:]
    # No event marks "its in-flight page PUTs are done": give them a moment to land.
    time.sleep(0.5)
    assert s3.get_object(Bucket=settings.s3.bucket, Key=job.manifest_key)["Body"].read() == body
    again = queue.get_status(job.run_id)
    assert again is not None and (again.state, again.worker_id, again.records, again.finished_at) == (
        landed.state,
        landed.worker_id,
        landed.records,
        landed.finished_at,
    )
    assert finished_lines([w.log for w in workers], job.run_id) == 1 and f"run {job.run_id} finished" not in log
    for page in manifest.pages:  # intact: every listed page, byte for byte
        got = s3.get_object(Bucket=settings.s3.bucket, Key=page.key)["Body"].read()
        assert len(got) == page.bytes and sha256_hex(got) == page.sha256, page.key
    keys = list_keys(s3, settings, job.raw_prefix)
    strays = sorted(set(keys) - {p.key for p in manifest.pages} - {job.manifest_key})
    # Only the stale attempt's own folder may hold pages it uploaded after resuming.
    assert all(attempt_of(job.raw_prefix, k) == stale_attempt for k in strays), strays
    return Paused(job, expected, stale, other, stale_attempt, manifest, strays, stood_down)


def test_a_worker_paused_past_its_lease_changes_nothing_of_the_newer_landing(
    settings: Any, make_sandbox: Any, endpoints: Any, queue: Any, s3: Any, start_worker: Any
) -> None:
    t0 = time.monotonic()
    # 8 pages at 8 requests/s: a crawl of about a second, so mid-crawl is easy to hit.
    sandbox = make_sandbox(records_per_slot=800)
    # Each worker holds at its first manifest write only: the first moment below.
    env = {"LAKEHOUSE_WORKER__PAUSE_AT": "manifest", "LAKEHOUSE_WORKER__PAUSE_SECONDS": HOLD}
    workers = [start_worker("--lease-seconds", LEASE, worker_id=f"fence-{i}", env_extra=env) for i in (1, 2)]
    for worker in workers:
        wait_until(lambda w=worker: "serving queue" in w.text(), 90, "the workers to start")
    seen = []
    for moment in ("manifest", "mid-crawl"):
        paused = _pause_past_lease(moment, workers, sandbox, endpoints, settings, queue, s3)
        if moment == "manifest":
            assert not paused.strays, paused.strays  # the refused attempt removed its own pages
        seen.append(
            f"{moment}: stale lease {paused.stale_attempt} < landed {paused.manifest.attempt}, stood down "
            f"{paused.stood_down:.2f} s after SIGCONT, {len(paused.strays)} stray page(s)"
        )
    assert all(w.proc.poll() is None for w in workers), "both workers keep serving"

    # The run's next landing removes whatever a stale attempt left, and is complete.
    queue.enqueue(paused.job, force=True)
    wait_until(lambda: queue.get_status(paused.job.run_id).state.terminal, 60, "the rerun to land", 0.05)  # type: ignore[union-attr]
    rerun = check_landing(s3, settings, paused.job, paused.expected, "data.items")
    assert rerun.attempt is not None and rerun.attempt > paused.manifest.attempt  # type: ignore[operator]
    print(f"\nSIGSTOP past the lease; {'; '.join(seen)}; rerun clean; {time.monotonic() - t0:.1f} s")
