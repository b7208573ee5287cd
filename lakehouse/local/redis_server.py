"""Redis for the crawl queue: Debian's redis-server, append-only, loopback only."""

from __future__ import annotations

import shutil

from lakehouse.errors import StackError
from lakehouse.local.service import Port, Service


class RedisService(Service):
    name = "redis"
    stop_timeout = 10.0

    @property
    def url(self) -> str:
        return self.settings.redis.display_url

    def ports(self) -> list[Port]:
        return [Port("redis", self.settings.redis.port, "LAKEHOUSE_REDIS__PORT")]

    def command(self) -> list[str]:
        binary = shutil.which("redis-server")
        if binary is None:
            raise StackError(
                "redis-server is not installed. Run ./init.sh (it installs Debian's "
                "redis-server), or `apt-get install redis-server`."
            )
        return [
            binary,
            "--bind", self.settings.local.bind_host,
            "--port", str(self.settings.redis.port),
            "--dir", str(self.state_dir),
            # The queue is the only copy of a job between enqueue and lease: persist
            # every write, not a periodic snapshot.
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--logfile", "",
        ]

    def is_healthy(self) -> bool:
        try:
            client = self.settings.redis.client(socket_timeout=1, socket_connect_timeout=1)
            return bool(client.ping())
        except Exception:
            return False
