"""Through the running Airflow (scheduler, LocalExecutor): an ingest run's transform
emits its table's Asset event, the example downstream DAG runs because of it and
writes the day's aggregate; the run's OpenLineage events (file transport) name the
raw prefix as input and the tables written as outputs."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import quote

import pytest
from pyiceberg.expressions import EqualTo

from lakehouse.config.settings import load_settings
from lakehouse.engines.airflow_env import lineage_file
from lakehouse.tables.catalog import load_catalog

from .conftest import TERMINAL_RUN_STATES, AirflowServer

INGEST = "ingest_e2e_trades"
DOWNSTREAM = "daily_e2e_trades"  # airflow.daily_aggregate_endpoint = e2e_trades (conftest)
# A day no other test lands e2e_trades slots on, so its aggregate is this run's alone.
SLOT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
DAY = SLOT.date().isoformat()


@dataclass
class Ingested:
    server: AirflowServer
    dag_run_id: str


def _cli(server: AirflowServer, *args: str) -> None:
    # The CLI, as an operator types it (and no api-server timeout on a loaded machine).
    out = server.cli(*args)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]


def _trigger(server: AirflowServer, dag_id: str, logical: datetime) -> str:
    # Through the REST API (the UI's "Trigger"): Airflow 3.3.2's `airflow dags trigger
    # --logical-date` infers the data interval from the time of the call, so the run
    # would ingest the current slot, not this one.
    resp = server.api().post(
        f"{server.url}/api/v2/dags/{dag_id}/dagRuns",
        json={"logical_date": logical.isoformat(), "dag_run_id": f"test_{logical:%Y%m%dT%H%M}"},
        timeout=120,
    )
    resp.raise_for_status()
    return str(resp.json()["dag_run_id"])


@pytest.fixture(scope="module")
def ingested(airflow_server: AirflowServer, spark_connect_url: str) -> Ingested:
    """One ingest run of SLOT, triggered through the API and run by the scheduler, with
    the downstream DAG unpaused so the scheduler acts on the table's Asset event."""
    server = airflow_server
    server.wait_for_dag(DOWNSTREAM)
    _cli(server, "dags", "unpause", DOWNSTREAM)
    # Unpausing schedules the latest slot (catchup is off); that run lands today. Let it
    # and its downstream run finish before this slot's run: Airflow 3.3.2 can drop the
    # queue entry of an Asset event that lands while the scheduler creates the run for
    # another one (apache/airflow#54659, fixed upstream by #70972), and the downstream
    # DAG would then not run for this slot until the next event.
    _cli(server, "dags", "unpause", INGEST)
    try:
        server.wait_for_runs(INGEST, lambda rs: bool(rs) and all(r["state"] in TERMINAL_RUN_STATES for r in rs), 300)
        server.wait_for_runs(
            DOWNSTREAM, lambda rs: bool(rs) and all(r["state"] in TERMINAL_RUN_STATES for r in rs), 300
        )
        run_id = _trigger(server, INGEST, SLOT + timedelta(minutes=15))
        runs = server.wait_for_runs(
            INGEST,
            lambda rs: any(r["dag_run_id"] == run_id and r["state"] in TERMINAL_RUN_STATES for r in rs),
            timeout=300,
        )
    finally:
        _cli(server, "dags", "pause", INGEST)
    mine = next(r for r in runs if r["dag_run_id"] == run_id)
    assert mine["state"] == "success", mine
    return Ingested(server, run_id)


def _triggered_by(server: AirflowServer, run: dict) -> set[str]:
    """The source DAG runs of the Asset events a downstream run consumed."""
    path = f"dags/{DOWNSTREAM}/dagRuns/{quote(run['dag_run_id'], safe='')}/upstreamAssetEvents"
    return {e["source_run_id"] for e in server.get(path)["asset_events"]}


def _consumed_the_ingest_event(ingested: Ingested):
    def done(runs: list[dict]) -> bool:
        finished = [r for r in runs if r["run_type"] == "asset_triggered" and r["state"] in TERMINAL_RUN_STATES]
        return all(r["state"] in TERMINAL_RUN_STATES for r in runs) and any(
            ingested.dag_run_id in _triggered_by(ingested.server, r) for r in finished
        )

    return done


def test_the_downstream_dag_runs_on_the_tables_asset_event_and_writes_the_day(ingested: Ingested) -> None:
    server = ingested.server
    try:
        runs = server.wait_for_runs(DOWNSTREAM, _consumed_the_ingest_event(ingested), timeout=300)
    finally:
        _cli(server, "dags", "pause", DOWNSTREAM)
    triggered = [r for r in runs if r["run_type"] == "asset_triggered"]
    assert triggered and {r["state"] for r in runs} == {"success"}, [(r["dag_run_id"], r["state"]) for r in runs]
    assert not [r for r in runs if r["run_type"] == "manual"], "nobody triggered the downstream DAG by hand"

    catalog = load_catalog(load_settings())
    source = catalog.load_table("market.e2e_trades").scan(row_filter=EqualTo("ds", DAY)).to_arrow()
    daily = catalog.load_table("market.e2e_trades_daily").scan(row_filter=EqualTo("ds", DAY)).to_arrow().to_pylist()
    assert len(daily) == 1, daily
    row = daily[0]
    assert row["rows"] == source.num_rows == 900
    assert row["slots"] == 1
    assert row["qty_sum"] == sum((q for q in source.column("qty").to_pylist() if q is not None), Decimal(0))
    assert row["quote_qty_sum"] == sum((q for q in source.column("quote_qty").to_pylist() if q is not None), Decimal(0))


def _events(ingested: Ingested) -> list[dict]:
    path = lineage_file(ingested.server.service.settings, ingested.server.service.home)
    deadline = time.monotonic() + 60
    while True:
        lines = path.read_text().splitlines() if path.is_file() else []
        events = [json.loads(line) for line in lines if line.strip()]
        mine = [e for e in events if ingested.dag_run_id in json.dumps(e.get("run", {}).get("facets", {}))]
        if any(e["job"]["name"] == f"{INGEST}.transform" and e["eventType"] == "COMPLETE" for e in mine):
            return mine
        if time.monotonic() > deadline:
            raise AssertionError(f"no COMPLETE event of {INGEST}.transform for {ingested.dag_run_id} in {path}")
        time.sleep(1)


def _datasets(event: dict, side: str) -> set[tuple[str, str]]:
    return {(d["namespace"], d["name"]) for d in event.get(side, [])}


def test_the_ingest_runs_lineage_names_the_raw_prefix_and_the_tables_written(ingested: Ingested) -> None:
    events = _events(ingested)
    complete = {e["job"]["name"]: e for e in events if e["eventType"] == "COMPLETE"}
    raw = ("s3://warehouse", "raw/e2e_trades")
    transform = complete[f"{INGEST}.transform"]
    assert _datasets(transform, "inputs") == {raw}
    assert _datasets(transform, "outputs") == {
        ("iceberg://lakehouse", "market.e2e_trades"),
        ("iceberg://lakehouse", "market.e2e_trades__quarantine"),
    }
    publish = complete[f"{INGEST}.publish_signal"]
    assert _datasets(publish, "inputs") == {raw}
    assert _datasets(publish, "outputs") == {("iceberg://lakehouse", "scraper.signals")}
    assert {e["job"]["namespace"] for e in events} == {"lakehouse"}
