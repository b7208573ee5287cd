"""Lateness, lag and missing slots from signal rows (the catalog read replaced by rows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lakehouse.cli import _ops_format as fmt
from lakehouse.config.settings import load_settings
from lakehouse.endpoints import EndpointConfig
from lakehouse.ops import operations

NOW = datetime(2026, 11, 30, 2, 5, tzinfo=UTC)


def _config(name: str, schedule: str = "*/15 * * * *", start: str = "2026-11-30") -> EndpointConfig:
    return EndpointConfig.model_validate(
        {
            "name": name,
            "request": {"url": "http://127.0.0.1:18080/v1/offset"},
            "rate_limit": {"requests_per_second": 5},
            "schedule": schedule,
            "start_date": start,
        }
    )


def _row(endpoint: str, slot: datetime) -> dict[str, object]:
    return {
        "endpoint": endpoint,
        "run_id": f"{endpoint}__{slot:%Y%m%dT%H%M}Z",
        "ds": f"{slot:%Y-%m-%d}",
        "hr": slot.hour,
        "min": slot.minute,
        "published_at": slot + timedelta(minutes=16),
        "records": 3,
    }


@pytest.fixture()
def rows(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    monkeypatch.setattr(operations, "_signal_rows", lambda settings, endpoints, catalog: found)
    return found


def _status(config: EndpointConfig, now: datetime = NOW, **kw: object) -> operations.EndpointStatus:
    [status] = operations.endpoint_statuses(load_settings(), [config], now=now, **kw)  # type: ignore[arg-type]
    return status


def test_fresh_endpoint_with_a_gap(rows: list) -> None:
    midnight = datetime(2026, 11, 30, tzinfo=UTC)
    rows.extend(_row("a", midnight + timedelta(minutes=15 * i)) for i in range(8) if i != 4)
    s = _status(_config("a"))
    assert not s.late and s.lag_seconds == 300 and s.slots_behind == 0
    assert s.window_slots == 8 and s.window_start == midnight  # clipped to start_date
    assert s.missing == [midnight + timedelta(hours=1)]
    assert s.late_after == datetime(2026, 11, 30, 2, 25, tzinfo=UTC)  # next slot's end + 10 min grace
    assert [x.slot_start.minute for x in s.latest] == [45, 30, 15]


def test_late_after_one_interval_plus_grace_and_never_landed(rows: list) -> None:
    rows.append(_row("a", datetime(2026, 11, 30, 1, 45, tzinfo=UTC)))
    assert not _status(_config("a"), NOW.replace(minute=25)).late
    assert _status(_config("a"), NOW.replace(minute=25, second=1)).late
    never = _status(_config("b"))
    assert never.late and never.newest_slot_start is None and len(never.missing) == 8


def test_hourly_schedule_and_future_rows_ignored(rows: list) -> None:
    rows.append(_row("h", datetime(2026, 11, 30, 0, 0, tzinfo=UTC)))
    rows.append(_row("h", datetime(2026, 11, 30, 3, 0, tzinfo=UTC)))  # after now: not counted
    s = _status(_config("h", "0 * * * *"))
    assert s.newest_slot_start == datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    assert s.slots_behind == 1 and s.missing == [datetime(2026, 11, 30, 1, 0, tzinfo=UTC)]
    assert not s.late  # the 01:00 slot is due at 02:00, late after 02:10


def test_unknown_endpoint_is_named() -> None:
    with pytest.raises(operations.UnknownEndpointError, match="no endpoint named 'x'.*a"):
        operations.select_endpoints([_config("a")], "x")


def test_compact_cells() -> None:
    assert [fmt.duration(s) for s in (None, 59, 300, 3900, 90000)] == ["-", "0m", "5m", "1h05m", "1d01h"]
    assert [fmt.size(n) for n in (None, 12, 2048, 5 * 1024**3)] == ["-", "12 B", "2.0 KB", "5.0 GB"]
    assert fmt.count(1234567) == "1,234,567"
