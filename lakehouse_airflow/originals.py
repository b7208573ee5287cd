"""The original design's four pipelines, kept with their DAG ids: each checks one
layer of the stack, in order (scheduler → Spark submit → partitioned writes → crawl)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from airflow.sdk import DAG, task

from lakehouse.config.settings import load_settings
from lakehouse.endpoints import endpoint_path, load_endpoint
from lakehouse_airflow.ingest import ingest_dag
from lakehouse_airflow.spark import spark_submit

log = logging.getLogger(__name__)

START = datetime(2026, 1, 1, tzinfo=UTC)


def skeleton() -> DAG:
    with DAG(
        dag_id="spark_static_data_v1_skeleton",
        schedule=None,
        start_date=START,
        catchup=False,
        tags=["original", "health"],
        is_paused_upon_creation=True,
        doc_md="A single Python task: if it goes green, the scheduler and a worker are healthy.",
    ) as dag:

        @task(task_id="say_hello")
        def say_hello() -> str:
            log.info("hello from the lakehouse: scheduler and worker are healthy")
            return "hello"

        say_hello()
    return dag


def static_submit() -> DAG:
    with DAG(
        dag_id="spark_static_data_v2_submit",
        schedule=None,
        start_date=START,
        catchup=False,
        tags=["original", "spark"],
        is_paused_upon_creation=True,
        doc_md="spark-submit (client mode) of spark_jobs/static_data.py: replaces `default.static_data`.",
    ) as dag:
        spark_submit("write_static_data", "static_data", [], load_settings())
    return dag


def partitioned() -> DAG:
    with DAG(
        dag_id="spark_partitioned_data_v1",
        schedule="*/15 * * * *",
        start_date=START,
        catchup=False,
        tags=["original", "spark"],
        is_paused_upon_creation=True,
        doc_md=(
            "spark_jobs/partitioned_data.py for the run's slot: partitions (ds, hr, min) come from "
            "`data_interval_start`, so a rerun or backfill replaces exactly its own partition."
        ),
    ) as dag:
        spark_submit(
            "write_partitioned_data",
            "partitioned_data",
            ["--slot", "{{ data_interval_start.isoformat() }}"],
            load_settings(),
        )
    return dag


def scraper_pipeline() -> DAG:
    """The full crawl pipeline for the original design's Binance trades endpoint."""

    return ingest_dag(load_endpoint(endpoint_path("binance_trades")), dag_id="scraper_pipeline_v1")
