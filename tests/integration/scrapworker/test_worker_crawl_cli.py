"""`lakehouse crawl <endpoint> --wait` end to end, with a worker running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from worker_harness import ROOT

from lakehouse.endpoints import load_endpoint


def _crawl(endpoints: Any, prefix: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LAKEHOUSE_ENDPOINTS_DIR": str(endpoints.directory), "COLUMNS": "200"}
    env.pop("SANDBOX_TOKEN", None)  # the CLI never needs the secret: the worker reads it
    return subprocess.run(
        [sys.executable, "-c", "from lakehouse.cli import main; main()", *args, "--queue-prefix", prefix],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_crawl_wait_prints_the_summary_and_fails_with_the_workers_error(
    settings: Any, make_sandbox: Any, endpoints: Any, prefix: str, queue: Any, start_worker: Any
) -> None:
    sandbox = make_sandbox(records_per_slot=250)
    endpoints.write("sbx_cli", sandbox.url, "offset")
    endpoints.write("sbx_cli_broken", sandbox.url + "/nowhere", "offset")
    worker = start_worker("--max-jobs", "2")

    ok = _crawl(endpoints, prefix, "crawl", "sbx_cli", "--slot", "2024-01-02T03:07", "--wait", "--timeout", "60")
    assert ok.returncode == 0, ok.stderr + ok.stdout
    assert "sbx_cli__20240102T0300Z: queued" in ok.stdout
    assert "finished" in ok.stdout and "3 pages, 250 records" in ok.stdout, ok.stdout
    assert "s3://warehouse/raw/sbx_cli/ds=2024-01-02/hr=03/min=00/sbx_cli__20240102T0300Z/_manifest.json" in ok.stdout

    again = _crawl(endpoints, prefix, "crawl", "sbx_cli", "--slot", "2024-01-02T03:00Z")
    assert again.returncode == 0 and "already_finished" in again.stdout, again.stdout

    bad = _crawl(
        endpoints, prefix, "crawl", "sbx_cli_broken", "--slot", "2024-01-02T03:00", "--wait", "--timeout", "60"
    )
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "failed" in bad.stderr and "HTTP 404" in bad.stderr, bad.stderr
    assert worker.wait(30) == 0, worker.text()[-3000:]
    # The CLI's job names its config by hash, never a credential variable or a URL.
    payload = json.loads(queue.client.hget(queue.keys.job("sbx_cli__20240102T0300Z"), "payload"))
    assert "SANDBOX_TOKEN" not in json.dumps(payload) and "request" not in payload
    assert payload["config_hash"] == load_endpoint(endpoints.directory / "sbx_cli.yaml").content_hash
