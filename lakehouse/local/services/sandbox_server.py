"""The sandbox market API as a local service, so the demo has an upstream to crawl
without the internet. Its bearer token is generated per state directory."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import requests

from lakehouse.local.files import write_private
from lakehouse.local.service import Port, Service

SANDBOX_PORT_ENV = "LAKEHOUSE_SANDBOX_PORT"
TOKEN_ENV = "SANDBOX_TOKEN"


def sandbox_port() -> int:
    return int(os.environ.get(SANDBOX_PORT_ENV, "18080"))


def sandbox_token(state_secrets_dir: Path) -> str:
    """$SANDBOX_TOKEN, else one generated once into the stack's secrets directory."""
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV]
    path = state_secrets_dir / TOKEN_ENV
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, secrets.token_urlsafe(24) + "\n", exclusive=True)
    return path.read_text().strip()


class SandboxService(Service):
    name = "sandbox"
    stop_timeout = 10.0

    @property
    def url(self) -> str:
        return f"http://{self.settings.local.bind_host}:{sandbox_port()}"

    def ports(self) -> list[Port]:
        return [Port("http", sandbox_port(), SANDBOX_PORT_ENV)]

    def env(self) -> dict[str, str]:
        # The token travels in the environment, never on the command line (`ps`).
        return {TOKEN_ENV: sandbox_token(self.settings.local.secrets_dir)}

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "sandbox",
            "--host",
            self.settings.local.bind_host,
            "--port",
            str(sandbox_port()),
            "--rate-limit",
            "20",
        ]

    def is_healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/_health", timeout=2).status_code == 200
        except Exception:
            return False
