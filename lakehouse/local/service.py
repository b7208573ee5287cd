"""What every local service is: a command, the ports it takes, and a health probe.

Each concrete service (Redis, the S3 server, Nessie) is one small module; the
stack (stack.py) starts, watches and stops them without knowing which is which.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from lakehouse.config.settings import Settings


@dataclass(frozen=True)
class Port:
    """A port a service binds, and the setting a user changes to move it."""

    label: str
    number: int
    setting: str


class Service(ABC):
    name: str
    #: seconds to wait after SIGTERM before SIGKILL (SeaweedFS can take 13 s)
    stop_timeout: float = 20.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state_dir = settings.local.state_dir / name_dir(self.name)

    @property
    def log_path(self) -> Path:
        return self.settings.local.state_dir / "logs" / f"{self.name}.log"

    @property
    @abstractmethod
    def url(self) -> str:
        """Where clients reach it (no credentials in it)."""

    @property
    def main_port(self) -> int:
        return self.ports()[0].number

    @abstractmethod
    def ports(self) -> list[Port]:
        """Every port it binds; the first is the one clients use."""

    @abstractmethod
    def command(self) -> list[str]:
        """The command line. Never carries a secret: `ps` shows it to every user."""

    def env(self) -> dict[str, str]:
        return {}

    def cwd(self) -> Path:
        return self.state_dir

    def prepare(self) -> None:
        """Create directories and config files before the process starts."""
        self.state_dir.mkdir(parents=True, exist_ok=True)

    @abstractmethod
    def is_healthy(self) -> bool:
        """One quick probe; must not raise."""

    def after_healthy(self) -> None:  # noqa: B027  (an optional hook: most services need no set-up)
        """Idempotent set-up once the service answers (buckets, namespaces)."""


def name_dir(name: str) -> str:
    return name.replace(" ", "-")
