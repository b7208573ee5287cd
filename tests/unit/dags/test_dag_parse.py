"""Every DAG file parses without import errors and without parse-time I/O; broken
endpoint configs surface as one import error and never hide the others' DAGs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = Path(__file__).with_name("parse_dags.py")

ORIGINALS = {
    "spark_static_data_v1_skeleton",
    "spark_static_data_v2_submit",
    "spark_partitioned_data_v1",
    "scraper_pipeline_v1",
}
OPERATIONS = {"lakehouse_maintenance", "lakehouse_sla"}
# The example downstream DAG, for airflow.daily_aggregate_endpoint (sandbox_trades).
DOWNSTREAM = {"daily_sandbox_trades"}


def parse(env_extra: dict[str, str] | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(env_extra or {})
    out = subprocess.run(
        [sys.executable, str(SCRIPT), str(ROOT / "dags")], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def parsed() -> dict:
    return parse()


def test_no_import_errors_and_no_parse_time_io(parsed: dict) -> None:
    assert parsed["import_errors"] == {}
    assert parsed["io_attempts"] == []


def test_one_ingest_dag_per_endpoint_config_plus_the_originals(parsed: dict) -> None:
    endpoints = {p.stem for p in (ROOT / "config" / "endpoints").glob("*.yaml")}
    assert set(parsed["dag_ids"]) == {f"ingest_{e}" for e in endpoints} | ORIGINALS | OPERATIONS | DOWNSTREAM


def test_every_dag_is_paused_on_creation(parsed: dict) -> None:
    assert all(parsed["paused"].values())


def test_parse_time_per_file_is_reported(parsed: dict) -> None:
    lines = [f"{s['file']:40} {s['seconds'] * 1000:8.1f} ms  {s['dags']} DAG(s)" for s in parsed["stats"]]
    print("\nDAG parse times:\n" + "\n".join(lines))
    files = {s["file"] for s in parsed["stats"]}
    assert {p.name for p in (ROOT / "dags").glob("*.py")} == files
    assert all(s["seconds"] < 30 for s in parsed["stats"])


def test_a_broken_config_is_an_import_error_naming_file_and_field(tmp_path: Path) -> None:
    configs = tmp_path / "endpoints"
    shutil.copytree(ROOT / "config" / "endpoints", configs)
    broken = (configs / "sandbox_trades_page.yaml").read_text().replace("page_param:", "page_parm:")
    (configs / "sandbox_trades_page.yaml").write_text(broken)
    result = parse({"LAKEHOUSE_ENDPOINTS_DIR": str(configs)})
    assert set(result["import_errors"]) == {"endpoint_config_errors.py"}
    message = result["import_errors"]["endpoint_config_errors.py"]
    assert "sandbox_trades_page.yaml" in message and "pagination" in message and "page_parm" in message
    assert "ingest_sandbox_trades_page" not in result["dag_ids"]
    assert {"ingest_sandbox_trades", "ingest_sandbox_trades_cursor", "ingest_binance_trades"} <= set(result["dag_ids"])
