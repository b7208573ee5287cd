"""The daily table maintenance DAG: spark_jobs/maintenance.py over every table."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import DAG

from lakehouse.config.settings import load_settings
from lakehouse_airflow.spark import spark_submit


def maintenance_dag() -> DAG:
    with DAG(
        dag_id="lakehouse_maintenance",
        # Daily, at an hour the 15-minute ingests are cheapest to share the cluster with.
        schedule="30 3 * * *",
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        tags=["maintenance", "spark"],
        is_paused_upon_creation=True,
        doc_md=(
            "Compacts small files of every Iceberg table (rewrite_data_files) and expires old "
            "snapshots where Iceberg GC is enabled. Nessie creates tables with `gc.enabled=false`; "
            "their old files are Nessie GC's to clean up (see docs/spark.md)."
        ),
    ) as dag:
        spark_submit("compact_and_expire", "maintenance", [], load_settings())
    return dag
