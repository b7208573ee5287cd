"""What containers are configured with agrees with config/profiles/docker.yaml, the one
place that says where each service lives."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from deployfiles import environment_of

from lakehouse.config.settings import Settings
from lakehouse.engines import deploy
from lakehouse.tables.catalog_auth import NESSIE_PUBLIC_KEY_PROPERTY, nessie_auth_properties

OUR_CODE = (
    "catalog-bootstrap",
    "scrapworker",
    "jupyter",
    "airflow-worker",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-apiserver",
    "airflow-init",
)


# Spark's JVMs start through this (Spark's RPC secret into a private spark-defaults.conf).
SPARK_AUTH_WRAPPER = ["python", "-m", "lakehouse.engines.spark_auth", "exec", "--"]


# Nessie reads its S3 key pair from a "secret" named here; the name and secret of that
# entry are filled from the deployment's environment by Compose, never from a profile.
NESSIE_S3_SECRET = "nessie.catalog.secrets.s3-default"


def _nessie_environment(settings: Settings) -> dict[str, str]:
    """Nessie's non-secret settings as dot-notation Quarkus keys, from the profile.

    Dot notation on purpose: Quarkus cannot map SCREAMING_SNAKE names back to keys that
    contain hyphens (``default-options``, ``path-style-access``) and silently ignores
    them, which leaves Nessie on defaults that fail at its first S3 call.
    """
    s3 = "nessie.catalog.service.s3.default-options"
    warehouse = settings.catalog.warehouse
    return {
        "nessie.catalog.default-warehouse": warehouse,
        f"nessie.catalog.warehouses.{warehouse}.location": settings.catalog.warehouse_location,
        f"{s3}.endpoint": settings.s3.endpoint_url,
        f"{s3}.path-style-access": "true",
        f"{s3}.region": settings.s3.region,
        f"{s3}.access-key": f"urn:nessie-secret:quarkus:{NESSIE_S3_SECRET}",
        # No STS here to vend credentials: every client brings its own S3 keys.
        f"{s3}.request-signing-enabled": "false",
        "quarkus.http.port": str(settings.catalog.port),
        # Bearer tokens required; the public key they are checked against comes from
        # .env (NESSIE_OIDC_PUBLIC_KEY), like the secrets.
        **{k: v for k, v in nessie_auth_properties("").items() if k != NESSIE_PUBLIC_KEY_PROPERTY},
    }


def _command(service: dict[str, Any]) -> list[str]:
    """The service's command, without the Spark auth wrapper in front of it."""
    command = service.get("command") or []
    words = command.split() if isinstance(command, str) else [str(c) for c in command]
    return words[len(SPARK_AUTH_WRAPPER) :] if words[: len(SPARK_AUTH_WRAPPER)] == SPARK_AUTH_WRAPPER else words


def test_redis_host_is_the_crawl_queue_service(services, docker_settings) -> None:
    redis = services[docker_settings.redis.host]
    assert redis["image"].startswith("redis:")
    # Redis listens on its default port unless told otherwise.
    assert "--port" not in " ".join(_command(redis)) and docker_settings.redis.port == 6379
    assert "--appendonly yes" in " ".join(_command(redis)), "the crawl queue keeps an append-only file"


def test_crawl_queue_and_celery_broker_are_separate(services, docker_settings) -> None:
    broker_url = environment_of(services["airflow-worker"])["AIRFLOW__CELERY__BROKER_URL"]
    assert urlparse(broker_url).hostname != docker_settings.redis.host


def test_s3_endpoint_is_rustfs(services, docker_settings) -> None:
    endpoint = urlparse(docker_settings.s3.endpoint_url)
    rustfs = services[endpoint.hostname]
    assert rustfs["image"].startswith("rustfs/rustfs:")
    assert environment_of(rustfs)["RUSTFS_ADDRESS"] == f":{endpoint.port}"


def test_bucket_init_creates_the_profiles_bucket(services, docker_settings) -> None:
    init = services["rustfs-bucket-init"]
    assert environment_of(init)["BUCKET"] == docker_settings.s3.bucket
    assert f"--endpoint-url {docker_settings.s3.endpoint_url} " in " ".join(init["command"])
    assert docker_settings.catalog.warehouse_location.startswith(f"s3://{docker_settings.s3.bucket}/")


