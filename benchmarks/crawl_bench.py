"""Crawl benchmark (a script, not a test): how close does the worker get to the
rate limit's floor, and does it trip the upstream's limit?

    .venv/bin/python benchmarks/crawl_bench.py --own-stack      # starts a throwaway local stack
    .venv/bin/python benchmarks/crawl_bench.py                  # uses the running stack (lakehouse local up)

Scenario: the sandbox API with a server-side limit of RATE requests in any sliding
second; an endpoint configured at that rate; PAGES pages of 100 records. Run 1: one
worker, one job of PAGES pages. Run 2: three workers, three jobs of PAGES/3 pages
sharing one bucket. Wall time runs from enqueue to the last finished status (workers
already up), against the floor PAGES / RATE. Run 3: dlt's REST API source on the same
endpoint and pages (one job), landing JSONL in the same bucket.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.own_stack import own_stack  # noqa: E402
from lakehouse.config.settings import load_settings  # noqa: E402
from lakehouse.endpoints import load_endpoint  # noqa: E402
from lakehouse.pipeline.steps import job_for_slot  # noqa: E402
from lakehouse.queue.config import QueueSettings  # noqa: E402
from lakehouse.queue.crawl_queue import JobQueue  # noqa: E402
from lakehouse.raw.storage import ensure_bucket  # noqa: E402
from sandbox import MarketConfig, SandboxOptions, SandboxServer  # noqa: E402

SLOT = datetime(2024, 2, 1, 0, 0, tzinfo=UTC)
WORKER_SERVING = ": serving queue "  # the worker's log line once its lease poller runs


def write_config(directory: Path, url: str, rate: int) -> Path:
    doc = {
        "name": "bench_trades",
        "request": {
            "url": f"{url}/v1/offset",
            "params": {"symbol": "BTCUSDT", "start_time": "{slot_start_ms}", "end_time": "{slot_end_ms}"},
            "auth": {"type": "bearer", "token_env": "SANDBOX_TOKEN"},
        },
        "pagination": {
            "type": "offset",
            "offset_param": "offset",
            "limit_param": "limit",
            "page_size": 100,
            "total_path": "total",
            "max_pages": 100000,
        },
        "response_map": {"records_path": "data.items"},
        "rate_limit": {"requests_per_second": rate, "burst": 1},
        "retry": {"max_attempts": 5, "backoff_seconds": 0.2},
        "schedule": "*/15 * * * *",
    }
    path = directory / "bench_trades.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def wait_until_serving(procs: list[subprocess.Popen[bytes]], logs: list[Path], timeout: float = 120.0) -> None:
    """Start the clock only once every worker polls the queue. A fixed sleep was too
    short for three workers importing Scrapy at once on a busy 2-core machine: their
    start-up (up to 14 s) was then counted as crawl time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc, log in zip(procs, logs, strict=True):
            if proc.poll() is not None:
                raise RuntimeError(
                    f"worker exited with {proc.returncode} before serving; see {log}:\n"
                    + log.read_text(errors="replace")[-2000:]
                )
        if all(WORKER_SERVING in log.read_text(errors="replace") for log in logs):
            return
        time.sleep(0.1)
    raise TimeoutError(f"workers not serving after {timeout:.0f} s; see {', '.join(map(str, logs))}")


def run(workers: int, pages: int, rate: int, token: str, tmp: Path) -> dict[str, Any]:
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
    logs = [tmp / f"worker-{workers}-{i}.log" for i in range(workers)]
    launched = time.monotonic()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scrapworker",
                "--queue-prefix",
                prefix,
                "--endpoints-dir",
                str(endpoints),
                "--max-jobs",
                "1",
                "--concurrency",
                "1",
                "--worker-id",
                f"bench-{i}",
            ],
            cwd=ROOT,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        for i, log in enumerate(logs)
    ]
    wait_until_serving(procs, logs)
    startup = time.monotonic() - launched
    jobs = [
        job_for_slot(
            config,
            SLOT + timedelta(minutes=15 * n),
            SLOT + timedelta(minutes=15 * (n + 1)),
            settings.s3.raw_prefix,
            force=True,
        )
        for n in range(jobs_n)
    ]
    started = time.monotonic()
    enqueued_at = datetime.now(UTC)
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
    # Where the wall time goes: when each job was leased and finished, from enqueue.
    timeline = ", ".join(
        f"{s.worker_id} {s.pages} pages +{(s.started_at - enqueued_at).total_seconds():.2f}"
        f"..+{(s.finished_at - enqueued_at).total_seconds():.2f} s"
        for s in statuses
        if s.started_at and s.finished_at
    )
    return {
        "workers": workers,
        "pages": landed,
        "wall": wall,
        "floor": landed / rate,
        "429s": stats.rate_limited,
        "max_in_any_second": stats.max_requests_in_any_second,
        "timeline": timeline,
        "startup": startup,
    }


