"""The worker fixtures, in ONE module that both the worker tests
(tests/integration/scrapworker/conftest.py) and the reliability suite
(tests/integration/reliability/conftest.py) import: the in-process sandbox API,
endpoint configs pointing at it, worker subprocesses (``python -m scrapworker``) and a
per-test Redis key prefix.

Every test gets its own prefix (``--queue-prefix``), so queues, dead letters and
rate-limit buckets of different tests never meet on the shared stack.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from worker_harness import TOKEN, Endpoints, Sandbox, Worker, launch_worker, market_for

from lakehouse.config.settings import Settings
from lakehouse.queue.config import QueueSettings
from lakehouse.queue.crawl_queue import JobQueue
from lakehouse.raw.storage import ensure_bucket, s3_client
from sandbox import FaultRates, SandboxOptions, SandboxServer

__all__ = ["endpoints", "make_sandbox", "prefix", "queue", "s3", "start_worker"]


@pytest.fixture()
def make_sandbox() -> Iterator[Callable[..., Sandbox]]:
    started: list[SandboxServer] = []

    def make(
        records_per_slot: int = 500,
        rate_limit: int | None = None,
        faults: FaultRates | None = None,
        token: str | None = TOKEN,
    ) -> Sandbox:
        market = market_for(records_per_slot)
        server = SandboxServer(
            SandboxOptions(rate_limit=rate_limit, token=token, faults=faults or FaultRates(), market=market)
        ).start()
        started.append(server)
        return Sandbox(server, market)

    yield make
    for server in started:
        server.stop()


@pytest.fixture()
def endpoints(tmp_path: Path) -> Endpoints:
    directory = tmp_path / "endpoints"
    directory.mkdir()
    return Endpoints(directory)


@pytest.fixture()
def prefix() -> str:
    return f"w{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def queue(settings: Settings, prefix: str) -> Iterator[JobQueue]:
    client = settings.redis.client()
    yield JobQueue(client, QueueSettings(prefix=prefix))
    client.close()


@pytest.fixture()
def s3(settings: Settings) -> Any:
    ensure_bucket(settings.s3)
    return s3_client(settings.s3)


@pytest.fixture()
def start_worker(
    settings: Settings, prefix: str, endpoints: Endpoints, tmp_path: Path
) -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def start(
        *args: str, worker_id: str | None = None, token: str | None = TOKEN, env_extra: dict[str, str] | None = None
    ) -> Worker:
        n = len(workers)
        worker = launch_worker(
            tmp_path / f"worker-{n}.log",
            *args,
            endpoints_dir=endpoints.directory,
            worker_id=worker_id or f"test-worker-{n}",
            queue_prefix=prefix,
            token=token,
            env_extra=env_extra,
        )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.proc.poll() is None:
            worker.proc.send_signal(signal.SIGKILL)
            worker.proc.wait()
