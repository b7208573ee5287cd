"""A scrapworker process as a local service (`lakehouse local up --with worker`)."""

from __future__ import annotations

import os
import sys

from lakehouse.local.service import Port, Service
from lakehouse.local.services.sandbox_server import TOKEN_ENV, sandbox_token


class WorkerService(Service):
    name = "worker"
    stop_timeout = 40.0  # SIGTERM: it finishes or releases what it holds first

    @property
    def url(self) -> str:
        return f"redis queue {self.settings.queue.prefix}:jobs"

    @property
    def main_port(self) -> int:
        return 0

    def ports(self) -> list[Port]:
        return []

    def env(self) -> dict[str, str]:
        env = {}
        if TOKEN_ENV not in os.environ:
            # The demo's sandbox token; a real endpoint's secrets come from the caller's env.
            env[TOKEN_ENV] = sandbox_token(self.settings.local.secrets_dir)
        return env

    def command(self) -> list[str]:
        # Everything else (concurrency, rate headroom, lease) the worker reads from the same
        # profile and LAKEHOUSE_* environment as the stack: its `worker` and `queue` sections.
        return [sys.executable, "-m", "scrapworker", "--worker-id", self.settings.worker.worker_id or "local-worker"]

    def is_healthy(self) -> bool:
        # A worker has no port; it is healthy while its process runs (the stack
        # checks the process) and Redis answers.
        try:
            return bool(self.settings.redis.client(socket_timeout=1).ping())
        except Exception:
            return False
