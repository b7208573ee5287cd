"""Formatting shared by the operator commands (`tables`, `signals`, `freshness`):
compact cells and rich tables that stay readable at 80 columns."""

from __future__ import annotations

from datetime import datetime

from rich import box
from rich.console import Console
from rich.table import Table


def console() -> Console:
    # Width comes from the terminal, or $COLUMNS when there is none (pipes, CI).
    return Console(highlight=False)


def table(title: str | None = None) -> Table:
    # SIMPLE: one rule under the header and no side borders, so cells get the width.
    return Table(title=title, box=box.SIMPLE, pad_edge=False, title_justify="left", expand=False)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def slot(value: datetime | None) -> str:
    return value.strftime("%m-%d %H:%M") if value else "-"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    minutes = int(abs(seconds) // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{sign}{days}d{hours:02d}h"
    if hours:
        return f"{sign}{hours}h{mins:02d}m"
    return f"{sign}{mins}m"


def size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def count(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"
