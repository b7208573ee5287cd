"""Compose: Spark's own RPC asks for a credential. The master, the workers (and so their
executors), spark-connect and the Airflow worker (a driver in submit mode) all run
with spark.authenticate and the shared secret from .env, which reaches each JVM through
a private spark-defaults.conf written by `python -m lakehouse.engines.spark_auth exec`, never
through argv or the committed conf. Before this, the master took any client on the
project network."""

from __future__ import annotations

from typing import Any

from deployfiles import ROOT, environment_of, parse_spark_defaults, variable_uses

from lakehouse.engines import deploy
from lakehouse.engines.spark_auth import AUTH_CONF, SECRET_ENV, SECRET_KEY

WRAPPER = ["python", "-m", "lakehouse.engines.spark_auth", "exec", "--"]
#: every service that starts a Spark JVM (a driver, a daemon, or executors through one)
SPARK_JVMS = ("spark-master", "spark-worker", "spark-connect", "airflow-worker")


def _words(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(c) for c in command]


def test_every_spark_jvm_starts_through_the_auth_wrapper(raw_compose) -> None:
    for name in SPARK_JVMS:
        words = _words(raw_compose["services"][name])
        assert words[: len(WRAPPER)] == WRAPPER, f"{name} starts Spark without its RPC secret: {words[:6]}"
        assert len(words) > len(WRAPPER), name


def test_every_spark_jvm_gets_the_secret_from_env_never_a_literal(raw_compose) -> None:
    for name in SPARK_JVMS:
        value = environment_of(raw_compose["services"][name]).get(SECRET_ENV)
        assert value is not None, f"{name} has no {SECRET_ENV}"
        assert [(u.name, u.op) for u in variable_uses(value)] == [(SECRET_ENV, ":?")], name


def test_the_secret_is_on_no_command_line(raw_compose_text: str, raw_compose) -> None:
    for name, service in raw_compose["services"].items():
        assert SECRET_KEY not in " ".join(_words(service)), f"{name} puts Spark's secret on argv"
    assert "SPARK_DAEMON_JAVA_OPTS" not in raw_compose_text and "SPARK_MASTER_OPTS" not in raw_compose_text


def test_the_committed_spark_defaults_require_authentication_without_the_secret() -> None:
    props = parse_spark_defaults((ROOT / deploy.SPARK_DEFAULTS_PATH).read_text())
    for key, value in AUTH_CONF.items():
        assert props.get(key) == value, key
    assert SECRET_KEY not in props, "the committed (and baked) file must not hold the secret"


def test_clients_that_start_no_spark_jvm_do_not_get_the_secret(raw_compose) -> None:
    # Jupyter and the Connect clients talk to spark-connect with its token only.
    for name in ("jupyter", "scrapworker", "trino", "nessie"):
        assert SECRET_ENV not in environment_of(raw_compose["services"][name]), name


def test_the_spark_ui_health_checks_send_the_token(raw_compose) -> None:
    # The UIs answer 403 without it (Spark's JWSFilter, configured with the secret).
    for name, port in (("spark-master", 8080), ("spark-worker", 8081)):
        test = raw_compose["services"][name]["healthcheck"]["test"]
        assert test == [
            "CMD",
            "python",
            "-m",
            "lakehouse.engines.spark_auth",
            "ui-check",
            f"http://127.0.0.1:{port}/json/",
        ]
