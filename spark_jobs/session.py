"""The one way jobs get a SparkSession: Iceberg through the Nessie REST catalog, S3FileIO
on the stack's object store, everything taken from the ``lakehouse`` settings.

By default (``spark.engine: connect``) a session is a Spark Connect client of the
long-lived server (the local stack's, started by ``lakehouse local up``; the compose
``spark-connect`` service): the server holds the jars, the catalog conf and the S3
keys, and the client adds the server's token to the connection string only here, at
build time. With an explicit master, under spark-submit, or with ``spark.engine:
submit``, it is a classic session with its own driver JVM, in local mode or against
a standalone master in client mode. The jobs' code is the same either way.

The engine-free builders (launch and secret conf, the session options) live in the
core, :mod:`lakehouse.engines.spark_conf`, so the stack and the Airflow adapter never import
this module; they are re-exported here for the jobs and the tests.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypedDict, cast

from lakehouse.config.settings import Settings
from lakehouse.engines import artifacts  # noqa: F401  (tests patch artifacts.require through here)
from lakehouse.engines.engine import (
    EngineDependencyUnavailableError,
    SparkConnectAuthError,
    SparkEngineUnavailableError,
    SparkSessionError,
)
from lakehouse.engines.java import java_major, spark_java_home
from lakehouse.engines.pyspark_session import make_active
from lakehouse.engines.spark_auth import driver_conf_dir, needs_secret
from lakehouse.engines.spark_conf import (
    AWS_SDK_ENV,
    DEFAULT_SHUFFLE_PARTITIONS,
    SessionOptions,
    catalog_token_conf,
    client_connect_url,
    connect_channel,
    launch_conf,
    secret_conf,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "AWS_SDK_ENV",
    "DEFAULT_SHUFFLE_PARTITIONS",
    "PythonVersionMismatchError",
    "SessionOptions",
    "SparkConnectAuthError",
    "SparkEngineUnavailableError",
    "SparkSessionError",
    "build_session",
    "check_python_versions",
    "connect_url",
    "launch_conf",
    "release_session",
    "remote_conf",
    "secret_conf",
    "session_conf",
    "translate_connect_errors",
]

log = logging.getLogger(__name__)


class _RetryPolicyArgs(TypedDict):
    """The keyword arguments of pyspark's DefaultPolicy that jobs set (backoffs in milliseconds)."""

    max_retries: int
    initial_backoff: int
    backoff_multiplier: float
    max_backoff: int


# A dead server must fail the job in seconds, not after pyspark's default ten minutes of
# reconnecting: the task's retry (after ensure_engine restarted the server) is the
# recovery. 8 tries from 0.2 s, doubling, capped at 4 s: about 15 s of waiting.
CONNECT_RETRY: _RetryPolicyArgs = {
    "max_retries": 8,
    "initial_backoff": 200,
    "backoff_multiplier": 2.0,
    "max_backoff": 4000,
}


class PythonVersionMismatchError(SparkSessionError):
    def __init__(self, driver: str, worker: str, master: str) -> None:
        self.driver = driver
        self.worker = worker
        super().__init__(
            f"the Spark driver runs Python {driver} but the workers of {master} run Python {worker}; "
            "PySpark needs the same minor version on both. Point PYSPARK_PYTHON at a Python "
            f"{driver} that exists on every worker (or run the driver on Python {worker})."
        )


def prepare_driver_environment(settings: Settings, master: str) -> None:
    """Environment the driver JVM inherits; it must be in place before the JVM starts."""
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    elif needs_secret(master) and not os.environ.get("PYSPARK_GATEWAY_PORT"):
        # The driver JVM pyspark starts reads Spark's RPC secret from this private
        # spark-defaults.conf (under spark-submit, the JVM is up already).
        os.environ["SPARK_CONF_DIR"] = str(driver_conf_dir(settings))
    home = os.environ.get("JAVA_HOME")
    if not home or java_major(os.path.join(home, "bin", "java")) != 17:
        os.environ["JAVA_HOME"] = spark_java_home()
    for name, value in AWS_SDK_ENV.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("AWS_REGION", settings.s3.region)
    # pyspark's default worker interpreter is whatever `python3` is on PATH, which is
    # not this virtualenv; run workers on the driver's interpreter unless told otherwise.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def session_conf(settings: Settings, options: SessionOptions) -> dict[str, str]:
    """The launch conf as the builder should apply it in this process.

    Under spark-submit (it starts the JVM first and tells pyspark its gateway port),
    the master was chosen on the spark-submit command line, e.g. by Airflow's Spark
    connection; a builder conf would silently override it with the settings' master,
    so a job submitted to a cluster would run in local mode. An explicit --master
    still wins.
    """
    conf = launch_conf(settings, options)
    if options.master is None and os.environ.get("PYSPARK_GATEWAY_PORT"):
        del conf["spark.master"]
    return conf


