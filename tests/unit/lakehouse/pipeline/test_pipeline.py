"""Which slot a DAG run ingests, from Airflow's data interval."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lakehouse.config.paths import endpoints_dir
from lakehouse.endpoints import load_endpoint
from lakehouse.pipeline.steps import slot_of_run


def t(h: int, m: int, s: int = 0) -> datetime:
    return datetime(2026, 11, 27, h, m, s, tzinfo=UTC)


@pytest.fixture()
def config():
    return load_endpoint(endpoints_dir() / "sandbox_trades.yaml")  # every 15 minutes


def test_a_scheduled_run_ingests_the_slot_that_just_ended(config) -> None:
    # Airflow 3's cron trigger timetable: the 09:45 run has a zero-width interval.
    assert slot_of_run(config, t(9, 45), t(9, 45)) == (t(9, 30), t(9, 45))


def test_a_manual_run_mid_slot_ingests_the_last_complete_slot(config) -> None:
    assert slot_of_run(config, t(10, 7, 31), t(10, 7, 31)) == (t(9, 45), t(10, 0))


def test_an_interval_that_is_exactly_one_slot_is_taken_as_given(config) -> None:
    assert slot_of_run(config, t(9, 0), t(9, 15)) == (t(9, 0), t(9, 15))


def test_a_misaligned_interval_maps_to_the_slot_complete_at_its_end(config) -> None:
    assert slot_of_run(config, t(9, 52), t(10, 7)) == (t(9, 45), t(10, 0))


def test_naive_times_are_refused(config) -> None:
    from lakehouse.errors import SlotError

    with pytest.raises(SlotError):
        slot_of_run(config, datetime(2026, 11, 27, 9, 45), None)


def test_the_catalog_steps_import_no_engine() -> None:
    """publish_signal and check_counts run in tasks that use no Spark: importing what
    they need loads neither pyspark nor Airflow nor the Airflow adapter."""
    import json
    import subprocess
    import sys

    code = (
        "import json, sys; import lakehouse.pipeline.steps, lakehouse.tables.signals, lakehouse.tables.catalog, "
        "lakehouse.engines.airflow_env; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    loaded = set(json.loads(out.stdout))
    assert not loaded & {"pyspark", "airflow", "lakehouse_airflow", "spark_jobs"}