def test_catalog_uri_is_nessie(services, docker_settings) -> None:
    uri = urlparse(docker_settings.catalog.uri)
    nessie = services[uri.hostname]
    assert nessie["image"].startswith("ghcr.io/projectnessie/nessie:")
    assert environment_of(nessie)["quarkus.http.port"] == str(uri.port)
    assert uri.path.rstrip("/") == "/iceberg", "Iceberg clients use Nessie's /iceberg endpoint, not /api"


def test_nessie_environment_is_derived_from_the_profile(services, docker_settings) -> None:
    env = environment_of(services["nessie"])
    expected = _nessie_environment(docker_settings)
    assert {key: env.get(key) for key in expected} == expected
    secret = NESSIE_S3_SECRET
    assert f"{secret}.name" in env and f"{secret}.secret" in env


def test_nessie_settings_use_dot_notation(services) -> None:
    # SCREAMING_SNAKE names of hyphenated Quarkus keys are silently ignored.
    for key in environment_of(services["nessie"]):
        assert key == key.lower() and "." in key, f"nessie: {key} is not a dot-notation Quarkus key"


def test_nessie_uses_jdbc2_on_its_postgres(services) -> None:
    env = environment_of(services["nessie"])
    assert env["nessie.version.store.type"] == "JDBC2"
    assert env["nessie.version.store.persist.jdbc.datasource"] == "postgresql"
    host = urlparse(env["quarkus.datasource.postgresql.jdbc.url"].removeprefix("jdbc:")).hostname
    assert services[host]["image"].startswith("postgres:")
    assert "nessie-postgres" in services["nessie"]["depends_on"]


def test_nessie_waits_for_its_bucket(services) -> None:
    # Nessie's readiness includes the warehouse's object store.
    assert "rustfs-bucket-init" in services["nessie"]["depends_on"]


def test_spark_master_matches_the_profile(services, docker_settings) -> None:
    master = urlparse(docker_settings.spark.master)
    assert master.scheme == "spark"
    service = services[master.hostname]
    command = _command(service)
    assert command[:2] == ["spark-class", "org.apache.spark.deploy.master.Master"]
    assert command[command.index("--port") + 1] == str(master.port)
    assert command[command.index("--host") + 1] == master.hostname == service["hostname"]


def test_spark_workers_join_the_profiles_master(services, docker_settings) -> None:
    command = _command(services["spark-worker"])
    assert command[:2] == ["spark-class", "org.apache.spark.deploy.worker.Worker"]
    assert docker_settings.spark.master in command
    env = environment_of(services["spark-worker"])
    assert "SPARK_WORKER_MEMORY" in env and "SPARK_WORKER_CORES" in env


def test_airflow_spark_connection_is_the_profiles_master(services, docker_settings) -> None:
    conn = json.loads(environment_of(services["airflow-worker"])["AIRFLOW_CONN_SPARK_DEFAULT"])
    assert conn["conn_type"] == "spark"
    assert f"{conn['host']}:{conn['port']}" == docker_settings.spark.master
    assert conn["extra"]["deploy-mode"] == "client"


def test_our_code_runs_with_the_docker_profile_and_its_secrets(services) -> None:
    for name in OUR_CODE:
        env = environment_of(services[name])
        assert env.get("LAKEHOUSE_PROFILE") == "docker", name
        for key in ("LAKEHOUSE_S3__ACCESS_KEY_ID", "LAKEHOUSE_S3__SECRET_ACCESS_KEY", "LAKEHOUSE_REDIS__PASSWORD"):
            assert env.get(key), f"{name}: {key} missing"


def test_config_is_mounted_where_our_code_looks_for_it(services) -> None:
    for name in OUR_CODE:
        service = services[name]
        home = environment_of(service).get("LAKEHOUSE_HOME")
        assert home, f"{name}: LAKEHOUSE_HOME tells the installed package where config/ is"
        assert f"../config:{home}/config:ro" in service["volumes"], name


def test_every_spark_process_gets_config_s3_keys_and_region(services, docker_settings) -> None:
    for name in ("spark-master", "spark-worker", "spark-connect", "airflow-worker", "jupyter"):
        service = services[name]
        env = environment_of(service)
        assert env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"), name
        assert env.get("AWS_REGION") == docker_settings.s3.region, name
        assert env.get("AWS_REQUEST_CHECKSUM_CALCULATION") == "when_required", name
        assert f"./spark:{deploy.SPARK_CONF_DIR}:ro" in service["volumes"], name


