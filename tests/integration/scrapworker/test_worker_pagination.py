"""Every pagination style lands every record exactly once, and the manifest's totals
match what the sandbox served."""

from __future__ import annotations

from typing import Any

import pytest
from worker_harness import (
    ROUTES,
    landed_records,
    list_keys,
    make_job,
    read_manifest,
)

from lakehouse.queue.jobs import JobState


@pytest.mark.parametrize("style", list(ROUTES))
def test_each_style_lands_every_record_once(
    style: str, settings: Any, make_sandbox: Any, endpoints: Any, queue: Any, s3: Any, start_worker: Any
) -> None:
    sandbox = make_sandbox(records_per_slot=450)
    config = endpoints.write(f"sbx_{style}", sandbox.url, style)
    job = make_job(settings, config)
    queue.enqueue(job, force=True)
    worker = start_worker("--once")
    assert worker.wait(60) == 0, worker.text()[-3000:]

    status = queue.get_status(job.run_id)
    assert status is not None and status.state == JobState.FINISHED, (status, worker.text()[-3000:])
    manifest = read_manifest(s3, settings, job)
    expected = sandbox.expected()
    got = landed_records(s3, settings, manifest, ROUTES[style][2])
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    assert got == expected

    stats = sandbox.server.stats()
    assert manifest.total_records == stats.records_served == len(expected) == status.records
    assert manifest.total_pages == stats.ok == status.pages
    assert manifest.total_bytes == status.bytes
    assert list_keys(s3, settings, job.raw_prefix) == sorted([p.key for p in manifest.pages] + [job.manifest_key])
