"""Which operator runs a Spark job, and how a Connect job gets its arguments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.providers.standard.operators.bash import BashOperator

from lakehouse.settings import load_settings
from lakehouse_airflow import spark

pytestmark = pytest.mark.unit


def test_spark_submit_without_a_connect_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAKEHOUSE_SPARK__CONNECT_URL", raising=False)
    op = spark.spark_job("transform", "raw_to_table", ["--endpoint", "e"], load_settings())
    assert isinstance(op, SparkSubmitOperator)


def test_a_connect_client_with_a_connect_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_SPARK__CONNECT_URL", "sc://127.0.0.1:15102")
    op = spark.spark_job("transform", "raw_to_table", ["--endpoint", "e"], load_settings())
    assert isinstance(op, BashOperator)
    assert op.task_id == "transform"
    assert op.bash_command.endswith("--remote sc://127.0.0.1:15102")
    assert "env" in BashOperator.template_fields  # where the XCom in an argument is rendered


def test_arguments_reach_the_job_verbatim_and_are_never_shell_code(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    echo = tmp_path / "echo_args.py"
    echo.write_text("import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    monkeypatch.setattr(spark, "_application", lambda job: str(echo))
    marker = tmp_path / "pwned"
    args = ["--endpoint", "e 1", "--run", f"raw/x/'; touch {marker}; $(touch {marker}) `touch {marker}`", ""]
    op = spark.spark_connect("transform", "any", args, "sc://127.0.0.1:15102")
    out = subprocess.run(["bash", "-c", op.bash_command], env={**os.environ, **op.env},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [*args, "--remote", "sc://127.0.0.1:15102"]
    assert not marker.exists()
    assert sys.executable in op.bash_command
