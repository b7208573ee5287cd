"""Slot windows: the cron interval a crawl covers, always in UTC.

A *slot* is one interval of an endpoint's schedule, ``[start, end)``. Airflow 3's
default cron timetable gives a run a zero-width data interval (start == end == the
logical date; STACK_NOTES), and a manual run has one too, so the window is derived
from the schedule here instead of trusting the interval Airflow hands over. A
scheduled run and a manual run of the same slot then crawl the same window and
land on the same keys.
"""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import croniter

from lakehouse.errors import SlotError

# croniter also accepts a sixth (seconds) field and a few presets Airflow does not;
# allow only what both understand, so a schedule that validates here also runs there.
CRON_PRESETS: frozenset[str] = frozenset(
    {"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"}
)


def cron_problem(schedule: str) -> str | None:
    """Why ``schedule`` is not a usable cron expression, or None when it is."""
    text = schedule.strip()
    if text.startswith("@"):
        if text not in CRON_PRESETS:
            return f"unknown cron preset {text!r}; use one of {', '.join(sorted(CRON_PRESETS))} or a 5-field cron expression"
        return None
    fields = text.split()
    if len(fields) != 5:
        return (
            f"cron expression {schedule!r} has {len(fields)} fields; expected 5 "
            "(minute hour day-of-month month day-of-week), e.g. '*/15 * * * *'"
        )
    if not croniter.is_valid(text):
        return f"invalid cron expression {schedule!r} (check each field's range, e.g. minute 0-59, hour 0-23)"
    return None


def to_utc(moment: datetime, what: str = "time") -> datetime:
    """``moment`` in UTC; a naive datetime is refused rather than guessed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise SlotError(
            f"{what} {moment.isoformat()} has no timezone; pass an aware datetime "
            "(e.g. datetime(..., tzinfo=UTC)) so the slot is not silently shifted"
        )
    return moment.astimezone(UTC)


def _checked(schedule: str) -> str:
    problem = cron_problem(schedule)
    if problem:
        raise SlotError(problem)
    return schedule.strip()


def slot_window(schedule: str, logical: datetime) -> tuple[datetime, datetime]:
    """The slot ``[start, end)`` that contains ``logical``.

    A ``logical`` on a schedule tick starts its own slot (a scheduled run); one between
    ticks (a manual run at an arbitrary time) maps to the slot it falls in.
    """
    cron = _checked(schedule)
    moment = to_utc(logical, "logical date")
    previous: datetime = croniter(cron, moment).get_prev(datetime)
    following: datetime = croniter(cron, previous).get_next(datetime)
    # get_prev is strictly before `moment`, so a moment exactly on a tick comes back
    # as the tick before it; the tick after that is then the moment itself.
    start = following if following <= moment else previous
    end: datetime = croniter(cron, start).get_next(datetime)
    return start.astimezone(UTC), end.astimezone(UTC)


def previous_slots(schedule: str, now: datetime, n: int) -> list[tuple[datetime, datetime]]:
    """The ``n`` most recent *complete* slots (``end <= now``), oldest first."""
    if n < 0:
        raise SlotError(f"cannot list {n} slots; ask for 0 or more")
    cron = _checked(schedule)
    moment = to_utc(now, "now")
    # The slot `now` falls in is still running, so the newest complete one ends
    # where that one starts.
    end, _ = slot_window(cron, moment)
    slots: list[tuple[datetime, datetime]] = []
    it = croniter(cron, end)
    while len(slots) < n:
        begin: datetime = it.get_prev(datetime)
        slots.append((begin.astimezone(UTC), end))
        end = begin
    slots.reverse()
    return slots
