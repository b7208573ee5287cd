"""The original design's DAGs and the maintenance DAG, run by `airflow dags test`:
SparkSubmitOperator in client mode through the `spark_default` connection."""

from __future__ import annotations

from datetime import UTC, datetime

from lakehouse.config.settings import load_settings
from lakehouse.tables.catalog import load_catalog

from .conftest import Airflow

SLOT = datetime(2026, 11, 26, 10, 15, tzinfo=UTC)


def _ok(out) -> None:
    assert out.returncode == 0, (out.stdout + out.stderr)[-5000:]


def test_the_health_dag_says_hello(airflow: Airflow) -> None:
    out = airflow.dags_test("spark_static_data_v1_skeleton", SLOT)
    _ok(out)
    assert "scheduler and worker are healthy" in out.stdout + out.stderr


def test_spark_submit_dags_write_their_tables_with_real_partitions(airflow: Airflow) -> None:
    _ok(airflow.dags_test("spark_static_data_v2_submit", SLOT))
    _ok(airflow.dags_test("spark_partitioned_data_v1", SLOT))
    catalog = load_catalog(load_settings())
    assert catalog.load_table("default.static_data").scan().to_arrow().num_rows == 5
    partitioned = catalog.load_table("default.partitioned_data")
    partitions = {tuple(f.file.partition) for f in partitioned.scan().plan_files()}
    assert ("2026-11-26", 10, 15) in partitions
    assert all(None not in p for p in partitions)


def test_the_maintenance_dag_compacts_every_table(airflow: Airflow) -> None:
    _ok(airflow.dags_test("spark_static_data_v2_submit", SLOT))
    out = airflow.dags_test("lakehouse_maintenance", SLOT)
    _ok(out)
    # spark-submit's output (the job's per-table summary) is in the task log.
    text = out.stdout + out.stderr
    assert "default.static_data: compacted" in text
