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
from typing import Literal

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
            presets = ", ".join(sorted(CRON_PRESETS))
            return f"unknown cron preset {text!r}; use one of {presets} or a 5-field cron expression"
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


class NaiveTimeError(SlotError, ValueError):
    """A datetime without a time zone where a slot time is needed. A ``ValueError`` too,
    so pydantic validators and callers that catch ValueError see it as bad input."""


def to_utc(moment: datetime, what: str = "time") -> datetime:
    """``moment`` in UTC; a naive datetime is refused rather than guessed.

    The one UTC helper of the core: slots, run ids, raw keys and partitions all go
    through it, so a naive time fails the same way (and with the same message)
    wherever it enters.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise NaiveTimeError(
            f"{what} {moment.isoformat()} has no timezone: a naive datetime names no time zone, so the "
            "slot could shift into another partition; pass an aware datetime (e.g. datetime(..., tzinfo=UTC), "
            "or Airflow's data_interval_start)"
        )
    return moment.astimezone(UTC)


def parse_slot(text: str, *, option: str = "--slot", naive: Literal["utc", "refuse"] = "utc") -> datetime:
    """A slot time typed on a command line (``2025-03-01T12:15``, ``...:00Z``, ``...+01:00``), in UTC.

    The one slot parser of both CLIs. A time without a zone means UTC (``naive="utc"``,
    the default: every partition and run id is in UTC, so that is the only reading that
    makes sense, and each CLI's --help says so); ``naive="refuse"`` refuses it instead.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        example = "2025-03-01T12:15:00Z" + (" or 2025-03-01T12:15 (UTC)" if naive == "utc" else "")
        raise SlotError(f"{option} {text!r} is not an ISO time; use e.g. {example}") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        if naive == "refuse":
            raise NaiveTimeError(f"{option} {text!r} has no time zone: add Z (UTC) or an offset like +00:00")
        return moment.replace(tzinfo=UTC)
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
