"""The worker's rate headroom/slack rule, a model validator of the ``worker`` settings
section (formerly scrapworker.rate_settings; the same cases)."""

from __future__ import annotations

import pytest

from lakehouse.config.settings import load_settings
from lakehouse.config.worker import WorkerSettings
from lakehouse.errors import SettingsError

pytestmark = pytest.mark.unit


def validate_rate_settings(headroom: float, slack: float) -> None:
    WorkerSettings(rate_headroom=headroom, rate_slack=slack)


@pytest.mark.parametrize(("headroom", "slack"), [(0.05, 0.0), (0.05, 0.010), (0.05, 0.052), (0.0, 0.0), (0.2, 0.2)])
def test_slack_within_the_headroom_margin_is_accepted(headroom: float, slack: float) -> None:
    validate_rate_settings(headroom, slack)


@pytest.mark.parametrize(
    ("headroom", "slack", "named"),
    [
        (0.05, 0.053, "RATE_SLACK"),
        (0.0, 0.001, "RATE_SLACK"),
        (0.05, -0.001, "RATE_SLACK"),
        (1.0, 0.0, "RATE_HEADROOM"),
        (-0.1, 0.0, "RATE_HEADROOM"),
    ],
)
def test_settings_that_break_the_window_are_refused_by_name(headroom: float, slack: float, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        validate_rate_settings(headroom, slack)


def test_the_rule_holds_for_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_WORKER__RATE_SLACK", "0.2")
    with pytest.raises(SettingsError, match=r"rate_slack.*52\.6 ms at headroom 0\.05\), got 200\.0 ms"):
        load_settings("local")
    monkeypatch.setenv("LAKEHOUSE_WORKER__RATE_HEADROOM", "0.2")
    assert load_settings("local").worker.rate_slack == 0.2


def test_defaults_are_written_once() -> None:
    worker = load_settings("local").worker
    assert (worker.rate_headroom, worker.rate_slack, worker.concurrency) == (0.05, 0.010, 4)
