from __future__ import annotations

import subprocess
import sys

import pytest

from scrapworker.rate_settings import validate_rate_settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("headroom", "slack"), [(0.05, 0.0), (0.05, 0.010), (0.05, 0.052), (0.0, 0.0), (0.2, 0.2)])
def test_slack_within_the_headroom_margin_is_accepted(headroom: float, slack: float) -> None:
    validate_rate_settings(headroom, slack)


@pytest.mark.parametrize(
    ("headroom", "slack", "named"),
    [(0.05, 0.053, "RATE_SLACK"), (0.0, 0.001, "RATE_SLACK"), (0.05, -0.001, "RATE_SLACK"),
     (1.0, 0.0, "RATE_HEADROOM"), (-0.1, 0.0, "RATE_HEADROOM")],
)
def test_settings_that_break_the_window_are_refused_by_name(headroom: float, slack: float, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        validate_rate_settings(headroom, slack)


def test_the_worker_refuses_them_before_starting() -> None:
    out = subprocess.run([sys.executable, "-m", "scrapworker", "--rate-slack", "0.2"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "--rate-slack" in out.stderr and "52.6 ms" in out.stderr
