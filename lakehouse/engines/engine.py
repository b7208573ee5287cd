"""The transform engine as the pipeline sees it: which one runs (``spark.engine``), the
errors a client meets, and :func:`ensure_engine`, which brings the local stack's Spark
Connect server back when it died.

Engine-free: nothing here imports pyspark. The Spark adapter (spark_jobs) raises these
errors; the Airflow adapter calls ensure_engine before each transform attempt, so a
slot whose server died mid-write fails with SparkEngineUnavailableError, is retried
by Airflow, and the retry finds a restarted server.
"""

from __future__ import annotations

import logging
from typing import Protocol
from urllib.parse import urlparse

from lakehouse.config.settings import Settings
from lakehouse.engines.spark_conf import is_loopback
from lakehouse.errors import LakehouseError

log = logging.getLogger(__name__)

CONNECT_SERVICE = "spark-connect"


class SparkSessionError(LakehouseError):
    """A SparkSession could not be configured from the settings."""


class SparkConnectAuthError(SparkSessionError):
    def __init__(self, url: str, looked_in: str) -> None:
        self.url = url
        super().__init__(
            f"the Spark Connect server at {url} refused this client's token (missing or wrong). "
            f"The client reads it from {looked_in}; the server's is the same secret, read when it "
            "started: give both the same value (for the local stack, restart the server with "
            "`lakehouse local down` and `lakehouse local up` after changing it)."
        )


class SparkEngineUnavailableError(SparkSessionError):
    """Retryable: the server is down or restarted under the job."""

    def __init__(self, url: str, detail: str = "") -> None:
        self.url = url
        suffix = f" ({detail})" if detail else ""
        super().__init__(
            f"the Spark Connect server at {url} is not reachable or lost this job's session{suffix}. "
            "Start it with `lakehouse local up` (it restarts a dead server; in compose, the "
            "spark-connect service restarts itself); an Airflow transform retries on its own."
        )


class EngineDependencyUnavailableError(SparkSessionError):
    """Retryable: the engine ran the job but could not reach the catalog or the object
    store it writes through (stopped, restarting)."""

    def __init__(self, service: str, address: str, detail: str) -> None:
        self.service = service
        super().__init__(
            f"the Spark engine could not reach {service} at {address} during this job ({detail}). "
            "An Iceberg commit is atomic: the table holds its previous snapshot or the new one, never "
            "part of a write. Check that it runs (`lakehouse local status`; `lakehouse local up` starts "
            "it again), then retry; an Airflow transform retries on its own."
        )


def uses_connect(settings: Settings) -> bool:
    return settings.spark.engine == "connect"


def is_local_server(settings: Settings) -> bool:
    """spark.connect_url is the local stack's own server (not one run elsewhere)."""
    if settings.profile != "local" or not settings.spark.connect_url:
        return False
    parsed = urlparse(settings.spark.connect_url)
    return is_loopback(parsed.hostname or "") and parsed.port == settings.local.spark_connect_port


def engine_services(settings: Settings) -> list[str]:
    """Optional local services the transform engine needs: the Connect server when the
    engine is connect (spark-submit needs none)."""
    return [CONNECT_SERVICE] if uses_connect(settings) else []


class EngineKeeper(Protocol):
    """What keeps the transform engine answering before a job uses it."""

    def ensure(self) -> None: ...


class PlatformKeeper:
    """Compose, a cluster, or spark-submit: the platform restarts its own services, so
    there is nothing to do here; a job meets SparkEngineUnavailableError and is retried."""

    def ensure(self) -> None:
        return None


class LocalConnectKeeper:
    """The local profile's own Connect server: a dead (or never started) server is
    started again through the stack, under its lock, so concurrent tasks start one."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def ensure(self) -> None:
        # Optional engine: the local stack (its service classes, psutil) is imported
        # only where the profile runs it, never by a compose or cluster task.
        from lakehouse.local.services.spark_connect_server import SparkConnectService
        from lakehouse.local.stack import LocalStack

        if SparkConnectService(self.settings).is_healthy():
            return
        log.warning("the Spark Connect server at %s does not answer; (re)starting it", self.settings.spark.connect_url)
        LocalStack(self.settings, services=(SparkConnectService,)).up()


def engine_keeper(settings: Settings) -> EngineKeeper:
    """The one place the profile chooses how the engine is kept: the local stack's own
    Connect server is brought back by the stack; anything else by its platform."""
    if uses_connect(settings) and is_local_server(settings):
        return LocalConnectKeeper(settings)
    return PlatformKeeper()


def ensure_engine(settings: Settings) -> None:
    """Make sure the transform engine answers before a job uses it (engine_keeper)."""
    engine_keeper(settings).ensure()
