"""The example downstream DAG: scheduled on its endpoint table's Asset, it aggregates
the days its triggering ingest runs wrote."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lakehouse.config.settings import load_settings
from lakehouse.endpoints import endpoint_path, load_endpoint
from lakehouse_airflow.downstream import ALL_DAYS, DownstreamConfigError, daily_aggregate_dag, days_of_events

pytestmark = pytest.mark.unit


@dataclass
class Run:
    data_interval_start: datetime | None
    data_interval_end: datetime | None


@dataclass
class Event:
    source_dag_run: Run | None


def test_scheduled_on_the_tables_asset_and_writing_its_daily_table() -> None:
    dag = daily_aggregate_dag(["qty"], load_settings())
    assert dag is not None and dag.dag_id == "daily_sandbox_trades"
    assert [a.uri for a in dag.timetable.asset_condition.objects] == ["iceberg://lakehouse/market/sandbox_trades"]
    aggregate = dag.get_task("aggregate")
    assert [a.uri for a in aggregate.outlets] == ["iceberg://lakehouse/market/sandbox_trades_daily"]


def test_the_days_are_those_of_the_triggering_runs_slots() -> None:
    config = load_endpoint(endpoint_path("sandbox_trades"))
    # A scheduled run's interval is its slot; a manual run's is empty (the slot ends at it).
    scheduled = Run(datetime(2026, 11, 24, 23, 45, tzinfo=UTC), datetime(2026, 11, 25, 0, 0, tzinfo=UTC))
    manual = Run(datetime(2026, 11, 26, 0, 15, tzinfo=UTC), datetime(2026, 11, 26, 0, 15, tzinfo=UTC))
    events = {"asset": [Event(scheduled), Event(manual), Event(None)]}
    assert days_of_events(config, events) == "2026-11-24,2026-11-26"


def test_without_a_triggering_event_every_day_is_rebuilt() -> None:
    assert days_of_events(load_endpoint(endpoint_path("sandbox_trades")), {}) == ALL_DAYS


def test_an_endpoint_without_the_columns_is_an_import_error_naming_them() -> None:
    with pytest.raises(DownstreamConfigError, match="no column"):
        daily_aggregate_dag(["volume"], load_settings())


def test_no_endpoint_leaves_the_example_out() -> None:
    assert daily_aggregate_dag(["qty"], load_settings(airflow={"daily_aggregate_endpoint": None})) is None
    assert daily_aggregate_dag(["qty"], load_settings(airflow={"daily_aggregate_endpoint": "nowhere"})) is None


def test_an_endpoint_without_a_table_is_an_import_error_naming_the_setting() -> None:
    with pytest.raises(DownstreamConfigError, match="AIRFLOW__DAILY_AGGREGATE_ENDPOINT"):
        daily_aggregate_dag(["qty"], load_settings(airflow={"daily_aggregate_endpoint": "sandbox_trades_page"}))


def test_only_the_aggregated_endpoints_file_is_read_at_parse_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every parse of the DAG file pays for what the factory reads: one config, not the
    # whole directory (a broken neighbour is endpoint_config_errors' business).
    directory = tmp_path
    source = endpoint_path("sandbox_trades").read_text(encoding="utf-8")
    (directory / "sandbox_trades.yaml").write_text(source, encoding="utf-8")
    (directory / "broken.yaml").write_text("name: broken\nrequest: [", encoding="utf-8")
    monkeypatch.setenv("LAKEHOUSE_ENDPOINTS_DIR", str(directory))

    def refuse(*_args: object) -> None:
        raise AssertionError("validate_all at DAG-parse time")

    monkeypatch.setattr("lakehouse.endpoints.validate_all", refuse)
    dag = daily_aggregate_dag(["qty"], load_settings())
    assert dag is not None and dag.dag_id == "daily_sandbox_trades"


def test_a_broken_config_leaves_the_example_out_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "sandbox_trades.yaml").write_text("name: sandbox_trades\nrequest: 3\n", encoding="utf-8")
    monkeypatch.setenv("LAKEHOUSE_ENDPOINTS_DIR", str(tmp_path))
    assert daily_aggregate_dag(["qty"], load_settings()) is None
    assert "sandbox_trades.yaml" in caplog.text and "left out" in caplog.text
