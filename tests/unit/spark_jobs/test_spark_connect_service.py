"""The Spark Connect server's command, conf file and the sessions routed to it, without processes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from lakehouse import artifacts
from lakehouse.local.spark_connect_server import ALLOW_OPEN_ENV, CONNECT_SERVER_CLASS, SparkConnectService
from lakehouse.local.stack import CORE_SERVICES, services_with
from lakehouse.settings import load_settings
from spark_jobs import session
from spark_jobs.session import SessionOptions, connect_url, remote_conf


@pytest.fixture()
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SparkConnectService:
    monkeypatch.setattr(artifacts, "require", lambda key: Path(f"/jars/{key}.jar"))
    monkeypatch.setattr(session.artifacts, "require", lambda key: Path(f"/jars/{key}.jar"))
    monkeypatch.setenv("LAKEHOUSE_LOCAL__SPARK_CONNECT_PORT", "25102")
    monkeypatch.setenv(ALLOW_OPEN_ENV, "1")
    settings = load_settings(
        "local", s3={"access_key_id": "AKIDEXAMPLE", "secret_access_key": "s3cr3t\\value"},
        local={"state_dir": str(tmp_path)},
    )
    return SparkConnectService(settings)


def test_spark_connect_is_an_optional_service():
    assert services_with(["spark-connect"]) == CORE_SERVICES + (SparkConnectService,)


def test_keys_go_to_a_private_properties_file_never_to_argv(service: SparkConnectService):
    service.prepare()
    argv = service.command()
    assert argv[0].endswith("bin/spark-submit") and argv[argv.index("--class") + 1] == CONNECT_SERVER_CLASS
    assert argv[argv.index("--properties-file") + 1] == str(service.properties_path)
    assert not any("AKIDEXAMPLE" in a or "s3cr3t" in a for a in argv)
    assert stat.S_IMODE(service.properties_path.stat().st_mode) == 0o600
    text = service.properties_path.read_text()
    # java.util.Properties would read a lone backslash as an escape and drop it.
    assert "spark.sql.catalog.lakehouse.s3.secret-access-key=s3cr3t\\\\value\n" in text
    assert "spark.connect.grpc.binding.port=25102\n" in text
    jars = next(line for line in text.splitlines() if line.startswith("spark.jars="))
    assert jars.endswith(",/jars/spark-connect.jar") and "/jars/iceberg-spark-runtime.jar" in jars
    assert service.url == "sc://127.0.0.1:25102"


def test_a_wider_existing_properties_file_is_narrowed(service: SparkConnectService):
    service.state_dir.mkdir(parents=True)
    service.properties_path.write_text("old")
    service.properties_path.chmod(0o644)
    service.prepare()
    assert stat.S_IMODE(service.properties_path.stat().st_mode) == 0o600


def test_it_refuses_to_start_open_to_the_network_without_the_opt_in(service: SparkConnectService, monkeypatch: pytest.MonkeyPatch):
    from lakehouse.errors import StackError

    monkeypatch.delenv(ALLOW_OPEN_ENV)
    with pytest.raises(StackError, match="every network interface.*LAKEHOUSE_ALLOW_OPEN_SPARK_CONNECT=1"):
        service.prepare()
    assert not service.properties_path.exists()


def test_sessions_use_the_connect_server_only_when_nothing_else_was_chosen(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    settings = load_settings("local", spark={"connect_url": "sc://127.0.0.1:15102"})
    assert connect_url(settings, SessionOptions()) == "sc://127.0.0.1:15102"
    assert connect_url(settings, SessionOptions(master="local[1]")) is None
    assert connect_url(load_settings("local"), SessionOptions(remote="sc://h:1")) == "sc://h:1"
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "40000")  # spark-submit started our driver JVM
    assert connect_url(settings, SessionOptions()) is None


def test_a_connect_client_sends_only_runtime_sql_conf():
    conf = remote_conf(SessionOptions(shuffle_partitions=8, extra_conf={"spark.driver.memory": "4g",
                                                                         "spark.sql.ansi.enabled": "true"}))
    assert conf == {"spark.sql.session.timeZone": "UTC", "spark.sql.shuffle.partitions": "8",
                    "spark.sql.ansi.enabled": "true"}