def dlt_run(pages: int, rate: int, token: str, tmp: Path) -> dict[str, Any]:
    """dlt's REST API source on the same sandbox endpoint and pages, loaded as JSONL by
    its filesystem destination into the same S3 bucket (the analogue of our raw landing).

    dlt has no client-side rate limiter: it requests as fast as the server answers and,
    on a 429, waits for Retry-After (its default retry policy) and tries again.
    """
    import dlt
    from dlt.sources.rest_api import rest_api_source

    settings = load_settings()
    key, secret = settings.s3.require_credentials()
    market = MarketConfig(trade_interval_ms=(15 * 60_000) // (pages * 100))
    server = SandboxServer(SandboxOptions(rate_limit=rate, token=token, market=market)).start()
    start_ms = int(SLOT.timestamp() * 1000)
    source = rest_api_source(
        {
            "client": {"base_url": server.url, "auth": {"type": "bearer", "token": token}},
            "resources": [
                {
                    "name": "bench_trades",
                    "endpoint": {
                        "path": "v1/offset",
                        "params": {"symbol": "BTCUSDT", "start_time": start_ms, "end_time": start_ms + 15 * 60_000},
                        "data_selector": "data.items",
                        "paginator": {
                            "type": "offset",
                            "limit": 100,
                            "offset_param": "offset",
                            "limit_param": "limit",
                            "total_path": "total",
                        },
                    },
                }
            ],
        }
    )
    destination = dlt.destinations.filesystem(
        bucket_url=f"s3://{settings.s3.bucket}/dlt_crawl_bench/{uuid.uuid4().hex[:8]}",
        credentials={
            "aws_access_key_id": key,
            "aws_secret_access_key": secret,
            "endpoint_url": settings.s3.endpoint_url,
            "region_name": settings.s3.region,
        },
    )
    pipeline = dlt.pipeline(
        pipeline_name="crawl_bench", destination=destination, dataset_name="raw", pipelines_dir=str(tmp / "dlt")
    )
    try:
        started = time.monotonic()
        pipeline.extract(source, loader_file_format="jsonl")
        extracted = time.monotonic() - started
        pipeline.normalize()
        pipeline.load()
        wall = time.monotonic() - started
        stats = server.stats()
    finally:
        server.stop()
    trace = pipeline.last_trace
    normalized = trace.last_normalize_info if trace is not None else None
    records = normalized.row_counts.get("bench_trades", 0) if normalized is not None else 0
    if records != pages * 100:
        raise RuntimeError(f"dlt landed {records} records, expected {pages * 100}")
    return {
        "pages": stats.total_requests - stats.rate_limited,
        "records": records,
        "extract": extracted,
        "wall": wall,
        "floor": pages / rate,
        "429s": stats.rate_limited,
        "max_in_any_second": stats.max_requests_in_any_second,
    }


app = typer.Typer(add_completion=False)


@app.command(help=__doc__.split("\n\n")[0] if __doc__ else None)
def main(
    pages: int = typer.Option(300),
    rate: int = typer.Option(20),
    with_own_stack: bool = typer.Option(False, "--own-stack", help="start a throwaway local stack on free ports"),
) -> int:
    token = "bench-" + uuid.uuid4().hex
    with tempfile.TemporaryDirectory(prefix="crawl-bench-") as tmpdir:
        tmp = Path(tmpdir)
        with ExitStack() as cleanup:
            if with_own_stack:
                cleanup.enter_context(own_stack(tmp / "stack"))
            print(
                f"{pages} pages of 100 records, sandbox limit {rate}/s (sliding 1 s window), floor {pages / rate:.1f} s"
            )
            for workers in (1, 3):
                r = run(workers, pages, rate, token, tmp)
                over = (r["wall"] / r["floor"] - 1) * 100
                print(
                    f"scrapworker x{r['workers']}: {r['pages']} pages in {r['wall']:.2f} s "
                    f"(floor {r['floor']:.2f} s, +{over:.1f} %), 429s {r['429s']}, "
                    f"max requests in any second {r['max_in_any_second']}"
                )
                print(f"    workers serving {r['startup']:.1f} s after launch (not timed); jobs: {r['timeline']}")
            d = dlt_run(pages, rate, token, tmp)
            over = (d["extract"] / d["floor"] - 1) * 100
            print(
                f"dlt rest_api x1: {d['records']} records in {d['extract']:.2f} s of extraction "
                f"(floor {d['floor']:.2f} s, +{over:.1f} %), {d['wall']:.2f} s with normalize and load to S3, "
                f"429s {d['429s']}, max requests in any second {d['max_in_any_second']}"
            )
    return 0


if __name__ == "__main__":
    app()
