"""Which operator runs a Spark job, and how a Connect job gets its arguments."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG

from lakehouse.config.settings import load_settings
from lakehouse_airflow import spark

pytestmark = pytest.mark.unit


def _dag() -> DAG:
    return DAG("t", schedule=None, start_date=datetime(2025, 1, 1, tzinfo=UTC))


def test_spark_submit_when_the_engine_is_submit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_SPARK__ENGINE", "submit")
    with _dag():
        op = spark.spark_job("transform", "raw_to_table", ["--endpoint", "e"], load_settings())
    assert isinstance(op, SparkSubmitOperator)


def test_a_connect_client_task_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAKEHOUSE_SPARK__ENGINE", raising=False)
    with _dag():
        op = spark.spark_job("transform", "raw_to_table", ["--endpoint", "e"], load_settings())
    assert not isinstance(op, SparkSubmitOperator)
    assert op.task_id == "transform"
    assert "op_args" in type(op).template_fields  # where the XCom in an argument is rendered


def test_arguments_reach_the_job_verbatim_and_never_as_shell_text(monkeypatch: pytest.MonkeyPatch) -> None:
    import spark_jobs.cli

    seen: list[tuple[str, list[str]]] = []
    monkeypatch.setattr("lakehouse_airflow.spark.ensure_engine", lambda settings: None)
    monkeypatch.setattr(spark_jobs.cli, "run_job", lambda job, argv, settings: seen.append((job, argv)) or 0)
    args = ["--endpoint", "e 1", "--run", "raw/x/'; touch /tmp/pwned; $(touch /tmp/pwned) `touch /tmp/pwned`", ""]
    with _dag():
        op = spark.spark_connect("transform", "any", args)
    assert list(op.op_args) == [args]
    op.python_callable(*op.op_args)
    assert seen == [("any", args)]


def test_a_failed_job_fails_the_task(monkeypatch: pytest.MonkeyPatch) -> None:
    import spark_jobs.cli

    monkeypatch.setattr("lakehouse_airflow.spark.ensure_engine", lambda settings: None)
    monkeypatch.setattr(spark_jobs.cli, "run_job", lambda job, argv, settings: 2)
    with pytest.raises(RuntimeError, match="exited with status 2"):
        spark.run_on_connect("raw_to_table", [])


def test_building_the_connect_task_imports_no_pyspark() -> None:
    # DAG files are parsed often; the Connect client is imported only when a task runs.
    code = (
        "import json, sys\n"
        "from datetime import datetime, timezone\n"
        "from airflow.sdk import DAG\n"
        "from lakehouse.config.settings import load_settings\n"
        "from lakehouse_airflow.spark import spark_job\n"
        "with DAG('t', schedule=None, start_date=datetime(2025, 1, 1, tzinfo=timezone.utc)):\n"
        "    spark_job('transform', 'raw_to_table', ['--endpoint', 'e'], load_settings())\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'spark_jobs'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "LAKEHOUSE_SPARK__ENGINE": "connect"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("engine", ["connect", "submit"])
def test_transforms_run_in_the_spark_pool(monkeypatch: pytest.MonkeyPatch, engine: str) -> None:
    from lakehouse.engines.airflow_env import SPARK_POOL

    monkeypatch.setenv("LAKEHOUSE_SPARK__ENGINE", engine)
    with _dag():
        op = spark.spark_job("transform", "raw_to_table", ["--endpoint", "e"], load_settings())
    assert op.pool == SPARK_POOL