def connect_url(settings: Settings, options: SessionOptions) -> str | None:
    """The Spark Connect server this session should use, or None for a driver here.

    An explicit master, or a driver JVM spark-submit already started, means the caller
    chose where to run; the settings' server must not silently take that over. Without
    either, ``spark.engine`` decides.
    """
    if options.remote:
        return options.remote
    if options.master is not None or os.environ.get("PYSPARK_GATEWAY_PORT"):
        return None
    return settings.spark.connect_url if settings.spark.engine == "connect" else None


def remote_conf(options: SessionOptions) -> dict[str, str]:
    """What a Connect client may set on its session: runtime SQL conf only. The rest of
    launch_conf (jars, catalog, S3 keys) is the server's, fixed when it started."""
    conf = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(options.shuffle_partitions),
    }
    conf.update({k: v for k, v in (options.extra_conf or {}).items() if k.startswith("spark.sql.")})
    return conf


def _token_places(settings: Settings | None) -> str:
    local = f"{settings.local.secrets_dir}/" if settings is not None else "<state dir>/secrets/"
    return (
        "LAKEHOUSE_SPARK__CONNECT_TOKEN in the environment, a file of that name in "
        f"$LAKEHOUSE_SECRETS_DIR, or {local}LAKEHOUSE_SPARK__CONNECT_TOKEN (written by `lakehouse local up`)"
    )


@contextlib.contextmanager
def translate_connect_errors(settings: Settings | None = None, url: str | None = None) -> Iterator[None]:
    """Spark Connect's gRPC failures as named errors that say what to do: a refused
    token (SparkConnectAuthError), a server that is gone (SparkEngineUnavailableError,
    which a task retry recovers from once the server is back), and a server that could
    not reach the catalog or the object store mid-job (EngineDependencyUnavailableError:
    otherwise the task log ends in a few hundred lines of the server's JVM stack trace)."""
    url = url or (settings.spark.connect_url if settings is not None else None) or "the configured sc:// URL"
    try:
        yield
    except Exception as exc:
        code = _grpc_code(exc)
        if code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
            raise SparkConnectAuthError(url, _token_places(settings)) from None
        if code in ("UNAVAILABLE", "DEADLINE_EXCEEDED") or _is_session_lost(exc):
            raise SparkEngineUnavailableError(url, type(exc).__name__) from exc
        unreachable = _unreachable_dependency(exc, settings) if settings is not None else None
        if unreachable is not None:
            raise EngineDependencyUnavailableError(*unreachable) from exc
        raise


# How the server's HTTP clients (Iceberg's REST client, the AWS SDK) report a refused or
# dropped connection, in the error text Spark Connect relays.
_CONNECT_FAILED = re.compile(
    r"Connect to (?:https?://)?(?P<host>[\w.\-]+):(?P<port>\d+)(?: \[[^\]]*\])? failed: (?P<why>[^\n(]+)"
)
_DROPPED = ("NoHttpResponseException", "Connection reset")


def _unreachable_dependency(exc: BaseException, settings: Settings) -> tuple[str, str, str] | None:
    """(service, address, detail) when the server's error says it could not reach the
    catalog or the object store; None for any other failure."""
    from urllib.parse import urlparse

    text = str(exc)
    services = {
        settings.catalog.port: ("the Iceberg catalog (Nessie)", settings.catalog.uri),
        urlparse(settings.s3.endpoint_url).port: ("the object store (S3)", settings.s3.endpoint_url),
    }
    match = _CONNECT_FAILED.search(text)
    if match is not None and int(match["port"]) in services:
        service, address = services[int(match["port"])]
        return service, address, match["why"].strip()
    dropped = next((d for d in _DROPPED if d in text), None)
    if dropped is not None:
        for port, (service, address) in services.items():
            if f":{port}" in text:
                return service, address, dropped
    return None


def _grpc_code(exc: BaseException) -> str | None:
    getter = getattr(exc, "getGrpcStatusCode", None) or getattr(exc, "code", None)
    if getter is None:
        return None
    try:
        code = getter()
    except Exception:
        return None
    return getattr(code, "name", None)


def _is_session_lost(exc: BaseException) -> bool:
    # A server restarted mid-job does not know the client's session any more.
    text = str(exc)
    return "INVALID_HANDLE.SESSION_NOT_FOUND" in text or "INVALID_HANDLE.SESSION_CLOSED" in text


