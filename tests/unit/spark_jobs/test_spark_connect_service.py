"""The Spark Connect server's command, conf file and the sessions routed to it, without processes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from lakehouse.config.settings import load_settings
from lakehouse.engines import artifacts
from lakehouse.engines.engine import engine_services, is_local_server
from lakehouse.engines.spark_conf import client_connect_url, is_loopback
from lakehouse.errors import MissingSecretError, StackError
from lakehouse.local.services.spark_connect_server import CONNECT_SERVER_CLASS, SparkConnectService
from lakehouse.local.stack import CORE_SERVICES, services_with
from spark_jobs.session import SessionOptions, connect_url, remote_conf

TOKEN = "tok-EXAMPLE-0123456789"
CATALOG_TOKEN = "catalog-EXAMPLE-9876543210"


@pytest.fixture()
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SparkConnectService:
    monkeypatch.setattr(artifacts, "require", lambda key: Path(f"/jars/{key}.jar"))
    monkeypatch.setenv("LAKEHOUSE_LOCAL__SPARK_CONNECT_PORT", "25102")
    settings = load_settings(
        "local",
        s3={"access_key_id": "AKIDEXAMPLE", "secret_access_key": "s3cr3t\\value"},
        spark={"connect_token": TOKEN},
        catalog={"token": CATALOG_TOKEN},
        local={"state_dir": str(tmp_path)},
    )
    return SparkConnectService(settings)


def test_spark_connect_is_an_optional_service():
    assert services_with(["spark-connect"]) == CORE_SERVICES + (SparkConnectService,)


def test_secrets_go_to_a_private_properties_file_never_to_argv(service: SparkConnectService):
    service.prepare()
    argv = service.command()
    assert argv[0].endswith("bin/spark-submit") and argv[argv.index("--class") + 1] == CONNECT_SERVER_CLASS
    assert argv[argv.index("--properties-file") + 1] == str(service.properties_path)
    assert not any("AKIDEXAMPLE" in a or "s3cr3t" in a or TOKEN in a or CATALOG_TOKEN in a for a in argv)
    assert not any(TOKEN in v for v in service.env().values())
    assert stat.S_IMODE(service.properties_path.stat().st_mode) == 0o600
    text = service.properties_path.read_text()
    # java.util.Properties would read a lone backslash as an escape and drop it.
    assert "spark.sql.catalog.lakehouse.s3.secret-access-key=s3cr3t\\\\value\n" in text
    assert f"spark.connect.authenticate.token={TOKEN}\n" in text
    assert f"spark.sql.catalog.lakehouse.token={CATALOG_TOKEN}\n" in text
    assert "spark.connect.grpc.binding.address=127.0.0.1\n" in text
    assert "spark.connect.grpc.binding.port=25102\n" in text
    assert "spark.driver.memory=3g\n" in text
    assert "spark.sql.shuffle.partitions=4\n" in text
    jars = next(line for line in text.splitlines() if line.startswith("spark.jars="))
    # Spark 4 ships the Connect server in pyspark's jars/: only the Iceberg jars are added.
    # Not on spark.driver.extraClassPath, though it would save the executor's fetch of
    # them at start: a Connect client's first task then hangs in the executor's class
    # loader (docs/spark.md).
    assert jars == "spark.jars=/jars/iceberg-spark-runtime.jar,/jars/iceberg-aws-bundle.jar"
    assert service.url == "sc://localhost:25102" and TOKEN not in service.url


def test_the_heap_is_a_setting(service: SparkConnectService, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LAKEHOUSE_LOCAL__SPARK_CONNECT_DRIVER_MEMORY", "5g")
    settings = load_settings(
        "local",
        s3={"access_key_id": "a", "secret_access_key": "b"},
        spark={"connect_token": TOKEN},
        catalog={"token": CATALOG_TOKEN},
        local={"state_dir": str(service.state_dir.parent)},
    )
    assert SparkConnectService(settings).properties()["spark.driver.memory"] == "5g"


@pytest.mark.parametrize("on", [False, True])
def test_event_logs_are_a_setting_and_land_in_the_state_dir(service: SparkConnectService, on: bool):
    settings = load_settings(
        "local",
        s3={"access_key_id": "a", "secret_access_key": "b"},
        spark={"connect_token": TOKEN},
        catalog={"token": CATALOG_TOKEN},
        local={"state_dir": str(service.state_dir.parent), "spark_connect_event_log": on},
    )
    server = SparkConnectService(settings)
    server.prepare()
    conf = server.properties()
    if on:
        assert conf["spark.eventLog.enabled"] == "true"
        assert conf["spark.eventLog.dir"] == server.event_log_dir.as_uri()
        assert server.event_log_dir.is_dir()  # Spark refuses to start without it
    else:
        assert "spark.eventLog.enabled" not in conf and not server.event_log_dir.exists()


def test_a_wider_existing_properties_file_is_narrowed(service: SparkConnectService):
    service.state_dir.mkdir(parents=True)
    service.properties_path.write_text("old")
    service.properties_path.chmod(0o644)
    service.prepare()
    assert stat.S_IMODE(service.properties_path.stat().st_mode) == 0o600


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.org", "::"])
def test_it_refuses_to_bind_a_non_loopback_address(tmp_path: Path, host: str):
    settings = load_settings(
        "local",
        s3={"access_key_id": "a", "secret_access_key": "b"},
        spark={"connect_token": TOKEN},
        catalog={"token": CATALOG_TOKEN},
        local={"state_dir": str(tmp_path), "bind_host": host},
    )
    service = SparkConnectService(settings)
    with pytest.raises(
        StackError, match=rf"would listen on {host}, which is not a loopback.*LAKEHOUSE_LOCAL__BIND_HOST=127\.0\.0\.1"
    ):
        service.prepare()
    assert not service.properties_path.exists()


def test_it_will_not_start_without_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("LAKEHOUSE_SPARK__CONNECT_TOKEN", raising=False)
    monkeypatch.setattr(artifacts, "require", lambda key: Path(f"/jars/{key}.jar"))
    settings = load_settings(
        "local",
        s3={"access_key_id": "a", "secret_access_key": "b"},
        catalog={"token": CATALOG_TOKEN},
        local={"state_dir": str(tmp_path)},
    )
    with pytest.raises(MissingSecretError, match=r"(?s)Spark Connect token.*LAKEHOUSE_SPARK__CONNECT_TOKEN"):
        SparkConnectService(settings).prepare()


def test_the_token_is_a_secret_setting_never_in_a_profile_or_a_dump():
    settings = load_settings("local", spark={"connect_token": TOKEN})
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.redacted())
    assert TOKEN not in (settings.spark.connect_url or "")


def test_clients_add_the_token_and_say_localhost():
    # With a token, PySpark 4.1 uses TLS unless the host is exactly `localhost`.
    assert client_connect_url("sc://127.0.0.1:15102", "t") == "sc://localhost:15102/;token=t"
    assert client_connect_url("sc://localhost:15102/", "t") == "sc://localhost:15102/;token=t"
    assert client_connect_url("sc://spark-connect:15002", "t") == "sc://spark-connect:15002/;token=t"
    assert [is_loopback(h) for h in ("127.0.0.1", "::1", "::ffff:127.0.0.1", "localhost", "0.0.0.0", "10.0.0.1")] == [
        True,
        True,
        True,
        True,
        False,
        False,
    ]


def test_the_default_engine_is_the_local_connect_server(monkeypatch: pytest.MonkeyPatch):
    for name in ("LAKEHOUSE_SPARK__ENGINE", "LAKEHOUSE_SPARK__CONNECT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAKEHOUSE_LOCAL__SPARK_CONNECT_PORT", "25102")
    local = load_settings("local")
    assert local.spark.engine == "connect" and local.spark.connect_url == "sc://localhost:25102"
    assert is_local_server(local) and engine_services(local) == ["spark-connect"]
    docker = load_settings("docker")
    assert docker.spark.engine == "connect" and docker.spark.connect_url == "sc://spark-connect:15002"
    assert not is_local_server(docker)
    monkeypatch.setenv("LAKEHOUSE_SPARK__ENGINE", "submit")
    assert engine_services(load_settings("local")) == []


def test_sessions_use_the_connect_server_only_when_nothing_else_was_chosen(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    settings = load_settings("local", spark={"connect_url": "sc://127.0.0.1:15102"})
    assert connect_url(settings, SessionOptions()) == "sc://127.0.0.1:15102"
    assert connect_url(settings, SessionOptions(master="local[1]")) is None
    assert connect_url(load_settings("local"), SessionOptions(remote="sc://h:1")) == "sc://h:1"
    assert connect_url(load_settings("local", spark={"engine": "submit"}), SessionOptions()) is None
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "40000")  # spark-submit started our driver JVM
    assert connect_url(settings, SessionOptions()) is None


def test_a_connect_client_sends_only_runtime_sql_conf():
    conf = remote_conf(
        SessionOptions(shuffle_partitions=8, extra_conf={"spark.driver.memory": "4g", "spark.sql.ansi.enabled": "true"})
    )
    assert conf == {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": "8",
        "spark.sql.ansi.enabled": "true",
    }


def test_the_connect_url_setting_refuses_a_token_in_it():
    from lakehouse.errors import SettingsError

    with pytest.raises(SettingsError, match="spark.connect_url"):
        load_settings("local", spark={"connect_url": "sc://localhost:15102/;token=abc"})


def test_local_up_starts_the_engine_when_an_endpoint_declares_a_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import shutil

    from lakehouse.cli.commands.local import engine_extras
    from lakehouse.config.paths import config_dir

    monkeypatch.delenv("LAKEHOUSE_SPARK__ENGINE", raising=False)
    monkeypatch.setenv("LAKEHOUSE_ENDPOINTS_DIR", str(tmp_path))
    settings = load_settings("local")
    assert engine_extras(settings) == []  # no endpoint, no transform
    shutil.copy(config_dir() / "endpoints" / "sandbox_trades.yaml", tmp_path / "sandbox_trades.yaml")
    assert engine_extras(settings) == ["spark-connect"]
    assert engine_extras(load_settings("local", spark={"engine": "submit"})) == []
