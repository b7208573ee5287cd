"""`python -m scrapworker` flags are overrides of the typed settings."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from typer.main import get_command

from lakehouse.config.settings import Settings, load_settings
from scrapworker.__main__ import FLAG_SETTINGS, app, overrides

pytestmark = pytest.mark.unit


def test_the_worker_refuses_them_before_starting() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "scrapworker", "--rate-slack", "0.2"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 2
    assert "--rate-slack" in out.stderr and "52.6 ms" in out.stderr


def _flags(argv: list[str]) -> dict[str, Any]:
    """The flags of a command line, parsed as `python -m scrapworker` parses them."""
    return dict(get_command(app).make_context("scrapworker", argv).params)


def test_flags_override_the_setting_of_the_same_name() -> None:
    flags = _flags(
        ["--rate-headroom", "0.1", "--lease-seconds", "3", "--once", "--queue-prefix", "wx", "--concurrency", "2"]
    )
    settings = load_settings("local", **overrides(flags))
    assert settings.worker.rate_headroom == 0.1
    assert settings.worker.concurrency == 2
    assert settings.worker.max_jobs == 1
    assert settings.queue.lease_seconds == 3
    assert settings.queue.prefix == "wx"
    # Flags not given leave the settings' values alone.
    assert settings.worker.rate_slack == Settings().worker.rate_slack
    assert overrides(_flags([])) == {}


def test_every_flag_names_an_existing_setting() -> None:
    settings = Settings()
    for section, field in FLAG_SETTINGS.values():
        assert field in type(getattr(settings, section)).model_fields, (section, field)


def test_scrapy_settings_are_made_from_the_typed_settings() -> None:
    from scrapy.settings import Settings as ScrapySettings

    from scrapworker.settings import LAKEHOUSE_SETTINGS, lakehouse_settings, scrapy_settings

    typed = load_settings("local", worker={"log_level": "debug", "rate_headroom": 0.1})
    generated = scrapy_settings(typed)
    assert generated["LOG_LEVEL"] == "DEBUG"
    assert not [name for name in generated if name.startswith("SCRAPWORKER_")]
    copied = ScrapySettings(generated).copy()  # what a Crawler does with them
    assert lakehouse_settings(copied).worker.rate_headroom == 0.1
    assert generated[LAKEHOUSE_SETTINGS] is typed
