"""Incremental cursors on the real stack: config file -> enqueue (pipeline) -> worker ->
manifest. The sandbox's /v1/updates items change all the time, so each slot must ask
from the mark the previous slot reached, and the mark lives only in S3."""

from __future__ import annotations

import signal
import time
from typing import Any

import yaml
from worker_harness import landed_records, list_keys, read_manifest, slot, wait_until

from lakehouse.endpoints import EndpointConfig, load_endpoint
from lakehouse.pipeline.steps import plan_cursor, slot_job
from lakehouse.queue.jobs import CrawlJob, JobState
from lakehouse.raw.layout import Manifest
from sandbox.changes import parse_iso_ms, state_at

INITIAL = "2026-01-01T00:00:00.000Z"


def _write(
    endpoints: Any, name: str, url: str, *, records: int, change_ms: int, page_size: int, rate: float
) -> EndpointConfig:
    doc = {
        "name": name,
        "request": {
            "url": url + "/v1/updates",
            "params": {"records": records, "change_ms": change_ms},
            "auth": {"type": "bearer", "token_env": "SANDBOX_TOKEN"},
        },
        "pagination": {
            "type": "cursor",
            "cursor_param": "cursor",
            "next_cursor_path": "next_cursor",
            "limit_param": "limit",
            "page_size": page_size,
        },
        "response_map": {"records_path": "data"},
        "rate_limit": {"requests_per_second": rate, "burst": 1},
        "retry": {"max_attempts": 4, "backoff_seconds": 0.05, "max_backoff_seconds": 0.2},
        "schedule": "*/15 * * * *",
        "incremental": {
            "cursor_path": "updated_at",
            "param": "updated_since",
            "until_param": "updated_until",
            "initial_value": INITIAL,
        },
    }
    path = endpoints.directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_endpoint(path)


def _land(
    settings: Any, queue: Any, s3: Any, config: EndpointConfig, n: int, force: bool = False
) -> tuple[CrawlJob, Manifest, list[dict[str, Any]]]:
    job = slot_job(settings, config, *slot(n), force=force)
    queue.enqueue(job, force=force)
    wait_until(lambda: (st := queue.get_status(job.run_id)) and st.state.terminal, 60, f"slot {n} to end")
    status = queue.get_status(job.run_id)
    assert status.state == JobState.FINISHED, status
    manifest = read_manifest(s3, settings, job)
    return job, manifest, landed_records(s3, settings, manifest, "data")


def _check_replay(landings: list[tuple[Manifest, list[dict[str, Any]]]], records: int, change_ms: int) -> None:
    """Ranges chain, rows sit in their slot's range, no version twice, and replaying the
    slots (latest version per id) gives exactly what the source held at the last mark."""
    seen: set[tuple[int, str]] = set()
    merged: dict[int, dict[str, Any]] = {}
    for i, (manifest, rows) in enumerate(landings):
        rng = manifest.incremental
        assert rng is not None and rng.param == "updated_since"
        assert rng.start == (INITIAL if i == 0 else landings[i - 1][0].incremental.end)  # type: ignore[union-attr]
        for row in rows:
            assert rng.start < row["updated_at"] <= rng.end, (i, row, rng)
            version = (row["id"], row["updated_at"])
            assert version not in seen, f"{version} landed twice"
            seen.add(version)
            merged[row["id"]] = row
    last = landings[-1][0].incremental
    assert last is not None
    assert merged == state_at(records, change_ms, parse_iso_ms(last.end))


def test_three_slots_fetch_disjoint_ranges_and_a_redis_flush_loses_no_mark(
    settings: Any, make_sandbox: Any, endpoints: Any, queue: Any, s3: Any, start_worker: Any, prefix: str
) -> None:
    sandbox = make_sandbox()
    config = _write(endpoints, "sbx_incr", sandbox.url, records=20, change_ms=250, page_size=4, rate=40)
    worker = start_worker()
    landings = []
    for n in range(3):
        if n:
            time.sleep(1.5)  # about six items change meanwhile
        if n == 2:
            # Everything this endpoint had in Redis (queue, statuses, buckets): gone.
            client = settings.redis.client()
            client.delete(*client.scan_iter(f"{prefix}*"))
            assert not list(client.scan_iter(f"{prefix}*"))
            client.close()
        job, manifest, rows = _land(settings, queue, s3, config, n)
        assert job.cursor.start == (INITIAL if n == 0 else landings[-1][0].incremental.end)
        assert rows, f"slot {n} fetched nothing"
        landings.append((manifest, rows))
    _check_replay(landings, 20, 250)
    # The first slot holds every item (one that changed mid-crawl twice, as two
    # versions); later ones only what changed since.
    assert {r["id"] for r in landings[0][1]} == set(range(1, 21))
    assert all(len({r["id"] for r in rows}) < 20 for _, rows in landings[1:])
    assert worker.proc.poll() is None, worker.text()[-3000:]


def test_a_worker_killed_mid_slot_reruns_the_same_range_and_a_rerun_keeps_its_recorded_range(
    settings: Any, make_sandbox: Any, endpoints: Any, queue: Any, s3: Any, start_worker: Any
) -> None:
    sandbox = make_sandbox()
    # 20 items at 2 a page, 4 requests/s: the first slot crawls about 3 s.
    config = _write(endpoints, "sbx_incr_kill", sandbox.url, records=20, change_ms=700, page_size=2, rate=4)
    first = slot_job(settings, config, *slot(0))
    queue.enqueue(first)
    doomed = start_worker("--lease-seconds", "2")
    wait_until(lambda: len(list_keys(s3, settings, first.raw_prefix)) >= 2, 30, "two pages of slot 0 to land")
    doomed.proc.send_signal(signal.SIGKILL)
    doomed.proc.wait()
    # No manifest, so no mark moved: the next slot would still ask from the start.
    assert first.manifest_key not in list_keys(s3, settings, first.raw_prefix)
    assert plan_cursor(settings, config, slot(1)[0]).start == INITIAL  # type: ignore[union-attr]

    start_worker("--lease-seconds", "2")  # reaps the dead lease and crawls the same payload
    wait_until(lambda: (st := queue.get_status(first.run_id)) and st.state.terminal, 60, "slot 0 to be rerun")
    assert queue.get_status(first.run_id).attempts == 2
    manifest0 = read_manifest(s3, settings, first)
    rows0 = landed_records(s3, settings, manifest0, "data")
    time.sleep(2.5)
    _, manifest1, rows1 = _land(settings, queue, s3, config, 1)
    _check_replay([(manifest0, rows0), (manifest1, rows1)], 20, 700)

    # A forced rerun of slot 0 asks for its recorded range again (start and end), so it
    # cannot reach into slot 1's: it gets the versions of that range still current.
    rerun, again, rows = _land(settings, queue, s3, config, 0, force=True)
    assert again.incremental == manifest0.incremental
    assert rerun.cursor.until == manifest0.incremental.end  # type: ignore[union-attr]
    assert {(r["id"], r["updated_at"]) for r in rows} <= {(r["id"], r["updated_at"]) for r in rows0}
