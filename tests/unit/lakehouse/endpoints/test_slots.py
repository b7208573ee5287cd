from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from lakehouse.endpoints.slots import cron_problem, previous_slots, slot_window
from lakehouse.errors import SlotError

pytestmark = pytest.mark.unit


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2024, 5, 1, hour, minute, second, tzinfo=UTC)


def test_logical_date_on_a_tick_starts_its_own_slot() -> None:
    assert slot_window("*/15 * * * *", at(10, 15)) == (at(10, 15), at(10, 30))


def test_manual_run_between_ticks_maps_to_the_slot_it_falls_in() -> None:
    assert slot_window("*/15 * * * *", at(10, 22, 7)) == (at(10, 15), at(10, 30))


def test_scheduled_and_manual_runs_of_a_slot_agree() -> None:
    scheduled = slot_window("0 * * * *", at(10, 0))
    manual = slot_window("0 * * * *", at(10, 59, 59))
    assert scheduled == manual == (at(10, 0), at(11, 0))


def test_non_utc_input_is_converted_to_utc() -> None:
    cest = timezone(timedelta(hours=2))
    start, end = slot_window("*/15 * * * *", datetime(2024, 5, 1, 12, 20, tzinfo=cest))
    assert (start, end) == (at(10, 15), at(10, 30))
    assert start.tzinfo == UTC


def test_daily_preset() -> None:
    assert slot_window("@daily", at(10, 0)) == (
        datetime(2024, 5, 1, tzinfo=UTC),
        datetime(2024, 5, 2, tzinfo=UTC),
    )


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(SlotError, match="no timezone"):
        slot_window("*/15 * * * *", datetime(2024, 5, 1, 10, 0))


def test_previous_slots_are_complete_and_oldest_first() -> None:
    slots = previous_slots("*/15 * * * *", at(10, 22), 3)
    assert slots == [
        (at(9, 30), at(9, 45)),
        (at(9, 45), at(10, 0)),
        (at(10, 0), at(10, 15)),
    ]


def test_previous_slots_at_a_tick_include_the_slot_that_just_ended() -> None:
    assert previous_slots("*/15 * * * *", at(10, 15), 1) == [(at(10, 0), at(10, 15))]
    assert previous_slots("*/15 * * * *", at(10, 15), 0) == []


@pytest.mark.parametrize("schedule", ["*/15 * * * * *", "61 * * * *", "@often", "nonsense"])
def test_bad_schedules_are_explained(schedule: str) -> None:
    assert cron_problem(schedule)
    with pytest.raises(SlotError):
        slot_window(schedule, at(10, 0))


# -- the one UTC helper and the one slot parser ---------------------------------------


def test_to_utc_converts_and_refuses_naive_times_with_one_error() -> None:
    from lakehouse.endpoints.slots import NaiveTimeError, to_utc

    assert to_utc(datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))) == datetime(
        2024, 5, 1, 10, 0, tzinfo=UTC
    )
    with pytest.raises(NaiveTimeError, match="slot start 2024-05-01T10:00:00 has no timezone") as caught:
        to_utc(datetime(2024, 5, 1, 10, 0), "slot start")
    assert isinstance(caught.value, SlotError) and isinstance(caught.value, ValueError)


def test_parse_slot_reads_a_naive_time_as_utc_unless_told_to_refuse() -> None:
    from lakehouse.endpoints.slots import parse_slot

    assert parse_slot("2025-03-01T12:15") == datetime(2025, 3, 1, 12, 15, tzinfo=UTC)
    assert parse_slot("2025-03-01T12:15:00Z") == datetime(2025, 3, 1, 12, 15, tzinfo=UTC)
    assert parse_slot("2025-03-01T13:15:00+01:00") == datetime(2025, 3, 1, 12, 15, tzinfo=UTC)
    with pytest.raises(SlotError, match="no time zone"):
        parse_slot("2025-03-01T12:15", naive="refuse")
    with pytest.raises(SlotError, match="--slot 'noon' is not an ISO time"):
        parse_slot("noon")
