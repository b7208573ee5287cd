"""Spark properties for the lakehouse, built once from the settings, engine-free.

The session factory (spark_jobs/session.py), spark-submit command lines
(spark_jobs/submit.py, the Airflow operator), the local stack's Spark Connect server
(lakehouse/local/services/spark_connect_server.py) and the deployment's generated
spark-defaults.conf (lakehouse/engines/deploy.py) all start from these, so a job run by hand,
by Airflow, on the Connect server or in a container sees the same catalog. Nothing
here imports pyspark: the core and the stack use it without the Spark adapter.

Launch conf (:func:`launch_conf`) carries no secrets: pyspark hands it to
spark-submit as ``--conf k=v`` argv, which ``ps`` shows to every user. The S3 keys
(:func:`secret_conf`) and the Connect token reach Spark at runtime or through a
private file.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from lakehouse.config.settings import Settings
from lakehouse.engines import artifacts
from lakehouse.engines.spark_auth import AUTH_CONF, SECRET_KEY, needs_secret

ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"

# The AWS SDK v2 inside Iceberg sends CRC checksum headers by default that
# S3-compatible servers (RustFS, some SeaweedFS builds) reject; "when_required" is the
# documented switch. The SDK reads these from the environment of each JVM.
AWS_SDK_ENV: dict[str, str] = {
    "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
    "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
}

# Enough parallelism for two cores; the default 200 shuffle partitions turns a
# slot-sized write into 200 tiny tasks and, for partitioned tables, tiny files.
DEFAULT_SHUFFLE_PARTITIONS = 4

CONNECT_SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
# What the Connect server reads its token from when it is not in its conf.
CONNECT_TOKEN_ENV = "SPARK_CONNECT_AUTHENTICATE_TOKEN"
# Spark's default also matches "secret"; widen it to the key id, the Connect token and
# anything Iceberg names "credential", in case one ever reaches a logged conf.
REDACTION_REGEX = r"(?i)secret|password|token|credential|access[.-]key"


@dataclass(frozen=True)
class SessionOptions:
    """What differs between a test, a CLI run and a deployment, beyond the settings."""

    app_name: str = "lakehouse"
    master: str | None = None  # None: settings.spark.master
    ui: bool = False
    shuffle_partitions: int = DEFAULT_SHUFFLE_PARTITIONS
    extra_conf: Mapping[str, str] | None = None
    # sc://host:port (no token): a Spark Connect client session instead of a driver JVM
    # here. None: settings.spark.connect_url when settings.spark.engine is "connect",
    # unless a master is given or spark-submit runs us.
    remote: str | None = None


def catalog_conf(settings: Settings) -> dict[str, str]:
    cat = f"spark.sql.catalog.{settings.catalog.name}"
    return {
        "spark.sql.extensions": ICEBERG_EXTENSIONS,
        "spark.sql.defaultCatalog": settings.catalog.name,
        cat: "org.apache.iceberg.spark.SparkCatalog",
        f"{cat}.type": "rest",
        f"{cat}.uri": settings.catalog.rest_uri,
        # Nessie selects its warehouse by name (not an s3:// URI) from this.
        f"{cat}.warehouse": settings.catalog.warehouse,
        f"{cat}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        f"{cat}.s3.endpoint": settings.s3.endpoint_url,
        # S3-compatible servers on one host name have no per-bucket DNS names.
        f"{cat}.s3.path-style-access": "true",
        f"{cat}.client.region": settings.s3.region,
        # Other writers (pyiceberg publishes signals, maintenance runs elsewhere) commit
        # to the same tables; a cached table would plan reads on a stale snapshot.
        f"{cat}.cache-enabled": "false",
    }


def launch_conf(settings: Settings, options: SessionOptions, *, verify: bool = True) -> dict[str, str]:
    """Spark conf that may be passed at JVM launch: no secrets in here.

    ``verify=False`` only names the jars: for callers that build a command the job
    runs later (a DAG file at parse time), since the job's own session verifies them.

    pyspark hands this conf to spark-submit as ``--conf k=v`` arguments, which every
    user on the machine can read in ``ps``, and Spark prints it with ``spark.logConf``
    and on the UI's environment page. The S3 key pair is therefore set later, at
    runtime, by :func:`secret_conf`.
    """
    jars = (
        [str(artifacts.require(key)) for key in artifacts.SPARK_JAR_KEYS]
        if verify
        else [str(path) for path in artifacts.spark_jars()]
    )
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
        "spark.redaction.regex": REDACTION_REGEX,
        "spark.executorEnv.AWS_REGION": region,
        # Spark's RPC and block ports take only clients with the secret (lakehouse.engines.spark_auth:
        # local mode makes its own; a standalone master needs the shared one, from a file).
        **AUTH_CONF,
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
    """The S3 key pair for the catalog's FileIO and the catalog's bearer token. Nessie's
    request signing is off, so Spark must bring its own keys. Iceberg serialises the
    FileIO, keys included, into the tasks it sends to executors, so setting them on the
    driver is enough."""
    key, secret = settings.s3.require_credentials()
    cat = f"spark.sql.catalog.{settings.catalog.name}"
    return {
        f"{cat}.s3.access-key-id": key,
        f"{cat}.s3.secret-access-key": secret,
        **catalog_token_conf(settings),
    }


def catalog_token_conf(settings: Settings) -> dict[str, str]:
    """The catalog's bearer token as Spark session conf (Iceberg's REST catalog sends it
    as "Authorization: Bearer ..."; Nessie refuses requests without it). A Spark Connect
    client sets it on its own session: catalogs are per session and load lazily from the
    session's conf, so this reaches the catalog on a server started without the token
    (compose) and never passes through argv. Spark's redaction regex (``token``) keeps
    it out of the UI, the event log and logged conf."""
    return {f"spark.sql.catalog.{settings.catalog.name}.token": settings.catalog.require_token()}


# --- the Spark Connect server ------------------------------------------------------


def connect_server_conf(
    settings: Settings, *, bind_host: str, port: int, driver_memory: str, python: str
) -> dict[str, str]:
    """The non-secret conf of a long-lived Connect server: the launch conf, bound to one
    address, its heap sized on purpose, tuned for many small writes in a row."""
    conf = launch_conf(settings, SessionOptions(app_name="lakehouse-spark-connect"))
    conf.update(
        {
            # Static conf (Spark 4.0+): the gRPC server listens on this address only.
            "spark.connect.grpc.binding.address": bind_host,
            "spark.connect.grpc.binding.port": str(port),
            # Read by spark-submit's launcher before the JVM starts (-Xmx).
            "spark.driver.memory": driver_memory,
            # Slot-sized writes: no 200-way shuffle on two cores (sessions inherit it).
            "spark.sql.shuffle.partitions": str(DEFAULT_SHUFFLE_PARTITIONS),
            # Each slot's client session is released when its job ends; a client that dies
            # without releasing is dropped after this idle time (Spark's default is 1 h).
            "spark.connect.session.manager.defaultSessionTimeout": "15m",
            # Keep the server's memory flat over thousands of slots: the UI (off anyway)
            # and its listeners retain jobs, stages and SQL executions; keep few.
            "spark.ui.retainedJobs": "50",
            "spark.ui.retainedStages": "50",
            "spark.sql.ui.retainedExecutions": "50",
            "spark.sql.connect.ui.retainedSessions": "50",
            "spark.sql.connect.ui.retainedStatements": "50",
            # Python UDFs run in workers the server starts; they need this environment's
            # interpreter (lakehouse and spark_jobs importable), not whatever python3 is.
            "spark.pyspark.python": python,
        }
    )
    if settings.spark.master.startswith("local"):
        conf["spark.driver.host"] = bind_host
        conf["spark.driver.bindAddress"] = bind_host
    return conf


def connect_server_secret_conf(settings: Settings) -> dict[str, str]:
    """The server's secrets: the S3 keys its sessions use, the token it requires, and on
    a standalone master Spark's RPC secret.
    For a private (0600) properties file or the server's environment, never argv."""
    conf = {
        **secret_conf(settings),
        "spark.connect.authenticate.token": settings.spark.require_connect_token(),
    }
    if needs_secret(settings.spark.master):
        conf[SECRET_KEY] = settings.spark.require_auth_secret()
    return conf


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or the name localhost."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1, as Java lists it
    return bool((mapped or address).is_loopback)


