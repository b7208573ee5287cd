"""A standalone Spark master and one worker on loopback, from the installed pyspark.

The pip package has no start-master.sh, but it ships ``bin/spark-class``, which runs
the Master and Worker classes in the foreground: exactly what the stack supervises.
Optional in the stack (``lakehouse local up --with spark``): local mode needs none of
it, and two more JVMs cost about a gigabyte on a laptop.

Ports, cores and memory are the settings' ``local.spark_cluster`` section; pyspark
itself is found without importing it, so ``lakehouse`` keeps its no-Spark-at-import
rule (lakehouse.engines.java.pyspark_home, re-exported here). The Spark 4.1 daemons run on
the same Java 17 as every Spark process of the stack. Master, worker and every driver
share ``spark.authenticate`` and the stack's secret (``LAKEHOUSE_SPARK__AUTH_SECRET``),
read from a private spark-defaults.conf: an anonymous client of their RPC ports is
refused (lakehouse.engines.spark_auth).
"""

from __future__ import annotations

from pathlib import Path

import requests

from lakehouse.config.settings import Settings, SparkClusterSettings
from lakehouse.engines.java import pyspark_home, spark_java_home
from lakehouse.engines.spark_auth import ui_headers, write_conf_dir
from lakehouse.errors import StackError
from lakehouse.local.service import Port, Service

_ENV = "LAKEHOUSE_LOCAL__SPARK_CLUSTER__"
MASTER_PORT_ENV = _ENV + "MASTER_PORT"
MASTER_WEBUI_PORT_ENV = _ENV + "MASTER_WEBUI_PORT"
WORKER_PORT_ENV = _ENV + "WORKER_PORT"
WORKER_WEBUI_PORT_ENV = _ENV + "WORKER_WEBUI_PORT"
WORKER_MEMORY_ENV = _ENV + "WORKER_MEMORY"

__all__ = ["SparkMasterService", "SparkWorkerService", "master_url", "pyspark_home", "spark_class"]

# Ports, cores and memory are the settings' `local.spark_cluster` section.
SparkClusterOptions = SparkClusterSettings


def spark_class() -> str:
    path = pyspark_home() / "bin" / "spark-class"
    if not path.exists():
        raise StackError(f"{path} is missing: the pyspark install is incomplete. Reinstall it with ./init.sh.")
    return str(path)


def master_url(settings: Settings, options: SparkClusterOptions | None = None) -> str:
    options = options or settings.local.spark_cluster
    return f"spark://{settings.local.bind_host}:{options.master_port}"


def _master_state(settings: Settings, options: SparkClusterOptions) -> dict[str, object] | None:
    try:
        # The UI asks for a token (lakehouse.engines.spark_auth: the master UI can kill apps).
        headers = ui_headers(settings.spark.auth_secret.get_secret_value()) if settings.spark.auth_secret else {}
        url = f"http://{settings.local.bind_host}:{options.master_webui_port}/json/"
        resp = requests.get(url, headers=headers, timeout=2)
        return resp.json() if resp.ok else None
    except (requests.RequestException, ValueError):
        return None


class _SparkDaemon(Service):
    stop_timeout = 15.0

    def __init__(self, settings: Settings, options: SparkClusterOptions | None = None) -> None:
        super().__init__(settings)
        self.options = options or settings.local.spark_cluster

    def env(self) -> dict[str, str]:
        return {
            "JAVA_HOME": spark_java_home(),
            "SPARK_HOME": str(pyspark_home()),
            "SPARK_LOCAL_IP": self.settings.local.bind_host,
            # The daemons only schedule; executors get their own JVMs and memory.
            "SPARK_DAEMON_MEMORY": "512m",
            "SPARK_LOG_DIR": str(self.state_dir / "logs"),
            # spark.authenticate and its secret, read by spark-class from a private file.
            "SPARK_CONF_DIR": str(self.conf_dir),
        }

    @property
    def conf_dir(self) -> Path:
        return self.state_dir / "conf"

    def prepare(self) -> None:
        super().prepare()
        # Spark's RPC takes only clients with the stack's secret: drivers get it the same
        # way (lakehouse.engines.spark_auth.driver_conf_dir), executors from their worker.
        write_conf_dir(self.conf_dir, self.settings.spark.require_auth_secret())


class SparkMasterService(_SparkDaemon):
    name = "spark-master"

    @property
    def url(self) -> str:
        return master_url(self.settings, self.options)

    def ports(self) -> list[Port]:
        return [
            Port("spark-master", self.options.master_port, MASTER_PORT_ENV),
            Port("web UI", self.options.master_webui_port, MASTER_WEBUI_PORT_ENV),
        ]

    def command(self) -> list[str]:
        return [
            spark_class(),
            "org.apache.spark.deploy.master.Master",
            "--host",
            self.settings.local.bind_host,
            "--port",
            str(self.options.master_port),
            "--webui-port",
            str(self.options.master_webui_port),
        ]

    def is_healthy(self) -> bool:
        state = _master_state(self.settings, self.options)
        return bool(state and state.get("status") == "ALIVE")


class SparkWorkerService(_SparkDaemon):
    name = "spark-worker"

    @property
    def url(self) -> str:
        return f"http://{self.settings.local.bind_host}:{self.options.worker_webui_port}"

    def ports(self) -> list[Port]:
        return [
            Port("spark-worker", self.options.worker_port, WORKER_PORT_ENV),
            Port("web UI", self.options.worker_webui_port, WORKER_WEBUI_PORT_ENV),
        ]

    def command(self) -> list[str]:
        return [
            spark_class(),
            "org.apache.spark.deploy.worker.Worker",
            master_url(self.settings, self.options),
            "--host",
            self.settings.local.bind_host,
            "--port",
            str(self.options.worker_port),
            "--webui-port",
            str(self.options.worker_webui_port),
            "--cores",
            str(self.options.worker_cores),
            "--memory",
            self.options.worker_memory,
            "--work-dir",
            str(self.state_dir / "work"),
        ]

    def is_healthy(self) -> bool:
        """Registered with the master and alive: only then can it run executors."""
        state = _master_state(self.settings, self.options)
        workers = state.get("workers", []) if state else []
        if not isinstance(workers, list):
            return False
        return any(
            isinstance(w, dict) and w.get("port") == self.options.worker_port and w.get("state") == "ALIVE"
            for w in workers
        )
