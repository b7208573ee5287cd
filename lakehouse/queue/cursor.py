"""Cursor values of an incremental endpoint as a job carries them: how two values
compare, the query parameters of a job's range, and the mark the worker tracks while
it lands pages (the producer's plan of the range is lakehouse.pipeline.incremental).

Values compare as numbers when both parse as numbers, else as text (ISO 8601 UTC
times of one width sort as text).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from lakehouse.endpoints.jsonpath import extract
from lakehouse.errors import LakehouseError
from lakehouse.raw import layout as raw_layout

if TYPE_CHECKING:
    from lakehouse.endpoints import EndpointConfig, Incremental
    from lakehouse.queue.jobs import JobCursor


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def later(a: str, b: str) -> bool:
    """True when cursor value ``a`` is after ``b``."""
    x, y = _number(a), _number(b)
    if x is not None and y is not None:
        return x > y
    return a > b


def as_text(value: Any) -> str | None:
    """A record's cursor value as the text a query parameter carries (None: no value)."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class MarkTracker:
    """The largest cursor value of the records landed so far (the worker's side)."""

    def __init__(self, config: Incremental, start: str, until: str | None) -> None:
        self.config = config
        self.start = start
        self.until = until
        self.highest: str | None = None

    def see(self, records: Iterable[Any]) -> None:
        for record in records:
            value = as_text(extract(record, self.config.cursor_path))
            if value is not None and (self.highest is None or later(value, self.highest)):
                self.highest = value

    def range(self) -> raw_layout.CursorRange:
        # An asked upper bound is what the landing covers; otherwise the newest value
        # landed, or the start again when nothing changed since.
        if self.until is not None:
            end = self.until
        elif self.highest is not None and later(self.highest, self.start):
            end = self.highest
        else:
            end = self.start
        return raw_layout.CursorRange(param=self.config.param, start=self.start, end=end)


def asked(config: EndpointConfig, cursor: JobCursor | None) -> MarkTracker:
    """The tracker of a job whose cursor the producer planned (``plan_range``)."""
    inc = config.incremental
    assert inc is not None
    if cursor is None:
        raise LakehouseError(
            f"the job for incremental endpoint {config.name!r} carries no cursor range; "
            "it was built without one: enqueue it with `lakehouse crawl` or the DAG"
        )
    return MarkTracker(inc, cursor.start, cursor.until if inc.until_param else None)


def request_params(config: EndpointConfig, cursor: JobCursor) -> dict[str, str]:
    """The query parameters that carry a job's cursor range (names from the config)."""
    inc = config.incremental
    assert inc is not None
    params = {inc.param: cursor.start}
    if inc.until_param and cursor.until is not None:
        params[inc.until_param] = cursor.until
    return params