def client_connect_url(url: str, token: str) -> str:
    """The connection string a client session is built with: ``url`` plus the token.

    Built at session start and handed straight to pyspark; never stored, logged or
    returned to a caller that might (settings, XComs and logs hold ``url`` only). A
    loopback host is spelled ``localhost``: with a token the PySpark 4.1 client uses
    TLS unless the host is exactly ``localhost`` (then gRPC local credentials), and
    the Connect server speaks no TLS.
    """
    parsed = urlparse(url)
    host = parsed.hostname or ""
    if is_loopback(host):
        host = "localhost"
    return f"sc://{host}:{parsed.port}/;token={token}"


def connect_channel(url_with_token: str):  # type: ignore[no-untyped-def]  # -> pyspark DefaultChannelBuilder
    """The gRPC channel a Spark Connect client opens for ``url_with_token``:
    pyspark's own for ``localhost`` (gRPC local credentials plus the token); for any
    other host, a plaintext channel that sends the token as the bearer header.

    pyspark switches to TLS whenever a token is given, unless the host is exactly
    ``localhost``, and the Connect server speaks no TLS. The compose deployment reaches
    the server by service name on its internal network (no published port), so there
    the token crosses that network unencrypted: put a TLS-terminating proxy in front of
    the server before clients reach it over anything less private. PySpark is imported
    here, when a client connects, never when the core is imported.
    """
    from pyspark.sql.connect.client import DefaultChannelBuilder

    class _BearerOverPlaintext(DefaultChannelBuilder):
        @property
        def secure(self) -> bool:
            return False

        def metadata(self) -> list[tuple[str, str]]:
            return [*super().metadata(), ("authorization", f"Bearer {self.token}")]

    if (urlparse(url_with_token).hostname or "") == "localhost":
        return DefaultChannelBuilder(url_with_token)
    return _BearerOverPlaintext(url_with_token)
