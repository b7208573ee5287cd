"""Crawl benchmark (a script, not a test): how close does the worker get to the
rate limit's floor, and does it trip the upstream's limit?

    .venv/bin/python benchmarks/crawl_bench.py --own-stack      # starts a throwaway local stack
    .venv/bin/python benchmarks/crawl_bench.py                  # uses the running stack (lakehouse local up)

Scenario: the sandbox API with a server-side limit of RATE requests in any sliding
second; an endpoint configured at that rate; PAGES pages of 100 records. Run 1: one
worker, one job of PAGES pages. Run 2: three workers, three jobs of PAGES/3 pages
sharing one bucket. Wall time runs from enqueue to the last finished status (workers
already up), against the floor PAGES / RATE.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lakehouse.pipeline import job_for_slot  # noqa: E402
from lakehouse.endpoints import load_endpoint  # noqa: E402
from lakehouse.queue import JobQueue  # noqa: E402
from lakehouse.queue_config import QueueSettings  # noqa: E402
from lakehouse.settings import load_settings  # noqa: E402
from lakehouse.storage import ensure_bucket  # noqa: E402
from sandbox import MarketConfig, SandboxOptions, SandboxServer  # noqa: E402

SLOT = datetime(2024, 2, 1, 0, 0, tzinfo=timezone.utc)


def write_config(directory: Path, url: str, rate: int) -> Path:
    doc = {
        "name": "bench_trades",
        "request": {"url": f"{url}/v1/offset",
                    "params": {"symbol": "BTCUSDT", "start_time": "{slot_start_ms}", "end_time": "{slot_end_ms}"},
                    "auth": {"type": "bearer", "token_env": "SANDBOX_TOKEN"}},
        "pagination": {"type": "offset", "offset_param": "offset", "limit_param": "limit", "page_size": 100,
                       "total_path": "total", "max_pages": 100000},
        "response_map": {"records_path": "data.items"},
        "rate_limit": {"requests_per_second": rate, "burst": 1},
        "retry": {"max_attempts": 5, "backoff_seconds": 0.2},
        "schedule": "*/15 * * * *",
    }
    path = directory / "bench_trades.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run(workers: int, pages: int, rate: int, token: str, tmp: Path) -> dict[str, float]:
    settings = load_settings()
    ensure_bucket(settings.s3)
    jobs_n = workers
    per_job = pages // jobs_n
    market = MarketConfig(trade_interval_ms=(15 * 60_000) // (per_job * 100))
    server = SandboxServer(SandboxOptions(rate_limit=rate, token=token, market=market)).start()
    endpoints = tmp / f"endpoints-{workers}"
    endpoints.mkdir()
    config = load_endpoint(write_config(endpoints, server.url, rate))
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    queue = JobQueue(settings.redis.client(), QueueSettings(prefix=prefix))
    env = {**os.environ, "SANDBOX_TOKEN": token}
    procs = [
        subprocess.Popen([sys.executable, "-m", "scrapworker", "--queue-prefix", prefix, "--endpoints-dir", str(endpoints),
                          "--max-jobs", "1", "--concurrency", "1", "--worker-id", f"bench-{i}"],
                         cwd=ROOT, env=env, stdout=(tmp / f"worker-{workers}-{i}.log").open("wb"), stderr=subprocess.STDOUT)
        for i in range(workers)
    ]
    time.sleep(6)  # let the workers start (Scrapy import, S3 check) before the clock runs
    jobs = [job_for_slot(config, SLOT + timedelta(minutes=15 * n), SLOT + timedelta(minutes=15 * (n + 1)),
                         settings.s3.raw_prefix, force=True) for n in range(jobs_n)]
    started = time.monotonic()
    for job in jobs:
        queue.enqueue(job, force=True)
    statuses = [queue.wait_for(job.run_id, timeout=600, poll_interval=0.05) for job in jobs]
    wall = time.monotonic() - started
    for proc in procs:
        proc.wait(timeout=60)
    stats = server.stats()
    server.stop()
    landed = sum(s.pages for s in statuses)
    assert all(s.state.value == "finished" for s in statuses), statuses
    return {"workers": workers, "pages": landed, "wall": wall, "floor": landed / rate,
            "429s": stats.rate_limited, "max_in_any_second": stats.max_requests_in_any_second}


def dlt_run(pages: int, rate: int, token: str) -> str:
    try:
        import dlt  # noqa: F401
    except ImportError:
        return "dlt: not installed (uv pip install dlt) - skipped"
    return "dlt: installed, but the comparison run is not implemented yet"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pages", type=int, default=300)
    p.add_argument("--rate", type=int, default=20)
    p.add_argument("--own-stack", action="store_true", help="start a throwaway local stack on free ports")
    args = p.parse_args()
    token = "bench-" + uuid.uuid4().hex
    with tempfile.TemporaryDirectory(prefix="crawl-bench-") as tmpdir:
        tmp = Path(tmpdir)
        stack = None
        if args.own_stack:
            from lakehouse.local.stack import LocalStack
            from tests.conftest import stack_env

            os.environ.update(stack_env(tmp / "stack"))
            stack = LocalStack(load_settings())
            stack.up()
        try:
            print(f"{args.pages} pages of 100 records, sandbox limit {args.rate}/s (sliding 1 s window), floor {args.pages / args.rate:.1f} s")
            for workers in (1, 3):
                r = run(workers, args.pages, args.rate, token, tmp)
                over = (r["wall"] / r["floor"] - 1) * 100
                print(f"scrapworker x{r['workers']}: {r['pages']} pages in {r['wall']:.2f} s "
                      f"(floor {r['floor']:.2f} s, +{over:.1f} %), 429s {r['429s']}, "
                      f"max requests in any second {r['max_in_any_second']}")
            print(dlt_run(args.pages, args.rate, token))
        finally:
            if stack is not None:
                stack.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
