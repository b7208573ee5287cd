"""The OpenLineage part of Airflow's environment, from settings.lineage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakehouse.config.settings import load_settings
from lakehouse.engines.airflow_env import airflow_env, openlineage_env
from lakehouse.errors import SettingsError

pytestmark = pytest.mark.unit


def test_by_default_events_go_to_a_file_in_airflows_home(tmp_path: Path) -> None:
    env = airflow_env(load_settings(), tmp_path)
    transport = json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"])
    assert transport == {
        "type": "file",
        "log_file_path": str(tmp_path / "openlineage" / "events.jsonl"),
        "append": True,
    }
    assert (tmp_path / "openlineage").is_dir(), "the file transport does not create its directory"
    assert env["AIRFLOW__OPENLINEAGE__NAMESPACE"] == "lakehouse"
    assert env["AIRFLOW__OPENLINEAGE__DISABLE_SOURCE_CODE"] == "True"


def test_an_http_collector(tmp_path: Path) -> None:
    settings = load_settings(lineage={"transport": "http", "url": "http://marquez:5000", "namespace": "prod"})
    env = openlineage_env(settings, tmp_path)
    assert json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"]) == {"type": "http", "url": "http://marquez:5000"}
    assert env["AIRFLOW__OPENLINEAGE__NAMESPACE"] == "prod"


def test_http_without_a_url_is_refused_naming_the_setting() -> None:
    with pytest.raises(SettingsError, match="lineage"):
        load_settings(lineage={"transport": "http"})


def test_console_and_none(tmp_path: Path) -> None:
    console = openlineage_env(load_settings(lineage={"transport": "console"}), tmp_path)
    assert json.loads(console["AIRFLOW__OPENLINEAGE__TRANSPORT"]) == {"type": "console"}
    assert openlineage_env(load_settings(lineage={"transport": "none"}), tmp_path) == {
        "AIRFLOW__OPENLINEAGE__DISABLED": "True"
    }
