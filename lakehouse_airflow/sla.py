"""The ``lakehouse_sla`` DAG: fails, naming each late endpoint and its overdue slots,
when an endpoint misses its ``sla:`` (lakehouse.ops.sla has the rule).

Airflow 3's own deadline alerts watch how long a DAG *run* takes; an endpoint whose
runs never start, or whose crawl failed days ago, breaches no run deadline. The
signal table is what says which slots landed, so the check reads it, at the end of
its run's interval (a rerun of an old run checks that moment, not today).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import DAG, task

from lakehouse.config.settings import load_settings
from lakehouse.endpoints import validate_all
from lakehouse.ops import sla

log = logging.getLogger(__name__)

DAG_ID = "lakehouse_sla"


def _checked_at(context: dict[str, Any]) -> datetime:
    moment = context.get("data_interval_end") or context.get("logical_date") or datetime.now(UTC)
    return moment if isinstance(moment, datetime) else datetime.fromisoformat(str(moment))


def sla_dag() -> DAG:
    settings = load_settings()
    with DAG(
        dag_id=DAG_ID,
        schedule=settings.freshness.sla_schedule,
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        tags=["sla", "operations"],
        is_paused_upon_creation=True,
        doc_md=(
            "### lakehouse_sla\n\nEvery endpoint that declares `sla:` (the most a slot may lag "
            "after it ends) is checked against the signal table. The run fails when a slot of "
            "the freshness window has no signal and its end plus the SLA is past; the task log "
            "names each late endpoint and its missing slots. `lakehouse signals <endpoint>` "
            "shows the same gaps."
        ),
    ) as dag:

        @task(task_id="check_slas", retries=0)
        def check_slas(**context: Any) -> dict[str, Any]:
            from airflow.sdk.exceptions import AirflowFailException

            configs, _errors = validate_all()
            at = _checked_at(context)
            checks = sla.check_slas(load_settings(), configs, now=at)
            for check in checks:
                log.info("%s", check.describe())
            if not checks:
                log.info("no endpoint declares sla: nothing to check")
            try:
                sla.raise_for_breaches(checks)
            except sla.SlaBreachedError as exc:
                # Fail without retries: a retry seconds later sees the same gaps.
                raise AirflowFailException(str(exc)) from exc
            # XCom: names and counts only.
            return {"checked_at": at.isoformat(), "endpoints": [c.endpoint for c in checks]}

        check_slas()
    return dag
