"""One `ingest_<endpoint>` DAG per endpoint config.

enqueue_crawl → wait_for_crawl (deferred to the triggerer: a long crawl holds no
worker slot, and the worker's announcement resumes it at once) → publish_signal →
[transform → check_counts, when the endpoint declares a table]. Each task is
idempotent for its slot, so clearing any of them re-does only that step; a Nessie
outage during publish retries only the publish.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from lakehouse.config.paths import endpoints_dir
from lakehouse.config.settings import Settings, load_settings
from lakehouse.endpoints import EndpointConfig, endpoint_path, load_endpoint, validate_all
from lakehouse.engines.airflow_env import MAX_ACTIVE_RUNS
from lakehouse.errors import EndpointConfigsError
from lakehouse.pipeline import steps as pipeline
from lakehouse_airflow.lineage import signal_lineage
from lakehouse_airflow.operators import CrawlWaitOperator
from lakehouse_airflow.parent_wait import ParentSlotWaitOperator
from lakehouse_airflow.transform import add_transform

log = logging.getLogger(__name__)


def _doc(config: EndpointConfig) -> str:
    table = f"`{config.table.identifier}`" if config.table else "no table (raw landing + signal only)"
    return (
        f"### ingest_{config.name}\n\n{config.description or ''}\n\n"
        f"* source: `{config.request.method} {config.request.url}` ({config.pagination.type} pagination)\n"
        f"* rate limit: {config.rate_limit.describe()}\n"
        f"* schedule: `{config.schedule}` (catchup {'on' if config.catchup else 'off'})\n"
        f"* raw landing: `s3://<bucket>/raw/{config.name}/ds=…/hr=…/min=…/<run_id>/`\n"
        f"* signal row: `scraper.signals`; table: {table}\n\n"
        "A run ingests the latest slot complete at its logical date: the run at 10:00 "
        "ingests 09:45-10:00 (for a backfill, `--from-date`/`--to-date` name slot ends).\n\n"
        "Param `force_recrawl`: crawl the slot again even if it already landed "
        "(otherwise a rerun reuses the landed raw data and replaces the signal row and partition)."
    )


def ingest_dag(config: EndpointConfig, settings: Settings | None = None, dag_id: str | None = None) -> DAG:
    settings = settings or load_settings()
    af = settings.airflow
    name = config.name
    start = datetime(config.start_date.year, config.start_date.month, config.start_date.day, tzinfo=UTC)

    with DAG(
        dag_id=dag_id or f"ingest_{name}",
        schedule=config.schedule,
        start_date=start,
        catchup=config.catchup,
        tags=["ingest", *config.tags],
        doc_md=_doc(config),
        is_paused_upon_creation=True,
        # Overlapping runs of a backfill; the UI's backfill form caps its max at this.
        max_active_runs=MAX_ACTIVE_RUNS,
        params={
            "force_recrawl": Param(False, type="boolean", description="Crawl again even if the slot already landed.")
        },
        default_args={"retries": af.task_retries, "retry_delay": timedelta(seconds=af.retry_delay_seconds)},
    ) as dag:
        # An incremental slot asks from the previous slot's mark: it starts only after
        # the previous run's crawl landed and published (also in a parallel backfill).
        @task(task_id="enqueue_crawl", wait_for_downstream=config.incremental is not None)
        def enqueue_crawl(**context: Any) -> str:

            cfg = load_endpoint(endpoint_path(name))
            slot_start, slot_end = pipeline.slot_of_run(
                cfg, context["data_interval_start"], context["data_interval_end"]
            )
            force = bool(context["params"].get("force_recrawl"))
            result = pipeline.enqueue(load_settings(), cfg, slot_start, slot_end, force=force)
            log.info(
                "crawl %s for slot %s..%s: %s (config %s)",
                result.run_id,
                slot_start,
                slot_end,
                result.outcome,
                result.config_hash[:12],
            )
            return result.run_id  # XCom carries the run id only: no secrets

        # Lineage and Asset events: reads the landing, writes scraper.signals.
        signal_in, signal_out = signal_lineage(settings, name)

        @task(task_id="publish_signal", inlets=signal_in, outlets=signal_out)
        def publish_signal(crawl_run_id: str) -> dict[str, Any]:

            signal = pipeline.publish_signal(load_settings(), crawl_run_id)
            log.info("signal row for %s: %s (%s records)", crawl_run_id, signal.s3_path, signal.records)
            return {"run_id": crawl_run_id, "s3_path": signal.s3_path, "records": signal.records}

        run_id = enqueue_crawl()
        if config.parent is not None:
            # The child's job reads the parent's landing of the same slot.
            ParentSlotWaitOperator(task_id="wait_for_parent", endpoint=name, retries=0) >> run_id
        # Deferrable: it waits in the triggerer, woken by the worker's announcement.
        waited = CrawlWaitOperator(task_id="wait_for_crawl", crawl_run_id=run_id, retries=0)
        published = publish_signal(run_id)  # type: ignore[arg-type]  # an XComArg, resolved at run time
        waited >> published

        if config.table is not None:
            add_transform(dag, config, run_id, published, settings)

    return dag


def build_ingest_dags(directory=None) -> dict[str, DAG]:
    """DAGs of every valid config; broken ones are reported by endpoint_config_errors."""

    configs, _errors = validate_all(directory)
    settings = load_settings()
    return {f"ingest_{c.name}": ingest_dag(c, settings) for c in configs}


def raise_config_errors(directory=None) -> None:
    """Raise one error naming every broken config's file and field (an import error
    in the Airflow UI), without affecting the DAGs of the valid ones."""

    _configs, errors = validate_all(directory)
    if errors:
        raise EndpointConfigsError(str(directory or endpoints_dir()), errors)
