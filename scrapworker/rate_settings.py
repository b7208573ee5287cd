"""Checks for the worker's rate settings, free of Twisted imports.

`python -m scrapworker` validates its flags before Scrapy installs the asyncio
reactor; importing the middleware there would install the default reactor first.
"""

from __future__ import annotations


def validate_rate_settings(headroom: float, slack: float) -> None:
    """Raise ValueError naming the setting when headroom and slack cannot hold the window."""
    if not 0 <= headroom < 1:
        raise ValueError(f"SCRAPWORKER_RATE_HEADROOM (--rate-headroom) must be in [0, 1), got {headroom}")
    margin = headroom / (1 - headroom)
    if not (slack == 0 or 0 < slack < margin):
        raise ValueError(
            f"SCRAPWORKER_RATE_SLACK (--rate-slack) must be 0 or below the headroom's window margin "
            f"({margin * 1000:.1f} ms at headroom {headroom}), got {slack * 1000:.1f} ms"
        )
