"""Helpers for worker tests: sandbox slots and expected records, endpoint configs
written for the sandbox's port, worker subprocess handles, and readers for what landed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from lakehouse.config.settings import Settings
from lakehouse.endpoints import EndpointConfig, load_endpoint
from lakehouse.pipeline.steps import job_for_slot
from lakehouse.queue.jobs import CrawlJob, JobStatus
from lakehouse.raw.layout import Manifest
from sandbox import MarketConfig, SandboxServer, expected_records

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "sbx-secret-" + uuid.uuid4().hex  # unique: a hit in logs or S3 can only be a leak
SLOT = datetime(2024, 1, 2, 3, 0, tzinfo=UTC)


def slot(n: int = 0) -> tuple[datetime, datetime]:
    start = SLOT + timedelta(minutes=15 * n)
    return start, start + timedelta(minutes=15)


def market_for(records_per_slot: int, seed: int = 0) -> MarketConfig:
    return MarketConfig(trade_interval_ms=(15 * 60_000) // records_per_slot, seed=seed)


@dataclass
class Sandbox:
    server: SandboxServer
    market: MarketConfig

    @property
    def url(self) -> str:
        return self.server.url

    def expected(self, n: int = 0) -> list[dict[str, Any]]:
        start, end = slot(n)
        return [dict(r) for r in expected_records(self.market, start, end)]


ROUTES = {
    "offset": (
        "/v1/offset",
        {"type": "offset", "offset_param": "offset", "limit_param": "limit", "page_size": 100, "total_path": "total"},
        "data.items",
    ),
    "page": (
        "/v1/page",
        {
            "type": "page",
            "page_param": "page",
            "page_size_param": "page_size",
            "page_size": 100,
            "start_page": 1,
            "total_pages_path": "total_pages",
        },
        "data",
    ),
    "cursor": (
        "/v1/cursor",
        {
            "type": "cursor",
            "cursor_param": "cursor",
            "next_cursor_path": "next_cursor",
            "limit_param": "limit",
            "page_size": 100,
        },
        "data",
    ),
    "next_url": (
        "/v1/cursor",
        {"type": "cursor", "next_url_path": "next", "limit_param": "limit", "page_size": 100},
        "data",
    ),
    "link_header": ("/v1/link", {"type": "link_header", "limit_param": "per_page", "page_size": 100}, ""),
    "none": ("/api/v3/trades", {"type": "none"}, ""),
}


@dataclass
class Endpoints:
    directory: Path

    def write(
        self,
        name: str,
        base_url: str,
        style: str = "offset",
        *,
        rate: float = 50.0,
        auth: dict[str, Any] | None = None,
        retry: dict[str, Any] | None = None,
        bucket_key: str | None = None,
        extra_params: dict[str, str] | None = None,
        pagination: dict[str, Any] | None = None,
    ) -> EndpointConfig:
        path, paging, records_path = ROUTES[style]
        params = {"symbol": "BTCUSDT", "start_time": "{slot_start_ms}", "end_time": "{slot_end_ms}"}
        if style == "none":
            params["limit"] = "1000"
        doc = {
            "name": name,
            "request": {
                "url": base_url + path,
                "params": {**params, **(extra_params or {})},
                "auth": auth or {"type": "bearer", "token_env": "SANDBOX_TOKEN"},
                "timeout_seconds": 10,
            },
            "pagination": {**paging, **(pagination or {})},
            "response_map": {"records_path": records_path},
            "rate_limit": {"requests_per_second": rate, "burst": 1, **({"key": bucket_key} if bucket_key else {})},
            "retry": retry or {"max_attempts": 6, "backoff_seconds": 0.05, "max_backoff_seconds": 0.5},
            "schedule": "*/15 * * * *",
        }
        file = self.directory / f"{name}.yaml"
        file.write_text(yaml.safe_dump(doc, sort_keys=False))
        return load_endpoint(file)


def make_job(settings: Settings, config: EndpointConfig, n: int = 0, *, force: bool = False) -> CrawlJob:
    start, end = slot(n)
    return job_for_slot(config, start, end, settings.s3.raw_prefix, force=force)


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log: Path
    args: list[str] = field(default_factory=list)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"worker did not exit within {timeout}s; log:\n{self.text()[-4000:]}") from None


def launch_worker(
    log: Path,
    *args: str,
    endpoints_dir: Path,
    worker_id: str,
    queue_prefix: str | None = None,
    token: str | None = TOKEN,
    env_extra: dict[str, str] | None = None,
) -> Worker:
    """Start ``python -m scrapworker`` logging to ``log``; ``queue_prefix`` None serves
    the settings' own queue (the one Airflow's DAGs enqueue on)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    env.pop("SANDBOX_TOKEN", None)
    if token is not None:
        env["SANDBOX_TOKEN"] = token
    prefix = ["--queue-prefix", queue_prefix] if queue_prefix is not None else []
    argv = [
        sys.executable,
        "-m",
        "scrapworker",
        *prefix,
        "--endpoints-dir",
        str(endpoints_dir),
        "--worker-id",
        worker_id,
        *args,
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Worker(proc, log, argv)


def worker_id_of(worker: Worker) -> str:
    return worker.args[worker.args.index("--worker-id") + 1]


def kill_service(stack: Any, name: str) -> float:
    """kill -9 the service's process group (as the stack recorded it, ``LocalStack``);
    returns when it is gone, with the monotonic time of the kill."""
    import psutil

    pid = next(s.pid for s in stack.status() if s.service == name)
    assert pid is not None, f"{name} is not running"
    proc = psutil.Process(pid)
    killed_at = time.monotonic()
    os.killpg(os.getpgid(pid), signal.SIGKILL)
    proc.wait(timeout=10)
    return killed_at


def wait_all_ended(queue: Any, run_ids: Any, timeout: float) -> dict[str, JobStatus]:
    """Wait until every run is terminal (finished, failed, dead); their statuses."""

    def ended() -> bool:
        return all((s := queue.get_status(r)) is not None and s.state.terminal for r in run_ids)

    wait_until(ended, timeout, "every job to end", 0.2)
    return {r: queue.get_status(r) for r in run_ids}


def stop_workers(workers: list[Worker], timeout: float = 30) -> None:
    """SIGTERM every worker, then each must exit cleanly (0) within ``timeout``."""
    for worker in workers:
        worker.proc.send_signal(signal.SIGTERM)
    for worker in workers:
        assert worker.wait(timeout) == 0, worker.text()[-3000:]


def read_manifest(s3: Any, settings: Settings, job: CrawlJob) -> Manifest:
    body = s3.get_object(Bucket=settings.s3.bucket, Key=job.manifest_key)["Body"].read()
    return Manifest.from_json(body)


def landed_records(s3: Any, settings: Settings, manifest: Manifest, records_path: str) -> list[dict[str, Any]]:
    from lakehouse.endpoints import extract

    out: list[dict[str, Any]] = []
    for page in manifest.pages:
        data = json.loads(s3.get_object(Bucket=settings.s3.bucket, Key=page.key)["Body"].read())
        out.extend(extract(data, records_path) or [])
    return out


def list_keys(s3: Any, settings: Settings, prefix: str) -> list[str]:
    keys: list[str] = []
    for listing in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.s3.bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in listing.get("Contents", []))
    return sorted(keys)


