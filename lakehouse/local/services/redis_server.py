"""Redis for the crawl queue: Debian's redis-server, append-only, loopback only, and
with a password (``requirepass``) from the stack's secrets.

The password goes into a config file (owner-only, in the service's state dir) that
redis-server reads at start: never on the command line, where `ps` shows it to
every user of the machine.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lakehouse.errors import StackError
from lakehouse.local.files import write_private
from lakehouse.local.service import Port, Service


class RedisService(Service):
    name = "redis"
    stop_timeout = 10.0

    @property
    def url(self) -> str:
        return self.settings.redis.display_url

    def ports(self) -> list[Port]:
        return [Port("redis", self.settings.redis.port, "LAKEHOUSE_REDIS__PORT")]

    @property
    def config_path(self) -> Path:
        return self.state_dir / "redis.conf"

    def prepare(self) -> None:
        super().prepare()
        password = self.settings.redis.password
        lines = ["# Written by `lakehouse local up` on every start; do not edit."]
        if password is not None:
            value = password.get_secret_value()
            if any(ch in value for ch in '"\\\r\n'):
                raise StackError("the Redis password may not contain quotes, backslashes or line breaks")
            lines.append(f'requirepass "{value}"')
        write_private(self.config_path, "\n".join(lines) + "\n")

    def command(self) -> list[str]:
        binary = shutil.which("redis-server")
        if binary is None:
            raise StackError(
                "redis-server is not installed. Run ./init.sh (it installs Debian's "
                "redis-server), or `apt-get install redis-server`."
            )
        return [
            binary,
            # First argument: the config file holding requirepass (see prepare).
            str(self.config_path),
            "--bind",
            self.settings.local.bind_host,
            "--port",
            str(self.settings.redis.port),
            "--dir",
            str(self.state_dir),
            # The queue is the only copy of a job between enqueue and lease: persist
            # every write, not a periodic snapshot.
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--logfile",
            "",
        ]

    def is_healthy(self) -> bool:
        try:
            client = self.settings.redis.client(socket_timeout=1, socket_connect_timeout=1)
            return bool(client.ping())
        except Exception:
            return False
