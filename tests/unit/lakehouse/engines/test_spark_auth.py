"""Spark's RPC asks for a credential (lakehouse/engines/spark_auth.py): every launch conf turns
spark.authenticate on; a standalone master's secret reaches master, worker and driver
through a private spark-defaults.conf and never through argv or a logged conf."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from lakehouse.config.settings import Settings, load_settings
from lakehouse.engines import spark_auth
from lakehouse.engines.spark_auth import AUTH_CONF, SECRET_ENV, SECRET_KEY, SparkAuthSecretError, defaults_text
from lakehouse.engines.spark_conf import SessionOptions, connect_server_secret_conf, launch_conf
from lakehouse.errors import MissingSecretError

SECRET = "a1" * 32


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("LAKEHOUSE_LOCAL__STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("LAKEHOUSE_S3__ACCESS_KEY_ID", "key")
    monkeypatch.setenv("LAKEHOUSE_S3__SECRET_ACCESS_KEY", "s3-secret-value")
    monkeypatch.setenv("LAKEHOUSE_SPARK__CONNECT_TOKEN", "connect-token-value")
    monkeypatch.setenv("LAKEHOUSE_CATALOG__TOKEN", "catalog-token-value")
    monkeypatch.setenv(SECRET_ENV, SECRET)
    monkeypatch.delenv("SPARK_CONF_DIR", raising=False)
    return load_settings()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_launch_conf_authenticates_and_carries_no_secret(settings: Settings) -> None:
    for master in ("local[2]", "spark://127.0.0.1:7077"):
        conf = launch_conf(settings, SessionOptions(master=master), verify=False)
        assert {k: conf[k] for k in AUTH_CONF} == AUTH_CONF, master
        assert SECRET_KEY not in conf and SECRET not in str(conf), "launch conf goes on argv"


def test_the_connect_server_gets_the_secret_only_on_a_standalone_master(settings: Settings) -> None:
    assert SECRET_KEY not in connect_server_secret_conf(settings), "local mode makes its own secret"
    standalone = settings.model_copy(update={"spark": settings.spark.model_copy(update={"master": "spark://m:7077"})})
    assert connect_server_secret_conf(standalone)[SECRET_KEY] == SECRET


def test_a_standalone_master_without_the_secret_is_a_named_error(settings: Settings) -> None:
    missing = settings.spark.model_copy(update={"master": "spark://m:7077", "auth_secret": None})
    with pytest.raises(MissingSecretError, match="spark.auth_secret"):
        connect_server_secret_conf(settings.model_copy(update={"spark": missing}))


def test_the_conf_dir_is_private_and_keeps_the_base_conf(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "spark-defaults.conf").write_text("spark.master  spark://m:7077\nspark.authenticate false\n")
    target = spark_auth.write_conf_dir(tmp_path / "conf", SECRET, base)
    text = (target / "spark-defaults.conf").read_text()
    assert _mode(target) == 0o700 and _mode(target / "spark-defaults.conf") == 0o600
    assert "spark.master  spark://m:7077" in text
    assert "spark.authenticate false" not in text and "spark.authenticate true" in text
    assert f"{SECRET_KEY} {SECRET}" in text.splitlines()


@pytest.mark.parametrize("bad", ["", "two words", "with#hash", "line\nbreak"])
def test_a_secret_that_would_break_the_conf_line_is_refused_without_echoing_it(bad: str) -> None:
    with pytest.raises(SparkAuthSecretError) as refused:
        defaults_text(bad)
    assert (bad or "\0") not in str(refused.value)


def test_a_driver_for_a_standalone_master_gets_the_secret_from_a_file_not_argv(settings: Settings) -> None:
    from spark_jobs.submit import submit_command

    cmd = submit_command(settings, "static_data", [], SessionOptions("static_data", master="spark://m:7077"))
    assert not any(SECRET in part for part in cmd.argv)
    conf_dir = Path(cmd.env["SPARK_CONF_DIR"])
    assert conf_dir.is_relative_to(settings.local.state_dir) and _mode(conf_dir / "spark-defaults.conf") == 0o600
    assert f"{SECRET_KEY} {SECRET}" in (conf_dir / "spark-defaults.conf").read_text()
    local = submit_command(settings, "static_data", [], SessionOptions("static_data", master="local[1]"))
    assert "SPARK_CONF_DIR" not in local.env


def test_exec_runs_the_command_with_the_private_conf_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "baked"
    base.mkdir()
    (base / "spark-defaults.conf").write_text("spark.master spark://spark-master:7077\n")
    monkeypatch.setenv("SPARK_CONF_DIR", str(base))
    monkeypatch.setenv(SECRET_ENV, SECRET)
    ran: list[tuple[str, list[str], dict[str, str]]] = []
    monkeypatch.setattr(spark_auth.os, "execvpe", lambda file, args, env: ran.append((file, args, env)))

    spark_auth.main(["exec", "--", "spark-class", "org.apache.spark.deploy.master.Master"])

    (file, args, env) = ran[0]
    assert (file, args) == ("spark-class", ["spark-class", "org.apache.spark.deploy.master.Master"])
    conf = Path(env["SPARK_CONF_DIR"]) / "spark-defaults.conf"
    assert Path(env["SPARK_CONF_DIR"]) != base and _mode(conf) == 0o600
    assert conf.read_text().startswith("spark.master spark://spark-master:7077\n")
    assert SECRET not in capsys.readouterr().err


def test_exec_refuses_to_start_spark_without_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    monkeypatch.setattr(spark_auth.os, "execvpe", lambda *a: pytest.fail("started without the secret"))
    assert spark_auth.main(["exec", "--", "spark-class", "x"]) == 2


def test_the_web_uis_get_a_jws_filter_keyed_from_the_secret_and_tokens_verify() -> None:
    import base64

    import jwt

    conf = dict(line.split(" ", 1) for line in defaults_text(SECRET).splitlines() if not line.startswith("#"))
    assert conf["spark.ui.filters"] == spark_auth.UI_FILTER
    key = base64.urlsafe_b64decode(conf[spark_auth.UI_KEY_CONF])
    assert len(key) == 32 and SECRET.encode() not in key, "HS256 needs 256 bits; the RPC secret stays out"
    token = spark_auth.ui_headers(SECRET)["Authorization"].removeprefix("Bearer ")
    assert jwt.decode(token, key, algorithms=["HS256"])["sub"] == "lakehouse"
    forged = spark_auth.ui_headers("another-secret")["Authorization"].removeprefix("Bearer ")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key, algorithms=["HS256"])


def test_ui_token_needs_the_secret(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    assert spark_auth.main(["ui-token"]) == 2
    monkeypatch.setenv(SECRET_ENV, SECRET)
    assert spark_auth.main(["ui-token"]) == 0
    assert SECRET not in capsys.readouterr().out


def test_a_driver_started_from_python_and_local_airflow_read_the_secret_from_the_private_conf(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from lakehouse.engines.airflow_env import airflow_env
    from lakehouse.engines.spark_conf import AWS_SDK_ENV
    from spark_jobs import session

    # prepare_driver_environment writes os.environ: every name it touches is restored.
    touched = ("PYSPARK_GATEWAY_PORT", "SPARK_CONF_DIR", "SPARK_LOCAL_IP", "JAVA_HOME", "PYSPARK_PYTHON", "AWS_REGION")
    for name in (*touched, *AWS_SDK_ENV):
        monkeypatch.setenv(name, "x")
        monkeypatch.delenv(name)
    session.prepare_driver_environment(settings, "local[2]")
    assert "SPARK_CONF_DIR" not in session.os.environ, "local mode makes its own secret"
    session.prepare_driver_environment(settings, "spark://m:7077")
    conf = Path(session.os.environ["SPARK_CONF_DIR"]) / "spark-defaults.conf"
    assert f"{SECRET_KEY} {SECRET}" in conf.read_text() and _mode(conf) == 0o600

    assert "SPARK_CONF_DIR" not in airflow_env(settings, tmp_path / "airflow")
    standalone = settings.model_copy(update={"spark": settings.spark.model_copy(update={"master": "spark://m:7077"})})
    env = airflow_env(standalone, tmp_path / "airflow")
    assert SECRET not in str(env) and Path(env["SPARK_CONF_DIR"]) == conf.parent