def check_landing(s3: Any, settings: Settings, job: CrawlJob, expected_ids: list[Any], records_path: str) -> Manifest:
    """The run's landing is complete and clean: the manifest lists pages 1..n, the run
    prefix holds exactly those pages and the manifest (no orphan object), every page's
    bytes match its checksum, and the records are ``expected_ids``, each once."""
    from lakehouse.endpoints import extract
    from lakehouse.raw.layout import sha256_hex

    manifest = read_manifest(s3, settings, job)
    assert [p.index for p in manifest.pages] == list(range(1, manifest.total_pages + 1)), job.run_id
    keys = list_keys(s3, settings, job.raw_prefix)
    assert keys == sorted([p.key for p in manifest.pages] + [job.manifest_key]), (job.run_id, keys)
    ids: list[Any] = []
    for page in manifest.pages:
        body = s3.get_object(Bucket=settings.s3.bucket, Key=page.key)["Body"].read()
        assert sha256_hex(body) == page.sha256 and len(body) == page.bytes, (job.run_id, page.index)
        ids.extend(r["id"] for r in extract(json.loads(body), records_path) or [])
    assert ids == expected_ids, f"{job.run_id}: {len(ids)} records landed, {len(expected_ids)} expected"
    return manifest


def finished_lines(logs: list[Path], run_id: str) -> int:
    """How many times the workers logged the run as finished (acked) across ``logs``."""
    return sum(log.read_text(errors="replace").count(f"run {run_id} finished:") for log in logs if log.exists())


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
