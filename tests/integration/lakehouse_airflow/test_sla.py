"""`airflow dags test lakehouse_sla`: fails naming a late endpoint and its missing
slots, passes when every endpoint with an SLA landed in time."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml

from lakehouse.config.settings import load_settings
from lakehouse.queue.jobs import run_id_for
from lakehouse.tables.signals import Signal, publish

from .conftest import Airflow, _endpoint

DAY = date(2026, 11, 19)
# Hourly slots from midnight; at 03:45 the 02:00-03:00 slot is 45 minutes past its end.
CHECKED_AT = datetime(2026, 11, 19, 3, 45, tzinfo=UTC)
SLOTS = [datetime(2026, 11, 19, hour, tzinfo=UTC) for hour in (0, 1, 2)]


@pytest.fixture(scope="module")
def names() -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {"fresh": f"sla_fresh_{tag}", "late": f"sla_late_{tag}"}


def _configs(directory: Path, names: list[str], base_url: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        doc = _endpoint(name, base_url, table=False)
        doc.update({"schedule": "0 * * * *", "start_date": DAY.isoformat(), "sla": "30m"})
        (directory / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return directory


@pytest.fixture(scope="module")
def landed(stack, names: dict[str, str]) -> None:
    """Every slot of the fresh endpoint landed; only the first of the late one."""
    settings = load_settings()
    for slot in SLOTS:
        publish(settings, Signal(run_id_for(names["fresh"], slot), names["fresh"], "s3://warehouse/raw/f", slot))
    first = SLOTS[0]
    publish(settings, Signal(run_id_for(names["late"], first), names["late"], "s3://warehouse/raw/l", first))


def _sla_run(airflow: Airflow, endpoints: Path):
    return airflow.dags_test(
        "lakehouse_sla", CHECKED_AT, env={**airflow.env, "LAKEHOUSE_ENDPOINTS_DIR": str(endpoints)}
    )


def test_the_sla_dag_fails_naming_the_late_endpoint_and_its_missing_slots(
    airflow: Airflow, landed: None, names: dict[str, str], tmp_path: Path, sandboxes
) -> None:
    endpoints = _configs(tmp_path / "both", list(names.values()), sandboxes["good"].url)
    out = _sla_run(airflow, endpoints)
    text = out.stdout + out.stderr
    assert out.returncode != 0, text[-5000:]
    assert "1 of 2 endpoint(s) with an SLA are late" in text, text[-5000:]
    assert f"{names['late']}: 2 slot(s) missing past its SLA of 30m" in text
    assert "2026-11-19T01:00Z, 2026-11-19T02:00Z" in text
    assert f"{names['fresh']}: within its SLA of 30m" in text
    assert f"{names['fresh']}: 0 slot" not in text and f"- {names['fresh']}" not in text


def test_the_sla_dag_passes_when_every_endpoint_landed_in_time(
    airflow: Airflow, landed: None, names: dict[str, str], tmp_path: Path, sandboxes
) -> None:
    endpoints = _configs(tmp_path / "fresh", [names["fresh"]], sandboxes["good"].url)
    out = _sla_run(airflow, endpoints)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-5000:]
    assert f"{names['fresh']}: within its SLA of 30m" in text
