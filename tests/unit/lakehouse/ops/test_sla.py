"""The SLA rule (lakehouse.ops.sla) on freshness statuses: which slots are overdue, and
the message the lakehouse_sla DAG fails with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lakehouse.ops.operations import EndpointStatus
from lakehouse.ops.sla import SlaBreachedError, check_status, format_duration, raise_for_breaches

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 19, 3, 45, tzinfo=UTC)


def status(missing: list[datetime], schedule: str = "0 * * * *", name: str = "trades") -> EndpointStatus:
    return EndpointStatus(
        endpoint=name,
        schedule=schedule,
        now=NOW,
        latest=[],
        newest_slot_start=None,
        newest_slot_end=None,
        lag_seconds=None,
        slots_behind=len(missing),
        late_after=None,
        late=bool(missing),
        window_start=NOW - timedelta(hours=3),
        window_slots=3,
        missing=missing,
    )


def hour(h: int) -> datetime:
    return datetime(2026, 11, 19, h, tzinfo=UTC)


def test_a_missing_slot_is_overdue_only_once_its_end_plus_the_sla_is_past() -> None:
    # 02:00-03:00 ended 45 min before NOW: overdue with a 30m SLA, not with a 1h one.
    assert check_status(status([hour(2)]), timedelta(minutes=30)).overdue == [hour(2)]
    assert check_status(status([hour(2)]), timedelta(hours=1)).overdue == []


def test_the_worst_lag_is_the_oldest_overdue_slots() -> None:
    check = check_status(status([hour(2), hour(0), hour(1)]), timedelta(minutes=30))
    assert check.overdue == [hour(0), hour(1), hour(2)]
    assert check.worst_lag == timedelta(hours=2, minutes=45)
    assert check.late


def test_the_failure_names_each_late_endpoint_and_its_slots() -> None:
    late = check_status(status([hour(1), hour(2)], name="late_one"), timedelta(minutes=30))
    fresh = check_status(status([], name="fresh_one"), timedelta(minutes=30))
    with pytest.raises(SlaBreachedError) as caught:
        raise_for_breaches([late, fresh])
    text = str(caught.value)
    assert "1 of 2 endpoint(s) with an SLA are late" in text
    assert "late_one: 2 slot(s) missing past its SLA of 30m (oldest 1h45m after its end)" in text
    assert "2026-11-19T01:00Z, 2026-11-19T02:00Z" in text
    assert "fresh_one" not in text
    assert caught.value.late == [late]


def test_no_breach_raises_nothing() -> None:
    raise_for_breaches([check_status(status([]), timedelta(minutes=5))])


def test_a_long_list_of_slots_is_cut_but_counted() -> None:
    slots = [datetime(2026, 11, 18, 0, tzinfo=UTC) + timedelta(minutes=15 * i) for i in range(40)]
    check = check_status(status(slots, schedule="*/15 * * * *"), timedelta(minutes=15))
    assert "40 slot(s) missing" in check.describe() and "and 30 more" in check.describe()


@pytest.mark.parametrize(
    ("value", "text"),
    [(timedelta(minutes=45), "45m"), (timedelta(hours=1, minutes=30), "1h30m"), (timedelta(days=2), "2d")],
)
def test_durations_print_as_they_are_written(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