def build_remote_session(url: str, options: SessionOptions, settings: Settings) -> SparkSession:
    """A Spark Connect client session on ``url``, authenticated with the settings' token.

    Spark 4 runs the client in this process (no own interpreter per job, as 3.5
    needed), but not next to a classic SparkContext: pyspark keeps one mode per
    process, so a process that started a local driver JVM runs Connect jobs in a
    subprocess (the tests do).
    """
    from pyspark.core.context import SparkContext
    from pyspark.sql.connect.client.retries import DefaultPolicy
    from pyspark.sql.connect.session import SparkSession as RemoteSparkSession

    if SparkContext._active_spark_context is not None:
        raise SparkSessionError(
            "this process already runs a classic SparkContext (a local or cluster driver); pyspark "
            "cannot open a Spark Connect session next to it. Run the Connect job in its own process, "
            "or stop the classic session first."
        )
    token = settings.spark.require_connect_token()
    # What pyspark.sql.SparkSession.builder.remote() does: functions and columns built
    # from here on are Connect ones.
    os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"

    class _ReleasingSession(RemoteSparkSession):
        """Every job ends with spark.stop(); on a long-lived server that must also drop
        what the job cached, or the server's heap grows slot by slot."""

        def stop(self) -> None:
            if not self.is_stopped:
                # Clean-up only: no reconnect loop. After the server died under the job,
                # the clearCache and release calls each retried CONNECT_RETRY's ~15 s, so
                # a dead engine cost the task a minute to fail instead of ~20 s (engine
                # fault scenario); a session left behind times out on the server anyway.
                self.client.set_retry_policies([DefaultPolicy(max_retries=0)])
                try:
                    self.catalog.clearCache()
                except Exception as exc:  # a dead server has nothing left to clear
                    log.debug("clearCache before stop failed: %s", exc)
            super().stop()

    with translate_connect_errors(settings, url):
        spark = _ReleasingSession(connection=connect_channel(client_connect_url(url, token)))
        make_active(spark)
        spark.client.set_retry_policies([DefaultPolicy(**CONNECT_RETRY)])
        for name, value in {**remote_conf(options), **catalog_token_conf(settings)}.items():
            spark.conf.set(name, value)
    # The Connect session duck-types the classic API; pyspark's own builder.remote()
    # hands it out as pyspark.sql.SparkSession the same way.
    return cast("SparkSession", spark)


def release_session(spark: SparkSession) -> None:
    """End a job's session so a long-lived server keeps nothing of it: cached tables
    cleared, and for a Connect session the server-side session released (its
    DataFrames, caches and temporary views go with it); a classic session stops its
    driver. A Connect session from build_session does the same on plain spark.stop()."""
    try:
        spark.catalog.clearCache()
    except Exception as exc:  # a dead server cannot clear anything; stop() still closes the channel
        log.debug("clearCache failed: %s", exc)
    spark.stop()


def build_session(settings: Settings, options: SessionOptions | None = None) -> SparkSession:
    """A SparkSession on the lakehouse catalog. Checks driver/worker Python versions
    first when the master is a standalone cluster."""
    from pyspark.sql import SparkSession

    options = options or SessionOptions()
    remote = connect_url(settings, options)
    if remote:
        return build_remote_session(remote, options, settings)
    conf = session_conf(settings, options)
    prepare_driver_environment(settings, conf.get("spark.master", ""))
    builder = SparkSession.builder
    for name, value in conf.items():
        builder = builder.config(name, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    # Catalogs are loaded lazily on first use, from the session's SQL conf: setting the
    # keys here, before any query, reaches the catalog without passing through argv.
    for name, value in secret_conf(settings).items():
        spark.conf.set(name, value)
    master = spark.sparkContext.master
    if master is not None and master.startswith("spark://"):
        check_python_versions(spark, master)
    return spark


# --- driver/worker Python versions ---------------------------------------------------

# PySpark 3.5 words it "different version (3, 12) than that in driver 3.11,"; PySpark
# 4.1 "different version: 3.12 than that in driver: 3.11,".
_MISMATCH_RE = re.compile(r"different version:? \(?(\d+)[., ]+(\d+)\)? than that in driver:? (\d+)\.(\d+)")

WorkerProbe = Callable[[], str]


def _driver_version() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def _worker_version_by_task(spark: SparkSession) -> WorkerProbe:
    def probe() -> str:
        def version(_: object) -> str:
            import sys as worker_sys

            return f"{worker_sys.version_info[0]}.{worker_sys.version_info[1]}"

        return str(spark.sparkContext.parallelize([0], 1).map(version).first())

    return probe


def check_python_versions(spark: SparkSession, master: str, probe: WorkerProbe | None = None) -> None:
    """Run one tiny task on a worker and compare its Python minor version with ours.

    Without this, a mismatch surfaces mid-job as a PySpark worker crash deep in a stack
    trace; here it fails before any data is touched, naming both versions.
    """
    probe = probe or _worker_version_by_task(spark)
    driver = _driver_version()
    try:
        worker = probe()
    except Exception as exc:  # PySpark raises its own mismatch error inside the task
        match = _MISMATCH_RE.search(str(exc))
        if match:
            worker_major, worker_minor, driver_major, driver_minor = match.groups()
            raise PythonVersionMismatchError(
                driver=f"{driver_major}.{driver_minor}", worker=f"{worker_major}.{worker_minor}", master=master
            ) from exc
        raise
    if worker != driver:
        raise PythonVersionMismatchError(driver=driver, worker=worker, master=master)
