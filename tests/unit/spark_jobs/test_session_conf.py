"""The SparkSession factory's conf and its Python-version check, without a JVM."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from lakehouse.config.settings import load_settings
from spark_jobs import session
from spark_jobs.cli import parse_slot
from spark_jobs.session import PythonVersionMismatchError, SessionOptions, check_python_versions


@pytest.fixture()
def settings(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(session.artifacts, "require", lambda key: Path(f"/jars/{key}.jar"))
    return load_settings(
        "local",
        s3={"access_key_id": "AKIDEXAMPLE", "secret_access_key": "s3cr3t-value"},
        catalog={"uri": "http://127.0.0.1:19999/iceberg", "token": "catalog-t0ken"},
    )


def test_launch_conf_points_the_catalog_at_nessie_and_s3(settings):
    conf = session.launch_conf(settings, SessionOptions())
    cat = "spark.sql.catalog.lakehouse"
    assert conf[cat] == "org.apache.iceberg.spark.SparkCatalog"
    assert conf[f"{cat}.type"] == "rest"
    assert conf[f"{cat}.uri"] == "http://127.0.0.1:19999/iceberg/main"
    assert conf[f"{cat}.io-impl"] == "org.apache.iceberg.aws.s3.S3FileIO"
    assert conf[f"{cat}.s3.endpoint"] == settings.s3.endpoint_url
    assert conf[f"{cat}.s3.path-style-access"] == "true"
    assert conf["spark.jars"] == "/jars/iceberg-spark-runtime.jar,/jars/iceberg-aws-bundle.jar"
    assert "spark.jars.packages" not in conf, "resolving from Maven at run time fails offline"
    assert conf["spark.executorEnv.AWS_REQUEST_CHECKSUM_CALCULATION"] == "when_required"
    assert conf["spark.master"] == "local[2]"
    assert conf["spark.ui.enabled"] == "false"


def test_launch_conf_never_carries_the_s3_keys_or_the_catalog_token(settings):
    # pyspark passes launch conf to spark-submit as argv, which `ps` shows to everyone.
    text = repr(session.launch_conf(settings, SessionOptions(master="spark://127.0.0.1:7077")))
    assert "s3cr3t-value" not in text and "AKIDEXAMPLE" not in text and "catalog-t0ken" not in text
    secrets = session.secret_conf(settings)
    assert secrets["spark.sql.catalog.lakehouse.s3.secret-access-key"] == "s3cr3t-value"
    assert secrets["spark.sql.catalog.lakehouse.token"] == "catalog-t0ken"


def test_version_check_names_both_versions_when_a_worker_differs():
    with pytest.raises(PythonVersionMismatchError, match=r"driver runs Python 3\.\d+ but the workers .* Python 3\.7"):
        check_python_versions(object(), "spark://127.0.0.1:7077", probe=lambda: "3.7")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "wording",
    [
        # As PySpark 3.5 words it (seen with 3.5.8 against the loopback cluster).
        "has different version (3, 12) than that in driver 3.11, PySpark cannot run with different minor versions.",
        # As PySpark 4.1 words it (seen with 4.1.3 against the loopback cluster).
        "has different version: 3.12 than that in driver: 3.11, PySpark cannot run with different minor versions.",
    ],
)
def test_version_check_translates_pysparks_own_mismatch_error(wording: str):
    def failing_probe() -> str:
        raise RuntimeError(
            "pyspark.errors.exceptions.base.PySparkRuntimeError: [PYTHON_VERSION_MISMATCH] Python in worker " + wording
        )

    with pytest.raises(PythonVersionMismatchError) as info:
        check_python_versions(object(), "spark://h:7077", probe=failing_probe)  # type: ignore[arg-type]
    assert (info.value.driver, info.value.worker) == ("3.11", "3.12")
    assert "PYSPARK_PYTHON" in str(info.value)


def test_version_check_passes_on_equal_versions():
    import sys

    check_python_versions(object(), "spark://h:7077", probe=lambda: f"{sys.version_info[0]}.{sys.version_info[1]}")  # type: ignore[arg-type]


def test_slots_must_carry_a_time_zone():
    assert parse_slot("2025-03-01T12:15:00Z").hour == 12
    assert parse_slot("2025-03-01T13:15:00+01:00").hour == 12
    with pytest.raises(typer.BadParameter, match="no time zone"):
        parse_slot("2025-03-01T12:15:00")


def test_under_spark_submit_the_submitted_master_is_kept(settings, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "40000")  # what spark-submit gives its Python driver
    assert "spark.master" not in session.session_conf(settings, SessionOptions())
    explicit = session.session_conf(settings, SessionOptions(master="spark://127.0.0.1:7077"))
    assert explicit["spark.master"] == "spark://127.0.0.1:7077"
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT")
    assert session.session_conf(settings, SessionOptions())["spark.master"] == "local[2]"


# What the Connect server relayed when Nessie, then SeaweedFS, was stopped mid-write
# (tests/integration/reliability/test_reliability_engine_faults.py), cut short.
_NESSIE_DOWN = (
    "(org.apache.iceberg.exceptions.RESTException) Error occurred while processing GET request\n\n"
    "JVM stacktrace:\norg.apache.iceberg.exceptions.RESTException\nCaused by: org.apache.iceberg.shaded."
    "org.apache.hc.client5.http.HttpHostConnectException: Connect to http://127.0.0.1:{port} failed: "
    "Connection refused\n\tat org.apache..."
)
_S3_DOWN = (
    "Caused by: software.amazon.awssdk.core.exception.SdkClientException: Unable to execute HTTP request: "
    "Connect to http://127.0.0.1:{port} failed: Connection refused (SDK Attempt Count: 6)"
)


@pytest.mark.parametrize(
    ("text", "which", "service"),
    [(_NESSIE_DOWN, "catalog", "the Iceberg catalog (Nessie)"), (_S3_DOWN, "s3", "the object store (S3)")],
)
def test_an_unreachable_catalog_or_store_becomes_a_named_retryable_error(settings, text, which, service):
    from lakehouse.engines.engine import EngineDependencyUnavailableError

    port = settings.catalog.port if which == "catalog" else int(settings.s3.endpoint_url.rsplit(":", 1)[1])
    with pytest.raises(EngineDependencyUnavailableError) as raised, session.translate_connect_errors(settings):
        raise RuntimeError(text.format(port=port))
    assert raised.value.service == service
    assert "Connection refused" in str(raised.value) and "JVM stacktrace" not in str(raised.value)
    assert "lakehouse local up" in str(raised.value)


def test_other_server_errors_pass_through(settings):
    with (
        pytest.raises(RuntimeError, match="Connect to http://127.0.0.1:1 failed"),
        session.translate_connect_errors(settings),
    ):
        raise RuntimeError(_S3_DOWN.format(port=1))  # a port that is neither the catalog's nor S3's
