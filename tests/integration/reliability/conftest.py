"""Fixtures for the reliability suite (issue 12): the worker tests' harness (sandbox,
endpoint configs, worker subprocesses, a per-test Redis prefix) on the shared stack.

``LAKEHOUSE_RELIABILITY_LONG=1`` selects the long forms (more cases, bigger pages).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scrapworker"))

from worker_harness import ROOT, TOKEN, Endpoints, Sandbox, Worker, market_for  # noqa: E402

from lakehouse.queue import JobQueue  # noqa: E402
from lakehouse.queue_config import QueueSettings  # noqa: E402
from lakehouse.settings import Settings  # noqa: E402
from lakehouse.storage import ensure_bucket, s3_client  # noqa: E402
from sandbox import FaultRates, SandboxOptions, SandboxServer  # noqa: E402

LONG = os.environ.get("LAKEHOUSE_RELIABILITY_LONG") == "1"


@pytest.fixture()
def make_sandbox() -> Iterator[Callable[..., Sandbox]]:
    started: list[SandboxServer] = []

    def make(
        records_per_slot: int = 300,
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
    return f"r{uuid.uuid4().hex[:10]}"


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
        log = tmp_path / f"worker-{n}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env_extra or {})}
        env.pop("SANDBOX_TOKEN", None)
        if token is not None:
            env["SANDBOX_TOKEN"] = token
        argv = [
            sys.executable,
            "-m",
            "scrapworker",
            "--queue-prefix",
            prefix,
            "--endpoints-dir",
            str(endpoints.directory),
            "--worker-id",
            worker_id or f"rel-worker-{n}",
            *args,
        ]
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        worker = Worker(proc, log, argv)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.proc.poll() is None:
            worker.proc.send_signal(signal.SIGKILL)
            worker.proc.wait()
