"""Slot templates in request parameters: ``"{slot_start_ms}"`` and friends.

The syntax is deliberately tiny: ``{name}`` where name is one of ``PLACEHOLDERS``.
No expressions, attribute access or format specs (unlike ``str.format``, which would
let a config reach into Python objects), so rendering cannot do anything but
substitute a known string. ``{identifier}`` with an unknown name is a config error;
braces around anything that is not an identifier (a JSON literal) stay as written.
"""

from __future__ import annotations

import re
from datetime import datetime

from lakehouse.endpoints.slots import to_utc

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

PLACEHOLDERS: dict[str, str] = {
    "slot_start_iso": "slot start, ISO 8601 UTC: 2024-05-01T10:15:00Z",
    "slot_end_iso": "slot end (exclusive), ISO 8601 UTC: 2024-05-01T10:30:00Z",
    "slot_start_ms": "slot start, epoch milliseconds: 1714558500000",
    "slot_end_ms": "slot end (exclusive), epoch milliseconds: 1714559400000",
    "slot_start_s": "slot start, epoch seconds: 1714558500",
    "slot_end_s": "slot end (exclusive), epoch seconds: 1714559400",
    "slot_start_date": "UTC date of the slot start: 2024-05-01",
    "slot_end_date": "UTC date of the slot end: 2024-05-01",
}


def unknown_placeholders(text: str) -> list[str]:
    return [name for name in PLACEHOLDER.findall(text) if name not in PLACEHOLDERS]


def has_placeholder(text: str) -> bool:
    return PLACEHOLDER.search(text) is not None


def _iso(moment: datetime) -> str:
    stamp = moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return stamp.replace("+00:00", "Z")


def slot_values(slot_start: datetime, slot_end: datetime) -> dict[str, str]:
    start = to_utc(slot_start, "slot_start")
    end = to_utc(slot_end, "slot_end")
    return {
        "slot_start_iso": _iso(start),
        "slot_end_iso": _iso(end),
        "slot_start_ms": str(round(start.timestamp() * 1000)),
        "slot_end_ms": str(round(end.timestamp() * 1000)),
        "slot_start_s": str(int(start.timestamp())),
        "slot_end_s": str(int(end.timestamp())),
        "slot_start_date": start.date().isoformat(),
        "slot_end_date": end.date().isoformat(),
    }


def render(text: str, values: dict[str, str]) -> str:
    """Substitute placeholders; the config was validated, so every name is known."""
    return PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), text)
