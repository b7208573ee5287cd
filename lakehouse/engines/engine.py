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


def ensure_engine(settings: Settings) -> None:
    """Make sure the transform engine answers before a job uses it.

    Only for the local profile's own Connect server: a dead (or never started) server
    is started again through the stack, under its lock, so concurrent tasks start one.
    Elsewhere (compose, a cluster) the platform restarts its services and this does
    nothing; a job then fails with SparkEngineUnavailableError and is retried.
    """
    if not uses_connect(settings) or not is_local_server(settings):
        return
    from lakehouse.local.spark_connect_server import SparkConnectService
    from lakehouse.local.stack import LocalStack

    if SparkConnectService(settings).is_healthy():
        return
    log.warning("the Spark Connect server at %s does not answer; (re)starting it", settings.spark.connect_url)
    LocalStack(settings, services=(SparkConnectService,)).up()
