"""The standalone cluster's services and the optional-services registry, without processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.config.settings import load_settings
from lakehouse.errors import SettingsError, StackError
from lakehouse.local.services import spark_server
from lakehouse.local.stack import CORE_SERVICES, services_with
from spark_jobs.session import SessionOptions
from spark_jobs.submit import job_path, submit_command


def test_spark_is_optional_and_starts_after_the_core():
    assert services_with([]) == CORE_SERVICES
    assert services_with(["spark"]) == CORE_SERVICES + (
        spark_server.SparkMasterService,
        spark_server.SparkWorkerService,
    )
    with pytest.raises(StackError, match=r"unknown optional service\(s\) flink; available: .*spark"):
        services_with(["flink"])


def test_ports_and_sizes_come_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(spark_server.MASTER_PORT_ENV, "27077")
    monkeypatch.setenv(spark_server.WORKER_MEMORY_ENV, "3g")
    settings = load_settings("local")
    master = spark_server.SparkMasterService(settings)
    worker = spark_server.SparkWorkerService(settings)
    assert master.url == "spark://127.0.0.1:27077"
    assert master.command()[1:] == [
        "org.apache.spark.deploy.master.Master",
        "--host",
        "127.0.0.1",
        "--port",
        "27077",
        "--webui-port",
        "18180",
    ]
    command = worker.command()
    assert command[1:3] == ["org.apache.spark.deploy.worker.Worker", "spark://127.0.0.1:27077"]
    assert command[command.index("--memory") + 1] == "3g"
    assert [p.number for p in worker.ports()] == [17078, 18181]


def test_a_bad_port_is_a_named_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(spark_server.MASTER_PORT_ENV, "seventy")
    with pytest.raises(
        SettingsError, match="local.spark_cluster.master_port: .*LAKEHOUSE_LOCAL__SPARK_CLUSTER__MASTER_PORT"
    ):
        load_settings("local")


def test_submit_command_is_client_mode_with_jars_and_no_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path):
    from spark_jobs import session

    monkeypatch.setattr(session.artifacts, "require", lambda key: f"/jars/{key}.jar")
    monkeypatch.delenv("SPARK_CONF_DIR", raising=False)
    settings = load_settings(
        "local",
        s3={"access_key_id": "AKIDEXAMPLE", "secret_access_key": "s3cr3t-value"},
        spark={"auth_secret": "rpc-secret-value"},
        local={"state_dir": str(tmp_path)},
    )
    cmd = submit_command(
        settings, "static_data", ["--table", "default.x"], SessionOptions(master="spark://127.0.0.1:7077")
    )
    argv = " ".join(cmd.argv)
    assert cmd.argv[0].endswith("bin/spark-submit")
    assert (
        "--deploy-mode client" in argv and "--jars /jars/iceberg-spark-runtime.jar,/jars/iceberg-aws-bundle.jar" in argv
    )
    assert cmd.argv[1:3] == ["--master", "spark://127.0.0.1:7077"]
    assert cmd.argv[-3:] == [str(job_path("static_data")), "--table", "default.x"]
    assert "s3cr3t-value" not in argv and "AKIDEXAMPLE" not in argv and "rpc-secret-value" not in argv
    # Spark's RPC secret, which the standalone master requires, comes from a private file.
    assert "rpc-secret-value" in (Path(cmd.env["SPARK_CONF_DIR"]) / "spark-defaults.conf").read_text()
    assert cmd.env["AWS_REQUEST_CHECKSUM_CALCULATION"] == "when_required"
    with pytest.raises(ValueError, match="no Spark job 'nope'"):
        submit_command(settings, "nope", [])
