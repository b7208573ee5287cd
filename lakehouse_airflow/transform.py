"""The transform and count-check tasks of an ingest DAG whose endpoint declares a table."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import DAG, task

from lakehouse.config.settings import Settings, load_settings
from lakehouse.endpoints import EndpointConfig
from lakehouse.pipeline import steps as pipeline
from lakehouse_airflow.lineage import transform_lineage
from lakehouse_airflow.spark import spark_job

log = logging.getLogger(__name__)


def add_transform(dag: DAG, config: EndpointConfig, run_id: Any, published: Any, settings: Settings) -> None:
    assert config.table is not None
    name = config.name
    transform = spark_job(
        "transform",
        "raw_to_table",
        ["--endpoint", name, "--run", "{{ ti.xcom_pull(task_ids='wait_for_crawl') }}"],
        settings,
    )
    # An Asset event per table written (downstream DAGs schedule on them) and the
    # run's lineage: the endpoint's raw landings in, the table and its quarantine out.
    transform.inlets, transform.outlets = transform_lineage(
        settings, name, config.table.identifier, config.table.quarantine_identifier
    )

    @task(task_id="check_counts")
    def check_counts(crawl_run_id: str) -> dict[str, object]:
        from dataclasses import asdict

        assert config.table is not None
        counts = pipeline.check_table_counts(load_settings(), config.table, crawl_run_id)
        log.info("%s: %s", config.table.identifier, counts)
        return asdict(counts)  # XCom: JSON for the UI (counts and names, no secrets)

    published >> transform >> check_counts(run_id)
