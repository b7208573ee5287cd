"""The worker.pause_at test hook: off by default, holds only at its point's n-th hit."""

from __future__ import annotations

import logging
import time

import pytest

from lakehouse.config.worker import WorkerSettings
from scrapworker.fault_points import FaultPoints


def test_off_by_default() -> None:
    points = FaultPoints.from_settings(WorkerSettings())
    assert points.point is None
    started = time.monotonic()
    for name in ("page_upload", "manifest", "ack"):
        points.reach(name, "x")
    assert time.monotonic() - started < 0.05


def test_holds_at_the_nth_hit_of_its_point_only(caplog: pytest.LogCaptureFixture) -> None:
    points = FaultPoints.from_settings(WorkerSettings(pause_at="page_upload", pause_hit=2, pause_seconds=0.2))
    with caplog.at_level(logging.WARNING):
        points.reach("manifest", "m")
        points.reach("page_upload", "page 1")
        assert not caplog.records
        started = time.monotonic()
        points.reach("page_upload", "page 2")
        assert time.monotonic() - started >= 0.2
        points.reach("page_upload", "page 3")
    assert [r.getMessage() for r in caplog.records] == [
        "fault point page_upload reached (page 2): holding 0.2 s (worker.pause_at, a test hook)"
    ]


def test_an_unknown_point_is_refused() -> None:
    with pytest.raises(ValueError, match="pause_at"):
        WorkerSettings(pause_at="upload")  # type: ignore[arg-type]
