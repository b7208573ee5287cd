"""An example downstream DAG: scheduled on an endpoint table's Asset, it builds that
table's daily aggregate (spark_jobs/daily_aggregate.py) on the transform engine.

Each ingest run whose transform writes the table emits an Asset event
(lakehouse_airflow.lineage); the scheduler starts ``daily_<endpoint>`` for the events
it has not consumed yet, and this DAG recomputes exactly the days of the slots those
ingest runs wrote, read from the events' source runs. A run with no triggering
event (started by hand) rebuilds every day.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import DAG, task

from lakehouse.config.settings import Settings, load_settings
from lakehouse.endpoints import EndpointConfig, EndpointConfigError, endpoint_path, load_endpoint
from lakehouse.pipeline import steps as pipeline
from lakehouse_airflow.lineage import table_asset
from lakehouse_airflow.spark import spark_job

log = logging.getLogger(__name__)

#: the job's --days value that rebuilds every day (spark_jobs.daily_aggregate.ALL_DAYS)
ALL_DAYS = "all"


class DownstreamConfigError(ValueError):
    """The example DAG's endpoint or columns do not fit: an import error in the UI."""


def _aggregate_config(name: str, sums: Sequence[str]) -> EndpointConfig | None:

    # Only the one file: every DAG-file parse pays for this, and validating the whole
    # directory is the ingest factory's and endpoint_config_errors' job.
    try:
        path = endpoint_path(name)
        config = load_endpoint(path) if path.is_file() else None
    except EndpointConfigError as exc:
        log.warning("%s: the example daily aggregate DAG is left out", exc)
        return None
    if config is None:
        # An example, not a contract: a deployment without the demo endpoint has no DAG
        # here rather than an import error (a broken config is endpoint_config_errors').
        log.warning("no endpoint %r: the example daily aggregate DAG is left out", name)
        return None
    if config.table is None:
        raise DownstreamConfigError(
            f"the example downstream DAG aggregates endpoint {name!r}, which declares no table: set "
            "airflow.daily_aggregate_endpoint (LAKEHOUSE_AIRFLOW__DAILY_AGGREGATE_ENDPOINT) to an endpoint "
            "with a table, or to null to leave the example out"
        )
    columns = {c.name for c in config.table.columns}
    missing = [s for s in sums if s not in columns]
    if missing:
        raise DownstreamConfigError(f"{config.table.identifier} has no column(s) {', '.join(missing)} to sum")
    return config


def days_of_events(config: EndpointConfig, events: Any) -> str:
    """The days (comma-separated) of the slots the triggering ingest runs wrote, or
    ALL_DAYS when the run has no triggering event."""

    days: set[str] = set()
    seen = 0
    for asset_events in (events or {}).values():
        for event in asset_events:
            seen += 1
            run = event.source_dag_run
            if run is None or run.data_interval_start is None or run.data_interval_end is None:
                continue
            slot_start, _ = pipeline.slot_of_run(config, run.data_interval_start, run.data_interval_end)
            days.add(slot_start.date().isoformat())
    if not seen:
        return ALL_DAYS
    return ",".join(sorted(days))


def daily_aggregate_dag(sums: Sequence[str], settings: Settings | None = None) -> DAG | None:
    """``daily_<endpoint>`` for ``airflow.daily_aggregate_endpoint``; None when that is
    unset or names no endpoint."""
    settings = settings or load_settings()
    name = settings.airflow.daily_aggregate_endpoint
    config = _aggregate_config(name, sums) if name else None
    if config is None:
        return None
    assert config.table is not None
    name = config.name
    source = table_asset(settings, config.table.identifier)
    daily = table_asset(settings, f"{config.table.identifier}_daily")
    with DAG(
        dag_id=f"daily_{name}",
        schedule=[source],
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        # One writer of the daily table at a time; events that arrive meanwhile start
        # the next run.
        max_active_runs=1,
        tags=["downstream", "example", "spark"],
        is_paused_upon_creation=True,
        doc_md=(
            f"### daily_{name}\n\nRuns when an ingest run writes `{config.table.identifier}` "
            f"(Asset `{source.uri}`) and recomputes `{config.table.identifier}_daily` for the days "
            f"it wrote: rows, slots and the sums of {', '.join(sums) or 'no column'} per day. "
            "Triggered by hand, it rebuilds every day."
        ),
    ) as dag:

        @task(task_id="days_to_aggregate")
        def days_to_aggregate(**context: Any) -> str:

            days = days_of_events(load_endpoint(endpoint_path(name)), context.get("triggering_asset_events"))
            log.info("days to aggregate: %s", days or "none")
            return days

        job_args = ["--endpoint", name, "--days", "{{ ti.xcom_pull(task_ids='days_to_aggregate') }}"]
        for column in sums:
            job_args += ["--sum", column]
        aggregate = spark_job("aggregate", "daily_aggregate", job_args, settings)
        aggregate.inlets, aggregate.outlets = [source], [daily]
        days_to_aggregate() >> aggregate
    return dag
