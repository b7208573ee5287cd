"""A long-running Spark Connect server: per-slot transforms open a client session on it
instead of paying a driver JVM start (and the Iceberg catalog warm-up) every time.

Started the way ``sbin/start-connect-server.sh`` does it (the pip package has the
script's ``spark-submit`` but not the ``spark-daemon.sh`` it wraps): ``spark-submit
--class org.apache.spark.sql.connect.service.SparkConnectServer``, in the foreground,
supervised by the stack. Spark 3.5 does not bundle the server, so the pinned
``spark-connect_2.12`` jar of the *same* Spark version as pyspark goes on the driver
classpath next to the Iceberg jars.

Its conf is exactly ``spark_jobs.session.launch_conf`` plus the S3 key pair, written to
a mode-600 properties file handed over with ``--properties-file``: argv is readable by
every user in ``ps``, and ``/proc/<pid>/environ`` is not a channel Spark reads catalog
conf from. The file is read once by spark-submit; Spark's redaction regex keeps the
values out of its logs. Each client session is cloned from the server's root session,
so it sees the catalog with the keys without a client ever holding them.

Spark 3.5's Connect server has no bind-address option (it arrived in 4.0): it listens on
every interface, without authentication, holding the S3 keys. The stack's rule is
loopback only, so the service refuses to start unless the operator says
``LAKEHOUSE_ALLOW_OPEN_SPARK_CONNECT=1`` (tests and the benchmark do, on a machine
nothing else reaches); on a shared machine, firewall the port first.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from lakehouse import artifacts
from lakehouse.errors import StackError
from lakehouse.local.java import spark_java_home
from lakehouse.local.service import Port, Service
from lakehouse.local.spark_server import pyspark_home
from lakehouse.local.files import properties_text, write_private

CONNECT_SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
ALLOW_OPEN_ENV = "LAKEHOUSE_ALLOW_OPEN_SPARK_CONNECT"
PORT_SETTING = "LAKEHOUSE_LOCAL__SPARK_CONNECT_PORT"


class SparkConnectService(Service):
    name = "spark-connect"
    stop_timeout = 20.0

    @property
    def port(self) -> int:
        return self.settings.local.spark_connect_port

    @property
    def url(self) -> str:
        return f"sc://{self.settings.local.bind_host}:{self.port}"

    def ports(self) -> list[Port]:
        return [Port("grpc", self.port, PORT_SETTING)]

    @property
    def properties_path(self) -> Path:
        return self.state_dir / "spark-connect.properties"

    def properties(self) -> dict[str, str]:
        # Imported here, not at module level: spark_jobs builds on lakehouse, and the
        # stack must import without it (it imports no pyspark itself).
        from spark_jobs.session import SessionOptions, launch_conf, secret_conf

        conf = launch_conf(self.settings, SessionOptions(app_name="lakehouse-spark-connect"))
        conf["spark.jars"] = ",".join([conf["spark.jars"], str(artifacts.require("spark-connect"))])
        conf["spark.connect.grpc.binding.port"] = str(self.port)
        # Python UDFs run in workers the server starts; they need this environment's
        # interpreter (lakehouse and spark_jobs importable), not whatever python3 is on PATH.
        conf["spark.pyspark.python"] = sys.executable
        conf.update(secret_conf(self.settings))
        return conf

    def prepare(self) -> None:
        if os.environ.get(ALLOW_OPEN_ENV) != "1":
            raise StackError(
                f"spark-connect (Spark 3.5) listens on every network interface without "
                f"authentication, on port {self.port}; the local stack binds only 127.0.0.1. "
                f"Firewall that port, then start it with {ALLOW_OPEN_ENV}=1, or use spark-submit "
                "(the default) instead."
            )
        super().prepare()
        write_private(self.properties_path, properties_text(self.properties()))

    def command(self) -> list[str]:
        return [
            str(pyspark_home() / "bin" / "spark-submit"),
            "--class", CONNECT_SERVER_CLASS,
            "--name", "lakehouse-spark-connect",
            "--properties-file", str(self.properties_path),
        ]

    def env(self) -> dict[str, str]:
        from spark_jobs.session import AWS_SDK_ENV

        return {
            "JAVA_HOME": spark_java_home(),
            "SPARK_HOME": str(pyspark_home()),
            "SPARK_LOCAL_IP": self.settings.local.bind_host,
            "AWS_REGION": self.settings.s3.region,
            **AWS_SDK_ENV,
        }

    def is_healthy(self) -> bool:
        # The gRPC server binds only after the SparkContext is up, so an open port
        # means clients can create sessions.
        try:
            with socket.create_connection((self.settings.local.bind_host, self.port), timeout=1):
                return True
        except OSError:
            return False