def test_bootstrap_runs_our_cli_before_anything_writes_tables(services) -> None:
    bootstrap = services["catalog-bootstrap"]
    assert _command(bootstrap) == ["lakehouse", "catalog", "bootstrap"]
    assert bootstrap["depends_on"]["nessie"]["condition"] == "service_healthy"
    for writer in ("airflow-worker", "jupyter"):
        assert services[writer]["depends_on"]["catalog-bootstrap"]["condition"] == "service_completed_successfully"


def test_scrapworker_runs_the_module(services) -> None:
    assert _command(services["scrapworker"]) == ["python", "-m", "scrapworker"]


def test_drivers_let_executors_use_their_own_python(services) -> None:
    # Executors run the driver's PYSPARK_PYTHON; an absolute path from the Airflow or
    # Jupyter image does not exist in the Spark image, `python3` resolves on both.
    for name in ("airflow-worker", "jupyter"):
        assert environment_of(services[name]).get("PYSPARK_PYTHON") == "python3", name


def _conf_args(command: list[str]) -> dict[str, str]:
    return dict(command[i + 1].split("=", 1) for i, word in enumerate(command) if word == "--conf")


def test_the_connect_url_is_the_spark_connect_service(services, docker_settings) -> None:
    # The ingest DAGs' transforms run there by default (spark.engine: connect).
    assert docker_settings.spark.engine == "connect"
    url = urlparse(docker_settings.spark.connect_url)
    service = services[url.hostname]
    command = _command(service)
    assert command[:3] == ["spark-submit", "--class", "org.apache.spark.sql.connect.service.SparkConnectServer"]
    conf = _conf_args(command)
    assert conf["spark.connect.grpc.binding.port"] == str(url.port)
    assert conf["spark.driver.host"] == url.hostname == service["hostname"]
    assert conf["spark.driver.memory"], "size the long-lived driver on purpose"
    assert str(url.port) in [str(p) for p in service.get("expose", [])]


def test_spark_connect_is_reachable_on_the_internal_network_only(services) -> None:
    assert not services["spark-connect"].get("ports"), "spark-connect runs any plan a client sends: publish no port"
    assert "network_mode" not in services["spark-connect"]


def test_spark_connect_requires_a_token_that_is_not_a_literal(raw_compose) -> None:
    from deployfiles import variable_uses

    server = environment_of(raw_compose["services"]["spark-connect"])["SPARK_CONNECT_AUTHENTICATE_TOKEN"]
    assert [(u.name, u.op) for u in variable_uses(server)] == [("LAKEHOUSE_SPARK__CONNECT_TOKEN", ":?")]
    assert "authenticate.token" not in " ".join(_command(raw_compose["services"]["spark-connect"])), "never on argv"
    for client in ("airflow-worker", "jupyter"):
        value = environment_of(raw_compose["services"][client])["LAKEHOUSE_SPARK__CONNECT_TOKEN"]
        assert [(u.name, u.op) for u in variable_uses(value)] == [("LAKEHOUSE_SPARK__CONNECT_TOKEN", ":?")], client


def test_the_transform_workers_wait_for_the_engine(services) -> None:
    assert services["airflow-worker"]["depends_on"]["spark-connect"]["condition"] == "service_healthy"


def test_airflow_sends_lineage_to_the_profiles_collector(services, docker_settings, tmp_path) -> None:
    from lakehouse.engines.airflow_env import openlineage_env

    assert docker_settings.lineage.transport == "http"
    expected = openlineage_env(docker_settings, tmp_path)
    for name in ("airflow-worker", "airflow-scheduler", "airflow-triggerer", "airflow-apiserver"):
        env = environment_of(services[name])
        got = {key: env.get(key) for key in expected}
        assert json.loads(got.pop("AIRFLOW__OPENLINEAGE__TRANSPORT") or "{}") == json.loads(
            expected["AIRFLOW__OPENLINEAGE__TRANSPORT"]
        ), name
        assert got == {k: v for k, v in expected.items() if k != "AIRFLOW__OPENLINEAGE__TRANSPORT"}, name
