"""The transform engine of the local stack: a long-lived Spark Connect server. Per-slot
transforms open a client session on it instead of paying a driver JVM start (and the
Iceberg catalog warm-up) every time.

Started the way ``sbin/start-connect-server.sh`` does it (the pip package has the
script's ``spark-submit`` but not the ``spark-daemon.sh`` it wraps): ``spark-submit
--class org.apache.spark.sql.connect.service.SparkConnectServer``, in the foreground,
supervised by the stack. Spark 4 ships the server in pyspark's own ``jars/``
(``spark-connect_2.13-<version>.jar``), so only the Iceberg jars are added.

Loopback only, with a token:

- ``spark.connect.grpc.binding.address`` is ``local.bind_host``; the service refuses
  to start when that is not a loopback address (the server holds the S3 keys and
  runs whatever a client sends);
- ``spark.connect.authenticate.token`` is the stack's generated token
  (``LAKEHOUSE_SPARK__CONNECT_TOKEN``, a secret file written by the first ``up``):
  a client without it, or with another, is refused.

Its conf is :func:`lakehouse.engines.spark_conf.connect_server_conf` (the same launch conf as
every job, bound, sized) plus the S3 key pair and the token, written to a mode-600
properties file handed over with ``--properties-file``: argv is readable by every
user in ``ps``. The file is read once by spark-submit; Spark's redaction regex keeps
the values out of its logs. Each client session is cloned from the server's root
session, so it sees the catalog with the keys without a client ever holding them.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from lakehouse.engines.java import pyspark_home, spark_java_home
from lakehouse.engines.spark_conf import (
    AWS_SDK_ENV,
    CONNECT_SERVER_CLASS,
    connect_server_conf,
    connect_server_secret_conf,
    is_loopback,
)
from lakehouse.errors import StackError
from lakehouse.local.files import properties_text, write_private
from lakehouse.local.service import Port, Service

PORT_SETTING = "LAKEHOUSE_LOCAL__SPARK_CONNECT_PORT"
BIND_HOST_SETTING = "LAKEHOUSE_LOCAL__BIND_HOST"
MEMORY_SETTING = "LAKEHOUSE_LOCAL__SPARK_CONNECT_DRIVER_MEMORY"

__all__ = ["BIND_HOST_SETTING", "CONNECT_SERVER_CLASS", "MEMORY_SETTING", "PORT_SETTING", "SparkConnectService"]


class NonLoopbackBindError(StackError):
    def __init__(self, host: str) -> None:
        super().__init__(
            f"spark-connect would listen on {host}, which is not a loopback address; the local "
            "stack's Connect server holds the S3 keys and runs any plan a client sends, so it binds "
            f"127.0.0.1 only. Set {BIND_HOST_SETTING}=127.0.0.1 (or local.bind_host in the profile). "
            "To serve other machines, deploy the compose stack, where the server is reachable on "
            "its internal network only."
        )


class SparkConnectService(Service):
    name = "spark-connect"
    stop_timeout = 20.0

    @property
    def port(self) -> int:
        return self.settings.local.spark_connect_port

    @property
    def bind_host(self) -> str:
        return self.settings.local.bind_host

    @property
    def url(self) -> str:
        """Where clients connect; never with the token (see spark_conf.client_connect_url)."""
        return f"sc://localhost:{self.port}"

    def ports(self) -> list[Port]:
        return [Port("grpc", self.port, PORT_SETTING)]

    @property
    def properties_path(self) -> Path:
        return self.state_dir / "spark-connect.properties"

    def properties(self) -> dict[str, str]:
        conf = connect_server_conf(
            self.settings,
            bind_host=self.bind_host,
            port=self.port,
            driver_memory=self.settings.local.spark_connect_driver_memory,
            python=sys.executable,
        )
        if self.settings.local.spark_connect_event_log:
            conf["spark.eventLog.enabled"] = "true"
            conf["spark.eventLog.dir"] = self.event_log_dir.as_uri()
        conf.update(connect_server_secret_conf(self.settings))
        return conf

    @property
    def event_log_dir(self) -> Path:
        """Where the server writes Spark event logs when local.spark_connect_event_log is on."""
        return self.state_dir / "events"

    def check_bind_host(self) -> None:
        if not is_loopback(self.bind_host):
            raise NonLoopbackBindError(self.bind_host)

    def prepare(self) -> None:
        self.check_bind_host()
        super().prepare()
        if self.settings.local.spark_connect_event_log:
            # Spark refuses to start when the event log directory is missing.
            self.event_log_dir.mkdir(parents=True, exist_ok=True)
        write_private(self.properties_path, properties_text(self.properties()))

    def command(self) -> list[str]:
        return [
            str(pyspark_home() / "bin" / "spark-submit"),
            "--class",
            CONNECT_SERVER_CLASS,
            "--name",
            "lakehouse-spark-connect",
            "--properties-file",
            str(self.properties_path),
        ]

    def env(self) -> dict[str, str]:
        return {
            "JAVA_HOME": spark_java_home(),
            "SPARK_HOME": str(pyspark_home()),
            "SPARK_LOCAL_IP": self.bind_host,
            "AWS_REGION": self.settings.s3.region,
            **AWS_SDK_ENV,
        }

    def is_healthy(self) -> bool:
        # The gRPC server binds only after the SparkContext is up, so an open port
        # means clients can create sessions.
        try:
            with socket.create_connection((self.bind_host, self.port), timeout=1):
                return True
        except OSError:
            return False
