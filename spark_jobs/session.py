"""The one way jobs get a SparkSession: Iceberg through the Nessie REST catalog, S3FileIO
on the stack's object store, everything taken from the ``lakehouse`` settings.

The same function serves ``spark-submit`` (the driver process imports it) and tests
(in-process), in local mode and against a standalone master in client mode, and,
given a ``sc://`` URL, opens a Spark Connect client session on the stack's long-running
server instead (``lakehouse local up --with spark-connect``): the jobs' code is the same.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakehouse import artifacts
from lakehouse.errors import LakehouseError
from lakehouse.local.java import java_major, spark_java_home
from lakehouse.settings import Settings
from lakehouse.spark_conf import catalog_conf

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


# The AWS SDK v2 inside Iceberg 1.10 sends CRC checksum headers by default that
# S3-compatible servers (RustFS, some SeaweedFS builds) reject; "when_required" is the
# documented switch. The SDK reads these from the environment of each JVM.
AWS_SDK_ENV: dict[str, str] = {
    "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
    "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
}

# Enough parallelism for two cores; the default 200 shuffle partitions turns a
# slot-sized write into 200 tiny tasks and, for partitioned tables, tiny files.
DEFAULT_SHUFFLE_PARTITIONS = 4


class SparkSessionError(LakehouseError):
    """A SparkSession could not be configured from the settings."""


class PythonVersionMismatchError(SparkSessionError):
    def __init__(self, driver: str, worker: str, master: str) -> None:
        self.driver = driver
        self.worker = worker
        super().__init__(
            f"the Spark driver runs Python {driver} but the workers of {master} run Python {worker}; "
            "PySpark needs the same minor version on both. Point PYSPARK_PYTHON at a Python "
            f"{driver} that exists on every worker (or run the driver on Python {worker})."
        )


@dataclass(frozen=True)
class SessionOptions:
    """What differs between a test, a CLI run and a deployment, beyond the settings."""

    app_name: str = "lakehouse"
    master: str | None = None  # None: settings.spark.master
    ui: bool = False
    shuffle_partitions: int = DEFAULT_SHUFFLE_PARTITIONS
    extra_conf: Mapping[str, str] | None = None
    # sc://host:port: a Spark Connect client session instead of a driver JVM here.
    # None: settings.spark.connect_url, unless a master is given or spark-submit runs us.
    remote: str | None = None


def launch_conf(settings: Settings, options: SessionOptions, *, verify: bool = True) -> dict[str, str]:
    """Spark conf that may be passed at JVM launch: no secrets in here.

    ``verify=False`` only names the jars: for callers that build a command the job
    runs later (a DAG file at parse time), since the job's own session verifies them.

    pyspark hands this conf to spark-submit as ``--conf k=v`` arguments, which every
    user on the machine can read in ``ps``, and Spark prints it with ``spark.logConf``
    and on the UI's environment page. The S3 key pair is therefore set later, at
    runtime, by :func:`secret_conf`.
    """
    jars = [str(artifacts.require(key)) for key in artifacts.SPARK_JAR_KEYS] if verify else [
        str(path) for path in artifacts.spark_jars()
    ]
    region = settings.s3.region
    conf: dict[str, str] = {
        "spark.master": options.master or settings.spark.master,
        "spark.app.name": options.app_name,
        # Cached, checksummed jars: spark.jars.packages would resolve from Maven via
        # Ivy at every start, which fails offline and is not pinned by checksum.
        "spark.jars": ",".join(jars),
        **catalog_conf(settings),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(options.shuffle_partitions),
        "spark.ui.enabled": str(options.ui).lower(),
        "spark.ui.showConsoleProgress": "false",
        # Spark's default also matches "secret"; widen it to the key id and anything
        # Iceberg names "credential", in case a key ever reaches the launch conf.
        "spark.redaction.regex": r"(?i)secret|password|token|credential|access[.-]key",
        "spark.executorEnv.AWS_REGION": region,
    }
    for name, value in AWS_SDK_ENV.items():
        conf[f"spark.executorEnv.{name}"] = value
    if conf["spark.master"].startswith("local"):
        # Local mode needs no address other hosts can reach; stay on loopback instead
        # of Spark's guess (the first non-loopback interface).
        conf["spark.driver.host"] = "127.0.0.1"
        conf["spark.driver.bindAddress"] = "127.0.0.1"
    conf.update(options.extra_conf or {})
    return conf


def secret_conf(settings: Settings) -> dict[str, str]:
    """The S3 key pair for the catalog's FileIO. Nessie's request signing is off, so
    Spark must bring its own keys. Iceberg serialises the FileIO, keys included, into
    the tasks it sends to executors, so setting them on the driver is enough."""
    key, secret = settings.s3.require_credentials()
    cat = f"spark.sql.catalog.{settings.catalog.name}"
    return {f"{cat}.s3.access-key-id": key, f"{cat}.s3.secret-access-key": secret}


def prepare_driver_environment(settings: Settings, master: str) -> None:
    """Environment the driver JVM inherits; it must be in place before the JVM starts."""
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
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
    chose where to run; the settings' server must not silently take that over.
    """
    if options.remote:
        return options.remote
    if options.master is not None or os.environ.get("PYSPARK_GATEWAY_PORT"):
        return None
    return settings.spark.connect_url


def remote_conf(options: SessionOptions) -> dict[str, str]:
    """What a Connect client may set on its session: runtime SQL conf only. The rest of
    launch_conf (jars, catalog, S3 keys) is the server's, fixed when it started."""
    conf = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(options.shuffle_partitions),
    }
    conf.update({k: v for k, v in (options.extra_conf or {}).items() if k.startswith("spark.sql.")})
    return conf


def build_remote_session(url: str, options: SessionOptions) -> "SparkSession":
    """A Spark Connect client session. In pyspark 3.5 a process cannot hold a classic
    SparkContext and a Connect session at once (and stays in Connect mode afterwards),
    so run Connect jobs in their own process, as the CLI entry points do."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.remote(url)
    for name, value in remote_conf(options).items():
        builder = builder.config(name, value)
    return builder.getOrCreate()


def build_session(settings: Settings, options: SessionOptions | None = None) -> "SparkSession":
    """A SparkSession on the lakehouse catalog. Checks driver/worker Python versions
    first when the master is a standalone cluster."""
    from pyspark.sql import SparkSession

    options = options or SessionOptions()
    remote = connect_url(settings, options)
    if remote:
        return build_remote_session(remote, options)
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
    if master.startswith("spark://"):
        check_python_versions(spark, master)
    return spark


# --- driver/worker Python versions ---------------------------------------------------

# PySpark 3.5 prints the worker's version as a tuple: "different version (3, 12) than
# that in driver 3.11,".
_MISMATCH_RE = re.compile(r"different version \(?(\d+)[., ]+(\d+)\)? than that in driver (\d+)\.(\d+)")

WorkerProbe = Callable[[], str]


def _driver_version() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def _worker_version_by_task(spark: "SparkSession") -> WorkerProbe:
    def probe() -> str:
        def version(_: object) -> str:
            import sys as worker_sys

            return f"{worker_sys.version_info[0]}.{worker_sys.version_info[1]}"

        return str(spark.sparkContext.parallelize([0], 1).map(version).first())

    return probe


def check_python_versions(spark: "SparkSession", master: str, probe: WorkerProbe | None = None) -> None:
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
